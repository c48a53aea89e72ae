"""A group robot's key checks against the fake WeCom robot API. "Test the connection": a
bounded sample of keys, asked about at once, within a bounded time, answered in one flat
reason. The contact sync's: a verdict per key (tests/conversations/test_sync_robot_keys.py)."""

import re
import socket
import time

import pytest
from django.utils import translation

from botadmin import reasons
from botadmin.reasons import translate
from connectors import wecom_robot_check
from connectors.base import ConnectorError
from connectors.registry import connector_for
from conversations.models import Conversation
from conversations.services import check_connection


def add_groups(bot, count: int, key: str = "stale", start: int = 0) -> None:
    """`count` active groups named 群0000, 群0001, …, each with its own robot key."""
    Conversation.objects.bulk_create(
        Conversation(
            bot=bot,
            conversation_id=f"wr{n:04d}",
            kind=Conversation.Kind.GROUP,
            name=f"群{n:04d}",
            robot_key=f"{key}-{n}",
        )
        for n in range(start, start + count)
    )


def named_groups(text: str) -> list[str]:
    return re.findall(r"群\d{4}", text)


def test_five_hundred_failing_keys_are_answered_at_once_with_a_count_and_a_few_names(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
):
    add_groups(wecom_bot, 500)

    started = time.monotonic()
    ok, text = check_connection(wecom_bot, None)
    took = time.monotonic() - started

    assert not ok and took < 5
    assert len(wecom.requests) == wecom_robot_check.SAMPLE  # a sample, each key once
    assert len({key for key, _body in wecom.requests}) == wecom_robot_check.SAMPLE
    assert text.startswith("20 of 20 robot keys failed, e.g. 群")
    assert text.endswith(
        "(20 of the 500 groups, picked at random; a contact sync checks every group)"
    )
    named = named_groups(text)
    assert len(named) == 3 and named == sorted(named)
    assert all(f"{name}: 93000" in text for name in named)
    with translation.override("zh-hans"):
        shown = translate(text)
    assert shown.startswith("20 个机器人密钥中有 20 个失败，例如 群")
    assert "随机抽查了 500 个群聊中的 20 个" in shown
    assert len(shown) < 300
    assert wecom.messages == []  # asking posts nothing


def test_a_bot_with_fewer_groups_than_the_sample_has_every_key_asked_about(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
):
    add_groups(wecom_bot, 3, key="key-sales")  # keys the fake does not know: 93000
    Conversation.objects.create(
        bot=wecom_bot, conversation_id="wrSales", name="销售群", robot_key="key-sales"
    )

    ok, text = check_connection(wecom_bot, None)

    assert not ok
    assert text == "3 of 4 robot keys failed: 群0000: 93000; 群0001: 93000; 群0002: 93000"
    with translation.override("zh-hans"):
        assert translate(text) == (
            "4 个机器人密钥中有 3 个失败：群0000：93000；群0001：93000；群0002：93000"
        )


def test_a_sample_whose_keys_all_answer_says_how_many_of_how_many_were_asked_about(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
):
    wecom.keys |= {f"good-{n}" for n in range(50)}
    add_groups(wecom_bot, 50, key="good")

    ok, text = check_connection(wecom_bot, None)

    assert ok and text.startswith(
        "20 robot keys answer (20 of the 50 groups, picked at random; "
        "a contact sync checks every group)"
    )


