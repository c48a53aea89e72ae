"""POST /api/send: `send_at` in the query string beside, or instead of, the body's."""

import json
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from messaging.models import Message

from .test_send_api import accepted, refused

SHANGHAI = ZoneInfo("Asia/Shanghai")
LATER = {"msgtype": "text", "text": {"content": "later"}}


def _send_with_query(client, query: str, body: dict = LATER):
    return client.post(f"/api/send?{query}", data=json.dumps(body), content_type="application/json")


def test_an_empty_send_at_in_the_query_leaves_the_body_s_send_at_to_schedule(client, bot, group):
    # A URL template whose send_at= is left blank, with the time in the body: the
    # message waits for its time rather than going out at once.
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    query = f"secret={bot.secret}&conversation_id=wrGroup1&send_at="
    response = _send_with_query(client, query, {**LATER, "send_at": when.isoformat()})
    message = accepted(response)
    assert message.status == Message.Status.SCHEDULED
    assert message.scheduled_at == when
    assert response.json()["send_at"] == when.isoformat()


def test_two_different_send_ats_in_the_query_are_refused_and_nothing_is_stored(client, bot, group):
    # A tool appending its own send_at to a URL that has one: botadmin does not pick.
    first = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    second = first + timedelta(days=1)
    query = (
        f"secret={bot.secret}&conversation_id=wrGroup1"
        f"&send_at={int(first.timestamp())}&send_at={int(second.timestamp())}"
    )
    errmsg = refused(_send_with_query(client, query), 40035, 400)
    assert errmsg == "invalid parameter: send_at is given twice with different values"


def test_the_same_send_at_twice_in_the_query_is_one(client, bot, group):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    seconds = int(when.timestamp())
    query = f"secret={bot.secret}&conversation_id=wrGroup1&send_at={seconds}&send_at={seconds}"
    message = accepted(_send_with_query(client, query))
    assert message.scheduled_at == when


def test_a_query_and_a_body_send_at_naming_different_times_are_refused_naming_both(
    send, bot, group
):
    # A URL that schedules for one day and a body written for another: which one the
    # caller meant is theirs to say, not botadmin's to guess.
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    in_query = when.isoformat()
    in_body = (when + timedelta(days=1)).isoformat()

    answer = send(
        bot.secret, "wrGroup1", {**LATER, "send_at": in_body}, query={"send_at": in_query}
    )

    errmsg = refused(answer, 40035, 400)
    assert errmsg == (
        f"invalid parameter: send_at differs between the query string ({in_query}) "
        f"and the body ({in_body}): give one, or the same time in both"
    )


def test_a_query_send_at_of_unix_seconds_and_a_body_s_other_time_are_refused(send, bot, group):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    seconds = int(when.timestamp())

    answer = send(
        bot.secret, "wrGroup1", {**LATER, "send_at": seconds + 60}, query={"send_at": seconds}
    )

    assert f"({seconds}) and the body ({seconds + 60})" in refused(answer, 40035, 400)


@pytest.mark.parametrize(
    "written",
    [
        lambda when: when.astimezone(SHANGHAI).isoformat(),
        lambda when: when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda when: int(when.timestamp()),
    ],
    ids=["+08:00", "Z", "unix seconds"],
)
def test_a_query_and_a_body_send_at_naming_the_same_instant_schedule_it(send, bot, group, written):
    # The same time written in two zones (or once as Unix seconds) is one time.
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    in_query = when.astimezone(UTC).isoformat()

    answer = send(
        bot.secret, "wrGroup1", {**LATER, "send_at": written(when)}, query={"send_at": in_query}
    )

    message = accepted(answer)
    assert message.status == Message.Status.SCHEDULED
    assert message.scheduled_at == when


def test_an_unreadable_body_send_at_is_refused_even_beside_a_query_one(send, bot, group):
    # It used to be ignored: the query's won without the body's being read.
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)

    answer = send(
        bot.secret,
        "wrGroup1",
        {**LATER, "send_at": "next tuesday"},
        query={"send_at": when.isoformat()},
    )

    assert refused(answer, 40035, 400) == (
        "invalid parameter: send_at must be ISO 8601 or Unix seconds"
    )
