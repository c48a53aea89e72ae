"""A group robot's key checks against the fake WeCom robot API. "Test the connection": a
bounded sample of keys, asked about at once, within a bounded time, answered in one flat
reason. The contact sync's: a verdict per key (tests/conversations/test_sync_robot_keys.py)."""

import re
import socket
import time

import pytest
from django.urls import reverse
from django.utils import translation

from botadmin.reasons import translate
from connectors import wecom_robot_check
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
    assert "no answer from WeCom in time: read timed out" in text


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
    assert text.startswith("cannot check the robot keys: no answer within 0.5 s (20 of the 30")
    with translation.override("zh-hans"):
        assert translate(text).startswith("无法检查机器人密钥：0.5 秒内没有应答")


def test_a_probe_failing_unexpectedly_is_that_groups_verdict_not_a_crash(
    wecom_bot,  # noqa: F811
):
    add_groups(wecom_bot, 3)

    def probe(key, seconds):
        raise ValueError("odd answer")

    found = wecom_robot_check.check_keys(wecom_bot.conversations.all(), probe, ok_errcode=0)

    assert not found.ok and [check.works for check in found.checks] == [None] * 3
    with translation.override("en"):
        text = translate(found.reason)
    assert text.startswith("cannot check the robot keys: the check failed unexpectedly (ValueError")
    assert "odd answer" not in text  # the exception's own words go to the log


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
    assert why["key-ops"] == "connection lost after sending: the connection to 127.0.0.1 was cut"
    assert why["removed"].startswith("WeCom says the robot is gone (errcode 93000)")
    assert why["key-sales"] == ""
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


def key_table(page: str) -> dict[str, str]:
    """Each group's "last key check" cell on the bot page, as text, by group name."""
    table = page.split('class="robot-keys"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+?)(?:\s*<span[^>]*>[^<]*</span>)?</td>.*?</tr>", table, re.S)
    cells = re.findall(r'<td class="key-check" data-key-check="(\w+)">(.*?)</td></tr>', table, re.S)
    text = [
        (state, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()) for state, cell in cells
    ]
    return dict(zip(rows, text, strict=True))


def test_an_unreachable_wecom_is_named_once_and_each_key_shows_how_its_last_check_went(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
    make_conversation,
    make_operator,
    unknown_names,
    client,
    settings,
):
    """Given WeCom's name not resolving (no DNS), the test says why once, in words, and
    the key table says each key's check failed; once WeCom answers again, "works"."""
    make_conversation(wecom_bot, "release", name="发布群", robot_key="key-sales")
    make_conversation(wecom_bot, "alerts", name="线上告警群", robot_key="key-ops")
    client.force_login(make_operator("ops", wecom_bot))
    page_url = reverse("console:bot", args=[wecom_bot.pk])
    test_url = reverse("console:bot_test", args=[wecom_bot.pk])
    assert {state for state, _ in key_table(client.get(page_url).content.decode()).values()} == {
        "unchecked"
    }
    assert "尚未检查" in client.get(page_url).content.decode()

    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"
    page = client.post(test_url, follow=True).content.decode()

    said = page.split('id="connection-test"')[1].split("</p>")[0]
    assert "上次测试：失败" in said
    assert "无法检查机器人密钥：无法连接企业微信：无法解析 qyapi.weixin.invalid" in said
    assert said.count("无法解析") == 1 and "Errno" not in page and "稍后重试" not in said
    table = key_table(page)
    assert table["发布群"][0] == table["线上告警群"][0] == "failed"
    assert table["发布群"][1].startswith("失败 无法连接企业微信：无法解析 qyapi.weixin.invalid")
    assert "有效" not in page.split('class="robot-keys"')[1].split("</table>")[0]

    settings.WECOM_API_BASE = wecom.base_url
    page = client.post(test_url, follow=True).content.decode()

    assert "上次测试：连接正常" in page
    assert {state for state, _ in key_table(page).values()} == {"works"}
    assert key_table(page)["发布群"][1].startswith("有效")
    assert wecom.messages == []


def test_a_key_whose_robot_is_gone_shows_why_in_the_key_table(
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
    make_conversation,
    make_operator,
    client,
):
    make_conversation(wecom_bot, "release", name="发布群", robot_key="key-sales")
    make_conversation(wecom_bot, "old", name="旧群", robot_key="stale")  # unknown: 93000
    client.force_login(make_operator("ops", wecom_bot))

    page = client.post(reverse("console:bot_test", args=[wecom_bot.pk]), follow=True)

    table = key_table(page.content.decode())
    assert table["发布群"][0] == "works"
    assert table["旧群"][0] == "failed"
    assert "企业微信表示该机器人已不可用（errcode 93000）" in table["旧群"][1]
