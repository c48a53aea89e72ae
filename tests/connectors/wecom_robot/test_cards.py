"""Template cards the robot refuses, answered as WeCom answers them, and what delivery does.

WeCom's group robot answers 42045 "Template_Card card_action Missing or Invalid" to a
notice card whose card_action opens nothing. botadmin refuses such a card when it is sent
(messaging.template_cards), so only a card stored before that refusal reaches the robot:
it fails at once with WeCom's words, never tried again."""

import pytest
import requests

from messaging.models import Message
from tests.fakes.wecom import CARD_ACTION_ERRCODE

TEXT_NOTICE = {
    "card_type": "text_notice",
    "main_title": {"title": "构建失败", "desc": "main #42"},
    "card_action": {"type": 1, "url": "https://ci.example/42"},
}
OPENING_NOTHING = {
    "no card_action": None,
    "type 0": {"type": 0, "url": "https://ci.example/42"},
    "no type": {"url": "https://ci.example/42"},
    "type 1 without url": {"type": 1},
    "type 2 without appid": {"type": 2, "pagepath": "pages/build"},
}


def _card(card_action) -> dict:
    card = {k: v for k, v in TEXT_NOTICE.items() if k != "card_action"}
    if card_action is not None:
        card["card_action"] = card_action
    return {"msgtype": "template_card", "template_card": card}


def _post(wecom, body: dict) -> dict:
    answer = requests.post(
        wecom.base_url + "/cgi-bin/webhook/send", params={"key": "key-sales"}, json=body, timeout=5
    )
    assert answer.status_code == 200  # WeCom answers HTTP 200 whatever the errcode
    return answer.json()


@pytest.mark.parametrize("card_action", OPENING_NOTHING.values(), ids=OPENING_NOTHING.keys())
def test_the_fake_robot_answers_42045_to_a_card_whose_click_opens_nothing(wecom, card_action):
    answer = _post(wecom, _card(card_action))

    assert answer["errcode"] == CARD_ACTION_ERRCODE == 42045
    assert answer["errmsg"].startswith("Template_Card card_action Missing or Invalid, hint: [")
    assert wecom.messages == []


@pytest.mark.parametrize(
    "card",
    [
        {**TEXT_NOTICE, "main_title": {"desc": "main #42"}},
        {**TEXT_NOTICE, "card_type": "news_notice"},
    ],
    ids=["text_notice without words", "news_notice without a picture"],
)
def test_the_fake_robot_refuses_a_notice_card_showing_nothing(wecom, card):
    answer = _post(wecom, {"msgtype": "template_card", "template_card": card})

    assert answer["errcode"] == 40035, answer
    assert wecom.messages == []


@pytest.mark.parametrize(
    "card_action", [{"type": 0}, {"type": 1}], ids=["type 0", "type 1 without url"]
)
def test_a_stored_card_the_robot_answers_42045_to_fails_at_once_with_its_words(
    wecom, wecom_group, queue_message, run_queue, card_action
):
    """Stored by a release before the send API refused it: delivery posts it once, and
    WeCom's refusal ends it (42045 is no busy errcode: a repeat cannot help)."""
    message = queue_message(wecom_group, _card(TEXT_NOTICE["card_action"]))
    Message.objects.filter(pk=message.pk).update(body=_card(card_action))

    run_queue()

    message.refresh_from_db()
    assert (message.status, message.attempt_count) == ("failed", 1)
    assert message.last_error.startswith("Template_Card card_action Missing or Invalid")
    assert message.attempts.get().errcode == 42045
    assert len(wecom.requests) == 1 and wecom.messages == []
