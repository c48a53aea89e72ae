"""Retention: the nightly purge deletes exactly the messages past their bot's limit,
in batches, while sends go on; export_messages writes them out first."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import OperatorAction
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from media import store
from media.models import StoredFile
from messaging import card_task_ids, retention
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia
from messaging.sending import accept_outbound

TEXT = {"msgtype": "text", "text": {"content": "hi"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _message(conversation, days_old: float, status=Message.Status.SENT, **fields) -> Message:
    message = Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=fields.pop("direction", Message.Direction.OUT),
        msgtype="text",
        body=TEXT,
        status=status,
        source=Message.Source.API,
        **fields,
    )
    created = timezone.now() - timedelta(days=days_old)
    Message.objects.filter(pk=message.pk).update(created_at=created)
    return message


def test_a_run_deletes_exactly_the_messages_past_their_bots_limit_with_their_rows(
    settings, make_bot, make_conversation
):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = 30
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    ours = make_conversation(make_bot(name="short"), "wrShort")
    longer = make_conversation(make_bot(name="long", message_retention_days=90), "wrLong")
    old = [_message(ours, 31 + n) for n in range(4)]
    inbound = _message(ours, 45, Message.Status.RECEIVED, direction=Message.Direction.IN)
    kept = [
        _message(ours, 29),
        _message(ours, 60, Message.Status.QUEUED),  # not left yet: never deleted
        _message(ours, 60, Message.Status.SCHEDULED),
        _message(longer, 60),  # its bot keeps 90 days
    ]
    DeliveryAttempt.objects.create(
        message=old[0], started_at=timezone.now(), outcome=DeliveryAttempt.Outcome.SENT
    )
    shared = store.store_bytes(PNG)  # shown by a message that stays too
    alone = store.store_bytes(PNG + b"another")
    MessageMedia.objects.create(message=inbound, kind="image", cdn="x", stored_file=shared)
    MessageMedia.objects.create(message=inbound, kind="image", cdn="y", stored_file=alone)
    MessageMedia.objects.create(message=kept[0], kind="image", cdn="x", stored_file=shared)
    endpoint = WebhookEndpoint.objects.create(bot=ours.bot, url="http://127.0.0.1:9/hook")
    delivery = WebhookDelivery.objects.create(message=inbound, endpoint=endpoint)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        url=endpoint.url,
        started_at=timezone.now(),
        outcome=WebhookAttempt.Outcome.SUCCESS,
    )
    purged = retention.purge_expired()

    assert purged.messages == 5 and purged.batches == 3
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in kept}
    assert not DeliveryAttempt.objects.exists()
    assert list(MessageMedia.objects.values_list("message", flat=True)) == [kept[0].pk]
    assert list(StoredFile.objects.all()) == [shared]
    assert store.media_storage().exists(shared.name)
    assert not store.media_storage().exists(alone.name)
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()


def test_without_a_setting_messages_are_kept(settings, make_bot, make_conversation):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = None
    conversation = make_conversation(make_bot(), "wrAny")
    _message(conversation, 3000)

    assert retention.purge_expired().messages == 0
    assert Message.objects.count() == 1


def test_the_audit_log_has_its_own_limit(settings, db):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = None
    settings.BOTADMIN_AUDIT_RETENTION_DAYS = 365
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    entries = [OperatorAction.objects.create(action="test") for _ in range(4)]
    for entry, days in zip(entries, [366, 400, 364, 10], strict=True):
        OperatorAction.objects.filter(pk=entry.pk).update(
            created_at=timezone.now() - timedelta(days=days)
        )

    assert retention.purge_expired().audit_entries == 2
    assert set(OperatorAction.objects.values_list("pk", flat=True)) == {
        entries[2].pk,
        entries[3].pk,
    }


def test_card_task_ids_are_forgotten_after_their_own_limit(settings, make_bot):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = None
    settings.BOTADMIN_CARD_TASK_ID_RETENTION_DAYS = 365
    bot = make_bot()
    for task_id, days in [("old", 366), ("recent", 364)]:
        card_task_ids.take(bot.pk, task_id, "m1")
        CardTaskId.objects.filter(task_id=task_id).update(
            taken_at=timezone.now() - timedelta(days=days)
        )

    assert retention.purge_expired().card_task_ids == 1
    assert list(CardTaskId.objects.values_list("task_id", flat=True)) == ["recent"]


def test_each_batch_is_a_transaction_of_its_own(settings, make_bot, make_conversation):
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 10
    conversation = make_conversation(make_bot(message_retention_days=1), "wrBatch")
    for _ in range(25):
        _message(conversation, 2)

    with CaptureQueriesContext(connection) as queries:
        purged = retention.purge_expired()

    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "messaging_message"')]
    assert purged.batches == 3 and len(deletes) == 3


def test_a_run_deletes_the_old_while_sends_go_on(
    transactional_db, settings, make_bot, make_conversation
):
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 50
    settings.CELERY_TASK_ALWAYS_EAGER = False
    bot = make_bot(message_retention_days=7)
    conversation = make_conversation(bot, "wrBusy")
    old = Message.objects.bulk_create(
        Message(
            bot=bot,
            conversation=conversation,
            direction=Message.Direction.OUT,
            msgtype="text",
            body=TEXT,
            status=Message.Status.SENT,
            source=Message.Source.API,
        )
        for _ in range(600)
    )
    Message.objects.filter(pk__in=[m.pk for m in old]).update(
        created_at=timezone.now() - timedelta(days=8)
    )
    sent, errors, stop = [], [], threading.Event()

    def keep_sending():
        try:
            while not stop.is_set() or len(sent) < 20:
                message = accept_outbound(
                    bot=bot, conversation_id="wrBusy", body=TEXT, source=Message.Source.API
                )
                sent.append(message.pk)
        except Exception as error:  # noqa: BLE001  (reported by the assertion below)
            errors.append(error)
        finally:
            connection.close()

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        purged = retention.purge_expired()
    finally:
        stop.set()
        sender.join(60)

    assert errors == []
    assert purged.messages == 600 and purged.batches == 12
    remaining = set(Message.objects.values_list("pk", flat=True))
    assert remaining == set(sent)


def test_export_writes_the_messages_before_a_date_as_json_lines(
    make_bot, make_conversation, tmp_path
):
    bot = make_bot(name="archive")
    conversation = make_conversation(bot, "wrArchive")
    old = [_message(conversation, 40), _message(conversation, 35)]
    _message(conversation, 1)
    before = (timezone.now() - timedelta(days=30)).date().isoformat()
    output = tmp_path / "archive.jsonl"

    call_command("export_messages", "--bot", str(bot.pk), "--before", before, "-o", str(output))

    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["msgid"] for row in rows] == [m.msgid for m in old]
    assert rows[0]["bot"] == "archive" and rows[0]["conversation_id"] == "wrArchive"
    assert rows[0]["body"] == TEXT and rows[0]["created_at"].startswith(
        (timezone.now() - timedelta(days=40)).date().isoformat()[:4]
    )
    entry = OperatorAction.objects.get(action="messages.export")
    assert entry.bot == bot and entry.actor is None
    assert entry.details["count"] == 2 and entry.details["output"] == str(output)
    assert entry.details["filters"]["before"].startswith(before)
    assert entry.details["via"] == "command line"


def test_the_purge_runs_every_night(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-messages"]
    assert entry["task"] == "messaging.purge_expired_messages"
    assert entry["schedule"].hour == {3}


def test_export_writes_the_messages_of_a_period(make_bot, make_conversation, capsys):
    bot = make_bot(name="period")
    conversation = make_conversation(bot, "wrPeriod")
    _message(conversation, 50)
    inside = [_message(conversation, 40), _message(conversation, 35)]
    _message(conversation, 20)
    since = (timezone.now() - timedelta(days=45)).date().isoformat()
    before = (timezone.now() - timedelta(days=30)).date().isoformat()

    call_command("export_messages", "--bot", "period", "--since", since, "--before", before)

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["msgid"] for row in rows] == [m.msgid for m in inside]
    filters = OperatorAction.objects.get(action="messages.export").details["filters"]
    assert filters["since"].startswith(since) and filters["before"].startswith(before)
