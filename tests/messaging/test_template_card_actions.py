"""A notice card's card_action says what a click on it opens, as WeCom requires.

WeCom's group robot documentation: `card_action.type` is 1 (open `url`) or 2 (open the
mini program of `appid`, `pagepath` optional) in a text_notice card, "取值范围为[1,2]";
its robot answers 42045 "Template_Card card_action Missing or Invalid" to a news_notice
with type 0. botadmin refuses these with 40058 when the message is sent, rather than
storing a card that fails at delivery."""

import json

import pytest

from botadmin.errors import ApiError
from conversations.models import Bot
from messaging.models import Message
from messaging.validation import validate_outbound

from .test_send_api import accepted, refused


def _card(card_type: str, card_action) -> dict:
    card = {"card_type": card_type, "main_title": {"title": "发布成功"}}
    if card_type == "news_notice":
        card["card_image"] = {"url": "https://ci.example/shot.png"}
    return {"msgtype": "template_card", "template_card": {**card, "card_action": card_action}}


NOTICE_CARDS = ["text_notice", "news_notice"]


@pytest.mark.parametrize("card_type", NOTICE_CARDS)
@pytest.mark.parametrize(
    "card_action",
    [
        {"type": 1, "url": "https://ci.example/builds/42"},
        {"type": 1, "url": "www.qq.com"},
        {"type": 2, "appid": "wx0123456789abcdef", "pagepath": "pages/build?id=42"},
        {"type": 2, "appid": "wx0123456789abcdef"},
    ],
    ids=["url", "bare host", "mini program", "mini program without page"],
)
def test_a_notice_card_opening_a_page_or_a_mini_program_is_stored_as_given(
    send, robot_bot, robot_group, card_type, card_action
):
    message = accepted(send(robot_bot.secret, "robotGroup1", _card(card_type, card_action)))

    assert message.body["template_card"]["card_action"] == card_action


@pytest.mark.parametrize("card_type", NOTICE_CARDS)
@pytest.mark.parametrize(
    ("card_action", "errmsg"),
    [
        (
            {},
            "invalid field: template_card.card_action.type is required by a {card_type} card: "
            "1 (open its url) or 2 (open the mini program of its appid)",
        ),
        (
            {"url": "https://ci.example/builds/42"},
            "invalid field: template_card.card_action.type is required by a {card_type} card: "
            "1 (open its url) or 2 (open the mini program of its appid)",
        ),
        (
            {"type": 0, "url": "https://ci.example/builds/42"},
            "invalid field: template_card.card_action.type must be 1 (open its url) or 2 "
            "(open the mini program of its appid) in a {card_type} card, not 0",
        ),
        (
            {"type": 3, "url": "https://ci.example/builds/42"},
            "invalid field: template_card.card_action.type must be 1 (open its url) or 2 "
            "(open the mini program of its appid) in a {card_type} card, not 3",
        ),
        (
            {"type": "1", "url": "https://ci.example/builds/42"},
            "invalid field: template_card.card_action.type must be an integer, not a string",
        ),
        (
            {"type": True, "url": "https://ci.example/builds/42"},
            "invalid field: template_card.card_action.type must be an integer, not a boolean",
        ),
        (
            {"type": 1},
            "invalid field: template_card.card_action.url is required when card_action.type is 1",
        ),
        ({"type": 1, "url": "  "}, "invalid field: template_card.card_action.url is empty"),
        (
            {"type": 1, "url": None},
            "invalid field: template_card.card_action.url must be a string, not null",
        ),
        (
            {"type": 2, "pagepath": "pages/build"},
            "invalid field: template_card.card_action.appid is required when card_action.type is 2",
        ),
        ({"type": 2, "appid": ""}, "invalid field: template_card.card_action.appid is empty"),
    ],
    ids=[
        "empty",
        "no type",
        "type 0",
        "type 3",
        "type as a string",
        "type true",
        "url missing",
        "url blank",
        "url null",
        "appid missing",
        "appid empty",
    ],
)
def test_a_notice_card_whose_click_opens_nothing_is_40058_and_stores_nothing(
    send, robot_bot, robot_group, card_type, card_action, errmsg
):
    answer = send(robot_bot.secret, "robotGroup1", _card(card_type, card_action))

    assert refused(answer, 40058, 400) == errmsg.format(card_type=card_type)
    assert not Message.objects.exists()


def _validated_by_an_app(body: dict) -> dict:
    return validate_outbound(Bot(name="app", connector="wecom_app"), json.loads(json.dumps(body)))


@pytest.mark.parametrize(
    "card_action",
    [None, {}, {"type": 0}, {"type": 1, "url": "https://ci.example/polls/7"}],
    ids=["none", "empty", "type 0", "url"],
)
def test_an_interactive_card_may_have_no_card_action_or_one_opening_nothing(db, card_action):
    # WeCom: "0或不填代表不是链接"; only the notice cards must open something.
    card = {"card_type": "vote_interaction", "task_id": "poll-7"}
    if card_action is not None:
        card["card_action"] = card_action

    body = _validated_by_an_app({"msgtype": "template_card", "template_card": card})

    assert body["template_card"].get("card_action") == card_action


def test_an_interactive_card_s_link_still_needs_its_url(db):
    card = {"card_type": "vote_interaction", "task_id": "poll-7", "card_action": {"type": 1}}

    with pytest.raises(ApiError) as refused_card:
        _validated_by_an_app({"msgtype": "template_card", "template_card": card})

    assert refused_card.value.errcode == 40058
    assert refused_card.value.errmsg == (
        "invalid field: template_card.card_action.url is required when card_action.type is 1"
    )
