"""Messages queued to a conversation before its deletion was asked for are not sent: the
claim that finds them cancels them, saying why, and a worker holding one keeps it back
(messaging/delivery_claim.py, delivery_send.py). The API's refusal of new ones:
tests/messaging/test_send_api.py; the deletion job: tests/deletions/."""

from django.utils import translation

from deletions.services import request_conversation_deletion
from messaging.delivery import deliver
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import send_and_record
from messaging.models import Message
from tests.counted_queries import counting_queries
from tests.messaging.conftest import drain

TEXT = {"msgtype": "text", "text": {"content": "hello"}}
NOT_SENT = "not sent: its conversation is being deleted"


def is_delivery_statement(sql: str) -> bool:
    """Not the shared cache's (the database's in tests) nor a savepoint around one."""
    return "botadmin_cache" not in sql and "SAVEPOINT" not in sql


def delete(conversation, actor) -> None:
    request_conversation_deletion(conversation, actor, via="console")  # its job not run yet


def test_messages_queued_before_their_conversations_deletion_are_cancelled_not_sent(
    agent, bridge_bot, bridge_group, make_conversation, queue_message, clock, superuser
):
    kept = make_conversation(bridge_bot, "wrKept")
    doomed = [queue_message(bridge_group, TEXT) for _ in range(3)]
    other = queue_message(kept, TEXT)
    delete(bridge_group, superuser)

    drain(clock)

    assert list(agent.sent) == [other.msgid]  # nothing of the conversation being deleted
    for message in doomed:
        message.refresh_from_db()
        assert (message.status, message.last_error) == ("cancelled", NOT_SENT)
        assert message.attempts.count() == 0 and message.next_attempt_at is None


def test_the_reason_reads_in_the_operators_language(
    agent, bridge_group, queue_message, clock, superuser
):
    message = queue_message(bridge_group, TEXT)
    delete(bridge_group, superuser)
    drain(clock)

    message.refresh_from_db()
    with translation.override("zh-hans"):
        assert message.last_error.translated() == "未发送：其会话正在删除"


def test_a_message_waiting_for_its_retry_is_cancelled_when_its_time_comes(
    agent, bridge_group, queue_message, clock, superuser
):
    message = queue_message(bridge_group, TEXT)
    agent.behaviour.http_status = 503
    assert deliver(message.pk, clock).result == "retry"
    agent.behaviour.http_status = None
    delete(bridge_group, superuser)

    clock.advance(3600)
    assert deliver(message.pk, clock).result == "cancelled"

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("cancelled", NOT_SENT)
    assert len(agent.send_requests) == 1 and agent.sent == {}


def test_cancelled_messages_take_none_of_their_bots_pace(
    agent, bridge_bot, bridge_group, make_conversation, queue_message, clock, superuser
):
    """One send a minute: the older message, of the conversation being deleted, does not
    take the slot, so the other conversation's goes at once, in the same drain."""
    bridge_bot.rate_limit_per_minute = 1
    bridge_bot.save(update_fields=["rate_limit_per_minute"])
    doomed = queue_message(bridge_group, TEXT)
    other = queue_message(make_conversation(bridge_bot, "wrKept"), TEXT)
    delete(bridge_group, superuser)

    claimed = claim_due_messages(clock)

    assert [a.message.pk for a in claimed] == [other.pk] and claimed.paced == 0
    assert claimed.cancelled == (doomed.pk,) and claimed.dropped == 1
    assert send_and_record(claimed, clock) == ["sent"]
    assert list(agent.sent) == [other.msgid]


def test_a_message_claimed_before_the_deletion_was_asked_for_is_kept_back(
    agent, bridge_group, queue_message, clock, superuser
):
    message = queue_message(bridge_group, TEXT)
    claimed = claim_due_messages(clock, ids=[message.pk])
    assert len(claimed) == 1
    delete(bridge_group, superuser)

    assert send_and_record(claimed, clock) == ["cancelled"]

    assert agent.send_requests == []
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("cancelled", NOT_SENT)
    assert (message.attempt_count, message.attempts.count()) == (0, 0)  # no call was made


def test_a_claim_reads_the_deletion_mark_without_a_query_of_its_own(
    agent, bridge_bot, make_conversation, queue_message, clock, superuser
):
    """The mark comes with each candidate's conversation: a claim of messages none of whose
    conversations is being deleted costs the same statements whatever their number, and one
    that finds some adds two (lock, cancel), however many messages it cancels."""
    bridge_bot.rate_limit_per_minute = 6000
    bridge_bot.save(update_fields=["rate_limit_per_minute"])

    rounds = iter(range(10))

    def claim_queries(conversations: int, deleted: int) -> int:
        Message.objects.all().delete()
        name = f"wrQ{next(rounds)}-"
        made = [make_conversation(bridge_bot, f"{name}{n}") for n in range(conversations)]
        for conversation in made:
            queue_message(conversation, TEXT)
            queue_message(conversation, TEXT)
        for conversation in made[:deleted]:
            delete(conversation, superuser)
        with counting_queries() as queries:
            claimed = claim_due_messages(clock)
        assert len(claimed) + len(claimed.cancelled) == conversations
        assert claimed.dropped == 2 * deleted
        send_and_record(claimed, clock)
        return len([q for q in queries if is_delivery_statement(q["sql"])])

    none_deleted = claim_queries(2, 0)
    assert claim_queries(6, 0) == none_deleted
    assert claim_queries(6, 3) == none_deleted + 2


def test_a_long_queue_is_cancelled_a_batch_a_claim(
    agent, bridge_group, queue_message, clock, superuser, monkeypatch
):
    monkeypatch.setattr("messaging.delivery_claim.CANCEL_BATCH", 2)
    messages = [queue_message(bridge_group, TEXT) for _ in range(5)]
    delete(bridge_group, superuser)

    claimed = claim_due_messages(clock)
    assert (claimed.cancelled, claimed.dropped) == ((messages[0].pk,), 2)
    drain(clock)  # the claims after it find the next heads

    assert agent.send_requests == []
    statuses = set(Message.objects.values_list("status", "last_error"))
    assert statuses == {("cancelled", NOT_SENT)}
