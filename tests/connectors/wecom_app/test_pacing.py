"""WeCom drops what exceeds its per-member limits silently: the app connector's pace keeps
each member at ≤ 30 a minute and ≤ 1,000 an hour (one every 3.6 s), and each app chat at
≤ 200 a minute (one every 0.3 s), through the delivery engine's shared pace."""

from datetime import timedelta

from connectors.registry import connector_for
from messaging.models import Message


def _gaps(conversation) -> list[timedelta]:
    sent = list(
        Message.objects.filter(conversation=conversation)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
    )
    return [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]


def test_messages_to_one_member_leave_at_least_3_6_s_apart(
    app_api, member, queue_message, run_queue
):
    for n in range(5):
        queue_message(member, {"msgtype": "text", "text": {"content": f"n{n}"}})

    run_queue()

    assert len(app_api.sent) == 5
    assert all(gap >= timedelta(seconds=3.599) for gap in _gaps(member))


def test_messages_to_one_app_chat_leave_at_least_0_3_s_apart(
    app_api, app_bot, make_conversation, queue_message, run_queue
):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    chat = make_conversation(app_bot, chatid, name="项目群")
    for n in range(5):
        queue_message(chat, {"msgtype": "text", "text": {"content": f"n{n}"}})

    run_queue()

    assert len(app_api.sent) == 5
    gaps = _gaps(chat)
    assert all(gap >= timedelta(seconds=0.299) for gap in gaps)
    assert min(gaps) < timedelta(seconds=3.6)  # not held to the members' pace
