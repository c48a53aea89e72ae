"""Template cards from an app bot: WeCom wants each card's task_id unique per app
(同一个应用任务id不能重复, 42014 otherwise), and botadmin sends one message per member."""

import json

import pytest

from announcements.editing import Draft, save_announcement
from announcements.fanout import fan_out
from announcements.scheduler import start_due_announcements
from conversations.models import Conversation
from messaging.models import CardTaskId, Message

from .test_callback import _callback, post_encrypted

VOTE = {
    "card_type": "vote_interaction",
    "task_id": "lunch-vote-7",
    "main_title": {"title": "周五午餐"},
    "checkbox": {
        "question_key": "meal",
        "option_list": [{"id": "noodles", "text": "面"}, {"id": "rice", "text": "饭"}],
    },
    "submit_button": {"text": "提交", "key": "submit"},
}


def card(task_id: str) -> dict:
    return {"msgtype": "template_card", "template_card": {**VOTE, "task_id": task_id}}


@pytest.fixture
def members(app_api, app_bot, make_conversation) -> list[Conversation]:
    app_api.add_user("wangwu", "王五")
    return [
        make_conversation(app_bot, userid, name=userid, kind=Conversation.Kind.USER)
        for userid in ("zhangsan", "lisi", "wangwu")
    ]


def announce(bot, conversations, body, user) -> None:
    draft = Draft(
        bot=bot,
        title="午餐投票",
        body=body,
        conversation_ids=[c.pk for c in conversations],
        kind="now",
        schedule={},
        timezone="Asia/Shanghai",
    )
    save_announcement(user, draft, as_draft=False)
    (run_id,) = start_due_announcements()
    fan_out(run_id)


def sent_task_ids(app_api) -> list[tuple[str, str]]:
    """(touser, task_id) of every message/send WeCom was asked for, refused ones too."""
    sends = [json.loads(raw) for api, _, raw in app_api.requests if api == "message/send"]
    return [(body["touser"], body["template_card"]["task_id"]) for body in sends]


def test_an_announced_interactive_card_reaches_every_member_each_with_its_own_task_id(
    app_api, app_bot, members, superuser, run_queue
):
    announce(app_bot, members, card("lunch-vote-7"), superuser)

    run_queue()

    messages = Message.objects.filter(direction="out").select_related("conversation")
    assert {m.status for m in messages} == {"sent"}, [m.last_error for m in messages]
    sent = {body["touser"]: body["template_card"]["task_id"] for _, body in app_api.sent}
    expected = {m.conversation.conversation_id: f"lunch-vote-7@{m.msgid}" for m in messages}
    first = next(userid for userid, task_id in sent.items() if task_id == "lunch-vote-7")
    assert sent == expected | {first: "lunch-vote-7"}
    assert len(app_api.task_ids) == 3


def test_a_retried_card_goes_again_with_the_task_id_it_was_given_the_first_time(
    app_api, app_bot, members, queue_message, run_queue
):
    zhangsan, lisi, _ = members
    first = queue_message(zhangsan, card("leave-7"))
    second = queue_message(lisi, card("leave-7"))
    app_api.answer_next("message/send", -1, -1)  # WeCom busy: each is tried again

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(sent_task_ids(app_api)) == [
        ("lisi", f"leave-7@{second.msgid}"),
        ("lisi", f"leave-7@{second.msgid}"),
        ("zhangsan", "leave-7"),
        ("zhangsan", "leave-7"),
    ]
    reserved = CardTaskId.objects.filter(bot=app_bot).values_list("task_id", "taken_by")
    assert sorted(reserved) == [("leave-7", first.msgid), (f"leave-7@{second.msgid}", second.msgid)]