@pytest.fixture
def hung_wecom(settings):
    """A WeCom that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        settings.WECOM_API_BASE = f"http://127.0.0.1:{listener.getsockname()[1]}"
        yield


def test_a_wecom_that_never_answers_is_given_up_on_after_the_check_seconds(
    hung_wecom,
    wecom_bot,  # noqa: F811
    settings,
):
    settings.BOTADMIN_ROBOT_KEY_CHECK_SECONDS = 0.5
    add_groups(wecom_bot, 100)

    started = time.monotonic()
    ok, text = check_connection(wecom_bot, None)
    took = time.monotonic() - started

    assert not ok and 0.5 <= took < 3
    assert text.startswith("20 of 20 robot keys failed, e.g. 群")
    assert "WeCom did not answer the key check (" in text


def test_keys_still_being_asked_about_at_the_check_seconds_are_left_behind(
    hung_resolver,
    wecom_bot,  # noqa: F811
    settings,
):
    """A request's deadline does not bound its host's lookup: the check stops waiting."""
    settings.BOTADMIN_DNS_TIMEOUT = 30
    settings.BOTADMIN_ROBOT_KEY_CHECK_SECONDS = 0.5
    settings.WECOM_API_BASE = "https://qyapi.hung.example"
    add_groups(wecom_bot, 30)

    started = time.monotonic()
    ok, text = check_connection(wecom_bot, None)
    took = time.monotonic() - started

    assert not ok and took < 3
    assert text.startswith("20 of 20 robot keys failed, e.g. 群")
    assert text.count(": no answer within 0.5 s") == 3
    with translation.override("zh-hans"):
        assert "：0.5 秒内没有应答" in translate(text)


def test_a_probe_failing_unexpectedly_is_that_groups_verdict_not_a_crash(
    wecom_bot,  # noqa: F811
):
    add_groups(wecom_bot, 3)

    def probe(key, seconds):
        raise ValueError("odd answer")

    with pytest.raises(ConnectorError) as failed:
        wecom_robot_check.check_keys(wecom_bot.conversations.all(), probe, ok_errcode=0)

    with translation.override("en"):
        text = translate(reasons.of(failed.value))
    assert text.startswith("3 of 3 robot keys failed")
    assert "ValueError: odd answer" in text


def test_the_sync_check_says_works_gone_or_not_known_for_each_key_as_answers_come(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
):
    """Only WeCom saying the robot is gone (93000) is a verdict against a key; too many
    requests (45009), busy (-1) and a cut connection are "not known this time"."""
    wecom.keys |= {"busy", "limited"}
    wecom.answer_key.update({"busy": -1, "limited": 45009})
    wecom.cut_keys.add("key-ops")
    for key in ("key-sales", "removed", "busy", "limited", "key-ops"):
        Conversation.objects.create(bot=wecom_bot, conversation_id=f"wr-{key}", robot_key=key)

    checks = list(connector_for(wecom_bot).check_contacts(list(wecom_bot.conversations.all())))

    verdicts = {check.conversation.robot_key: check.works for check in checks}
    assert verdicts == {
        "key-sales": True,
        "removed": False,
        "busy": None,
        "limited": None,
        "key-ops": None,
    }
    why = {check.conversation.robot_key: check.reason for check in checks}
    assert why["limited"] == "WeCom answered errcode 45009 to a key check"
    assert why["key-ops"].startswith("WeCom did not answer the key check")
    assert why["key-sales"] == why["removed"] == ""
    assert wecom.messages == []


@pytest.mark.parametrize(
    "keys, good, english, chinese",
    [
        (1, 1, "1 robot key answers", "1 个机器人密钥有应答"),
        (2, 2, "2 robot keys answer", "2 个机器人密钥有应答"),
        (1, 0, "1 of 1 robot key failed: 群0000: 93000", "1 个机器人密钥中有 1 个失败：群0000：93000"),
        (2, 1, "1 of 2 robot keys failed: 群0001: 93000", "2 个机器人密钥中有 1 个失败：群0001：93000"),
    ],
)  # fmt: skip
def test_the_answer_counts_keys_in_the_singular_and_the_plural(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
    keys,
    good,
    english,
    chinese,
):
    wecom.keys |= {f"good-{n}" for n in range(good)}
    add_groups(wecom_bot, good, key="good")
    add_groups(wecom_bot, keys - good, key="stale", start=good)

    ok, text = check_connection(wecom_bot, None)

    assert (ok, text) == (keys == good, english)
    with translation.override("zh-hans"):
        assert translate(text) == chinese
