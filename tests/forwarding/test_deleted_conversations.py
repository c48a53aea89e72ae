"""Forwarding goes on for a conversation being deleted (docs/webhooks.md, "A conversation
being deleted"): what the bot saw in it is reported, while outbound delivery sends it
nothing more (tests/messaging/test_delivery_deleted_conversations.py)."""

import json

from conversations.models import Conversation
from deletions.services import request_conversation_deletion, run_job
from forwarding.models import WebhookDelivery
from tests.messaging.support import callback_body, forward_due


def test_a_conversation_being_deleted_still_has_its_inbound_messages_forwarded(
    hooked_bot, receiver, post_callback, superuser
):
    before = callback_body("text", hooked_bot, msgid="seen-before")
    assert post_callback(before).json()["errcode"] == 0
    conversation = Conversation.objects.get(bot=hooked_bot, conversation_id="wrGroupSales")
    job, _new = request_conversation_deletion(conversation, superuser, via="console")
    during = callback_body("text", hooked_bot, msgid="seen-during")
    assert post_callback(during).json()["errcode"] == 0

    assert forward_due() == ["success", "success"]

    forwarded = [json.loads(request.body)["msgid"] for request in receiver.requests]
    assert sorted(forwarded) == ["seen-before", "seen-during"]


def test_deliveries_go_with_their_messages_when_the_deletion_runs(
    hooked_bot, receiver, post_callback, superuser
):
    """A delivery still waiting (its receiver down) when the job reaches its message is
    deleted with it: nothing is forwarded of a conversation once it is gone."""
    receiver.script([500])
    assert post_callback(callback_body("text", hooked_bot)).json()["errcode"] == 0
    assert forward_due() == ["failure"]
    conversation = Conversation.objects.get(bot=hooked_bot, conversation_id="wrGroupSales")
    job, _new = request_conversation_deletion(conversation, superuser, via="console")

    assert run_job(job.pk) is False  # done in one run

    assert not WebhookDelivery.objects.exists()
    assert forward_due() == [] and len(receiver.requests) == 1
