"""Daily caps as the delivery engine counts them (messaging/delivery_caps.py); the WeCom app's
caps through the whole engine are in tests/connectors/wecom_app/test_daily_caps.py."""

from datetime import UTC, datetime

from connectors.base import DailyCap, Outcome, SendResult
from messaging import delivery_caps

CAP = DailyCap("test:cap", limit=5, what="a cap of 5", zone="Asia/Shanghai", zone_name="CST")
# 23:59 on 1 June in China.
LATE = datetime(2025, 6, 1, 15, 59, tzinfo=UTC)


def test_uses_are_counted_per_day_of_the_caps_zone_and_given_back():
    first = delivery_caps.take([CAP], 3, LATE)
    assert isinstance(first, delivery_caps.Taken)
    assert isinstance(delivery_caps.take([CAP], 3, LATE), SendResult)  # 6 > 5
    first.give_back(2)  # two parts did not go out
    assert isinstance(delivery_caps.take([CAP], 3, LATE), delivery_caps.Taken)  # 1 + 3
    assert [use.used for use in delivery_caps.used_today([CAP], LATE)] == [4]
    next_morning = datetime(2025, 6, 1, 16, 1, tzinfo=UTC)  # 00:01 on 2 June in China
    assert [use.used for use in delivery_caps.used_today([CAP], next_morning)] == [0]


def test_a_send_past_the_cap_waits_for_the_zones_midnight_and_takes_nothing():
    delivery_caps.take([CAP], 5, LATE)
    other = DailyCap("test:other", 10, "another cap", "Asia/Shanghai", "CST")

    held = delivery_caps.take([other, CAP], 1, LATE)

    assert held.outcome == Outcome.RETRY
    assert held.hold_until == datetime(2025, 6, 1, 16, 0, tzinfo=UTC)
    assert held.detail == "a cap of 5 is reached: held until 2025-06-02 00:00 CST"
    assert [use.used for use in delivery_caps.used_today([other, CAP], LATE)] == [0, 5]


def test_a_message_bigger_than_a_whole_day_fails_instead_of_waiting_for_ever():
    result = delivery_caps.take([CAP], 6, LATE)
    assert (result.outcome, result.hold_until) == (Outcome.FAILED, None)
