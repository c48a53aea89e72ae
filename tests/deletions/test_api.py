"""The API during and after a deletion. While a bot's deletion runs, its API refuses sends
and uploads with the inactive bot's errcode; while a conversation's runs, and once it is
gone, a send to it is refused with 7000106 (HTTP 410) and the lists leave it out. Nothing
new is accepted for what is on its way out, and nothing accepted is lost to it unsaid."""

import base64
import hashlib

import pytest

from conversations.models import Conversation
from deletions import services
from deletions.models import DeletionJob
from messaging.models import Message, MessageMedia
from tests.images import image_bytes
from tests.meanwhile import before_saving
from tests.messaging.conftest import send  # noqa: F401  (POST /api/send)

from .running import run_deletions

TEXT = {"msgtype": "text", "text": {"content": "还在吗"}}
PNG = image_bytes()
IMAGE = {
    "msgtype": "image",
    "image": {"base64": base64.b64encode(PNG).decode(), "md5": hashlib.md5(PNG).hexdigest()},
}
# Each way /api/send stores a message: one INSERT; with its media row in a transaction;
# with an Idempotency-Key.
SENDS = {
    "text": (TEXT, {}),
    "image": (IMAGE, {}),
    "with an Idempotency-Key": (TEXT, {"Idempotency-Key": "job-42"}),
}


def test_the_api_refuses_to_send_for_a_bot_being_deleted(send, bot, group, superuser):  # noqa: F811
    assert send(bot.secret, group.conversation_id, TEXT).json()["errcode"] == 0
    services.request_bot_deletion(bot, superuser, via="test")

    answer = send(bot.secret, group.conversation_id, TEXT)

    assert answer.status_code == 403
    assert answer.json()["errcode"] == 7000102
    assert Message.objects.filter(bot=bot).count() == 1


@pytest.mark.parametrize("way", SENDS)
def test_a_send_to_a_conversation_being_deleted_is_refused_and_stores_nothing(
    send,  # noqa: F811
    bot,
    group,
    superuser,
    way,
):
    body, headers = SENDS[way]
    assert send(bot.secret, group.conversation_id, TEXT).json()["errcode"] == 0
    services.request_conversation_deletion(group, superuser, via="test")

    answer = send(bot.secret, group.conversation_id, body, **headers)

    assert answer.status_code == 410
    assert answer.json() == {
        "errcode": 7000106,
        "errmsg": "conversation deleted: wrGroup1 is being deleted; nothing is sent to it",
    }
    assert Message.objects.filter(bot=bot).count() == 1
    assert not MessageMedia.objects.exists()


@pytest.mark.parametrize("way", SENDS)
def test_a_send_whose_conversation_deletion_is_asked_for_while_it_is_stored_is_withdrawn(
    send,  # noqa: F811
    bot,
    group,
    superuser,
    way,
):
    """The widest window: the send found the conversation not being deleted, and the
    deletion is asked for just before the message is saved. The caller is told, as if it
    had come a moment later, and the deletion is not left a message it did not plan."""
    body, headers = SENDS[way]
    ask = lambda: services.request_conversation_deletion(group, superuser, via="test")  # noqa: E731

    with before_saving(Message, ask) as asked:
        answer = send(bot.secret, group.conversation_id, body, **headers)

    assert asked
    assert (answer.status_code, answer.json()["errcode"]) == (410, 7000106)
    assert not Message.objects.exists() and not MessageMedia.objects.exists()
    run_deletions()
    job = DeletionJob.objects.get()
    assert job.status == DeletionJob.Status.DONE and job.attempts == 0
    assert not Conversation.objects.filter(pk=group.pk).exists()


def test_a_message_accepted_before_the_deletion_goes_with_the_conversations_history(
    send,  # noqa: F811
    client,
    bot,
    group,
    superuser,
):
    msgid = send(bot.secret, group.conversation_id, TEXT).json()["msgid"]
    job, _ = services.request_conversation_deletion(group, superuser, via="test")

    run_deletions()

    job.refresh_from_db()
    assert job.counts["messaging.Message"] == 1
    assert not Message.objects.filter(msgid=msgid).exists()
    answer = client.get(f"/api/messages/{msgid}", {"secret": bot.secret})
    assert (answer.status_code, answer.json()["errcode"]) == (404, 7000104)


def test_after_the_deletion_a_send_is_told_the_conversation_was_deleted(
    send,  # noqa: F811
    bot,
    group,
    superuser,
    make_conversation,
):
    services.request_conversation_deletion(group, superuser, via="test")
    run_deletions()

    answer = send(bot.secret, "wrGroup1", TEXT)

    assert answer.status_code == 410
    errmsg = answer.json()["errmsg"]
    assert answer.json()["errcode"] == 7000106
    assert errmsg.startswith("conversation deleted: wrGroup1 was deleted at 20")
    assert errmsg.endswith("; nothing is sent to it")
    assert not Message.objects.exists()
    # An id the bot never had is still unknown.
    answer = send(bot.secret, "wrNever", TEXT)
    assert (answer.status_code, answer.json()["errcode"]) == (404, 7000101)
    # Brought back (a contact sync, a message from it): sent to as any other.
    make_conversation(bot, "wrGroup1")
    assert send(bot.secret, "wrGroup1", TEXT).json()["errcode"] == 0


def test_the_lists_leave_out_a_conversation_being_deleted(
    client, bot, group, make_conversation, superuser
):
    make_conversation(bot, "wrKept", name="留下的群")
    user = make_conversation(bot, "wmGoing", kind=Conversation.Kind.USER, name="Going")
    make_conversation(bot, "wmKept", kind=Conversation.Kind.USER, name="Kept")
    for conversation in (group, user):
        services.request_conversation_deletion(conversation, superuser, via="test")

    for path, kept in (("/api/groups", ["wrKept"]), ("/api/users", ["wmKept"])):
        for query in ({}, {"include_inactive": "1"}):
            answer = client.get(path, {"secret": bot.secret, **query})
            assert [item["conversation_id"] for item in answer.json()["data"]] == kept