def test_a_clicked_cards_task_id_is_not_used_again_by_a_card_answering_the_click(
    client, app_api, app_bot, member, queue_message, run_queue
):
    """The click is on a card another client of the app sent: WeCom knows its task_id."""
    app_api.task_ids.add("task-20241202-1")

    assert post_encrypted(client, app_bot, _callback("template_card_event")).status_code == 200
    answer = queue_message(member, card("task-20241202-1"))
    run_queue()

    answer.refresh_from_db()
    assert answer.status == "sent", answer.last_error
    assert sent_task_ids(app_api) == [("zhangsan", f"task-20241202-1@{answer.msgid}")]
    assert CardTaskId.objects.get(task_id="task-20241202-1").taken_by == ""


def test_a_task_id_wecom_says_the_app_used_fails_the_card_saying_what_to_do(
    app_api, member, queue_message, run_queue
):
    app_api.task_ids.add("poll-1")  # sent by another client of the app, never clicked

    message = queue_message(member, card("poll-1"))
    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error.startswith(
        "WeCom refuses the card's task_id (42014 taskid has existed or empty or exceed max len)"
    )
    assert "new task_id" in message.last_error
    assert len(sent_task_ids(app_api)) == 1  # not repeated


# --- what WeCom refuses is refused before it is stored ----------------------------------------

REPORT_WITH_MENU = {
    "card_type": "text_notice",
    "main_title": {"title": "周报已生成"},
    "card_action": {"type": 1, "url": "https://example.com/reports/12"},
    "action_menu": {"desc": "订阅", "action_list": [{"text": "不再推送", "key": "unsubscribe"}]},
}


def test_a_notice_card_with_an_action_menu_needs_a_task_id_before_it_is_stored(
    app_api, member, send_api, run_queue
):
    """填了action_menu字段的话本字段必填: WeCom answers 42014 for such a card without one."""
    answer = send_api("zhangsan", {"msgtype": "template_card", "template_card": REPORT_WITH_MENU})

    assert answer == {
        "errcode": 40058,
        "errmsg": "invalid field: template_card.task_id is required by a card with an action_menu",
    }
    assert not Message.objects.exists()

    card = {**REPORT_WITH_MENU, "task_id": "weekly-report-12"}
    assert send_api("zhangsan", {"msgtype": "template_card", "template_card": card})["errcode"] == 0
    run_queue()
    assert Message.objects.get().status == "sent"
    assert sent_task_ids(app_api) == [("zhangsan", "weekly-report-12")]


def test_an_empty_task_id_on_a_card_that_needs_none_is_left_out_of_the_card_sent(
    app_api, member, send_api, run_queue
):
    """WeCom answers 42014 for an empty task_id even where it would take none: an empty
    one is what a tool writes for "no task_id", so the card goes without it."""
    notice = {key: value for key, value in REPORT_WITH_MENU.items() if key != "action_menu"}
    card = {**notice, "task_id": ""}
    assert send_api("zhangsan", {"msgtype": "template_card", "template_card": card})["errcode"] == 0
    run_queue()

    assert Message.objects.get().status == "sent"
    ((_, sent),) = app_api.sent
    assert "task_id" not in sent["template_card"]

    with_menu = {**REPORT_WITH_MENU, "task_id": ""}
    answer = send_api("zhangsan", {"msgtype": "template_card", "template_card": with_menu})
    assert answer["errmsg"] == (
        "invalid field: template_card.task_id is required by a card with an action_menu"
    )


@pytest.mark.parametrize("task_id", ["午餐投票", "lunch vote", "lunch#7", "lunch.vote", "a/b"])
def test_a_task_id_with_characters_wecom_refuses_is_40058_before_it_is_stored(
    app_api, member, send_api, run_queue, task_id
):
    """只能由数字、字母和“_-@”组成."""
    answer = send_api("zhangsan", card(task_id))

    assert answer["errcode"] == 40058
    assert "task_id may hold only letters, digits, _, - and @" in answer["errmsg"]
    assert not Message.objects.exists()

    assert send_api("zhangsan", card("Lunch_vote-7@team"))["errcode"] == 0
    run_queue()
    assert sent_task_ids(app_api) == [("zhangsan", "Lunch_vote-7@team")]
