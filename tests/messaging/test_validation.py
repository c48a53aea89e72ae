"""validate_outbound: the one validation the API, the console and announcements share."""

import pytest

from botadmin.errors import ApiError
from connectors import registry
from connectors.base import Connector, Limits
from conversations.models import Bot
from messaging.send_times import parse_send_at
from messaging.validation import validate_outbound


class TextOnlyConnector(Connector):
    """A connector that sends only text and no mentions-only messages."""

    kind = "test_text_only"
    label = "Text-only test connector"
    native_msgtypes = frozenset({"text"})
    limits = Limits(text=2048, markdown=4096, title=128, description=512, image=1024)
    allows_mentions_only = False


@pytest.fixture(autouse=True)
def _text_only_connector(monkeypatch):
    monkeypatch.setitem(registry.CONNECTORS, TextOnlyConnector.kind, TextOnlyConnector)


def errcode(bot, body) -> int:
    with pytest.raises(ApiError) as raised:
        validate_outbound(bot, body)
    return raised.value.errcode


def test_a_mentions_only_text_is_44004_where_the_connector_cannot_send_it():
    bot = Bot(name="t", connector="test_text_only")
    body = {"msgtype": "text", "text": {"mentioned_list": ["@all"]}}
    assert errcode(bot, body) == 44004
    assert validate_outbound(Bot(connector="bridge"), body)["text"]["mentioned_list"] == ["@all"]


def test_a_msgtype_the_connector_does_not_declare_is_40008_naming_what_it_sends():
    bot = Bot(name="t", connector="test_text_only")
    with pytest.raises(ApiError) as raised:
        validate_outbound(bot, {"msgtype": "link", "link": {"title": "t", "url": "https://x"}})
    assert raised.value.errcode == 40008
    assert "Text-only test connector" in raised.value.errmsg and "text" in raised.value.errmsg


def test_the_normalised_body_is_what_validation_returns_for_every_entry_point():
    body = {"msgtype": "text", "text": {"content": "hi", "x": 1}, "send_at": 5}
    assert validate_outbound(Bot(connector="bridge"), body) == {
        "msgtype": "text",
        "text": {"content": "hi"},
    }


def test_types_are_strict_so_nothing_is_silently_converted():
    robot = Bot(connector="wecom_robot")
    assert errcode(robot, {"msgtype": "markdown", "markdown": {"content": ["a"]}}) == 40058
    assert (
        errcode(
            robot, {"msgtype": "news", "news": {"articles": [{"title": 1, "url": "https://x"}]}}
        )
        == 40058
    )


def test_lone_surrogates_cannot_reach_the_database():
    assert (
        errcode(Bot(connector="bridge"), {"msgtype": "text", "text": {"content": "\ud800"}})
        == 40058
    )


def test_byte_limits_count_utf8_bytes_not_characters():
    robot = Bot(connector="wecom_robot")
    validate_outbound(robot, {"msgtype": "text", "text": {"content": "字" * 682}})  # 2046 bytes
    assert errcode(robot, {"msgtype": "text", "text": {"content": "字" * 683}}) == 40058


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2027-01-02T03:04:05Z", "2027-01-02T03:04:05+00:00"),
        ("2027-01-02T11:04:05+08:00", "2027-01-02T11:04:05+08:00"),
        ("2027-01-02 11:04:05", "2027-01-02T11:04:05+08:00"),  # TIME_ZONE Asia/Shanghai
        (1798859045, "2027-01-02T03:04:05+00:00"),
        ("1798859045", "2027-01-02T03:04:05+00:00"),
    ],
)
def test_send_at_reads_iso_8601_and_unix_seconds(value, expected):
    assert parse_send_at(value).isoformat() == expected


@pytest.mark.parametrize("value", [True, [], {}, "-1e999", "inf"])
def test_send_at_refuses_other_values(value):
    with pytest.raises(ApiError):
        parse_send_at(value)


PNG_URL = "https://x.com/a.png"  # a news_notice's picture (card_image)


@pytest.mark.parametrize("card_type", ["text_notice", "news_notice"])
@pytest.mark.parametrize("connector", ["wecom_app", "wecom_aibot"])
def test_a_notice_card_without_card_action_is_40058_before_it_is_stored(connector, card_type):
    """shared/spec/wecom.md section 1: template_card "card_action required" (WeCom refuses a
    notice card without it, so it would only fail at delivery)."""
    bot = Bot(name="t", connector=connector)
    card = {"card_type": card_type, "main_title": {"title": "t"}, "card_image": {"url": PNG_URL}}
    with pytest.raises(ApiError) as raised:
        validate_outbound(bot, {"msgtype": "template_card", "template_card": card})
    assert raised.value.errcode == 40058 and "card_action" in raised.value.errmsg
    card["card_action"] = "https://x.com"
    assert errcode(bot, {"msgtype": "template_card", "template_card": card}) == 40058
    card["card_action"] = {"type": 1, "url": "https://x.com"}
    assert validate_outbound(bot, {"msgtype": "template_card", "template_card": card})


def test_a_robot_file_over_20_mb_is_40058_as_upload_media_would_refuse_it():
    """shared/spec/wecom.md section 1: upload_media takes a file of at most 20 MB."""
    import base64
    import hashlib

    robot = Bot(name="t", connector="wecom_robot")
    raw = b"%PDF" + b"x" * (20 * 1024 * 1024 - 3)
    body = {
        "msgtype": "file",
        "file": {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()},
    }
    with pytest.raises(ApiError) as raised:
        validate_outbound(robot, body)
    assert raised.value.errcode == 40058 and "exceed max size 20971520" in raised.value.errmsg
    raw = raw[:-1]
    body["file"] = {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}
    assert validate_outbound(robot, body)["file"]["md5"] == hashlib.md5(raw).hexdigest()
