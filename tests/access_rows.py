"""Rows of every kind of a bot for the access sweep (tests/test_access_sweep.py), each
holding a text found nowhere else (`SeededBot.texts`), and the database snapshot the
sweep compares before and after each request."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from announcements.models import Announcement, AnnouncementRun, SavedAudience
from audit.models import OperatorAction
from conversations.models import Bot, Conversation, DeletedConversation, SyncRun
from deletions.models import DeletionJob
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from media.store import store_bytes
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia, UploadedMedia
from tests.announcement_posts import post_confirmed
from tests.console.test_bad_posts import compose
from tests.images import image_bytes

# Every app whose rows a request could change (Django's admin log and users included).
SNAPSHOT_APPS = (
    "conversations",
    "messaging",
    "announcements",
    "forwarding",
    "deletions",
    "audit",
    "media",
    "auth",
    "admin",
)
OUR_APPS = ("conversations", "messaging", "announcements", "forwarding", "deletions", "audit")


@dataclass
class SeededBot:
    """A bot's rows the URLs name (by argument name), and its texts."""

    ids: dict[str, int]
    rows: dict[str, object]  # model label -> one row of B of that model
    texts: list[str] = field(default_factory=list)


def operator_permissions(*, bot_admin: bool):
    """Every permission on our apps' models; a plain operator lacks the bot admin's."""
    granted = Permission.objects.filter(content_type__app_label__in=OUR_APPS)
    if not bot_admin:
        granted = granted.exclude(codename__in=["administer_bot", "add_bot"])
    return granted


def _message(conversation, direction, text, **fields) -> Message:
    fields.setdefault("status", Message.Status.RECEIVED if direction == "in" else "sent")
    fields.setdefault("source", Message.Source.AGENT if direction == "in" else "api")
    return Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=direction,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": text}},
        search_text=text,
        **fields,
    )


def seed_bot(bot: Bot, make_conversation, superuser, marker: str) -> SeededBot:
    """One row of every kind of `bot` (its announcements composed as a superuser does),
    and an operator of it; each text given here holds `marker`."""
    owner = type(superuser).objects.create_user(
        f"zed_{marker.lower()}", password="pw-zed", is_staff=True
    )
    bot.operators.add(owner)
    group = make_conversation(bot, f"wrRival{marker}", name=f"竞品群{marker}")
    person = make_conversation(
        bot, f"lisi_{marker.lower()}", name=f"李四{marker}", kind=Conversation.Kind.USER
    )
    received = _message(
        group,
        "in",
        f"received-{marker}",
        sender_id=f"lisi_{marker.lower()}",
        sender_name=f"李四{marker}",
    )
    failed = _message(group, "out", f"failed-{marker}", status=Message.Status.FAILED)
    scheduled = _message(
        group,
        "out",
        f"scheduled-{marker}",
        status=Message.Status.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(days=3),
    )
    attempt = DeliveryAttempt.objects.create(
        message=failed,
        outcome="failed",
        started_at=timezone.now(),
        response_text=f"answer-{marker}",
    )
    stored = store_bytes(image_bytes())
    media = MessageMedia.objects.create(
        message=received,
        status=MessageMedia.Status.STORED,
        stored_file=stored,
        original_name=f"photo-{marker}.png",
    )
    upload = UploadedMedia.objects.create(
        bot=bot, kind="image", name=f"upload-{marker}.png", size=stored.size, md5="0" * 32,
        stored_file=stored, expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    endpoint = WebhookEndpoint.objects.create(
        bot=bot,
        url=f"https://rival-{marker.lower()}.example/hook",
        description=f"endpoint-{marker}",
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        message=received,
        status=WebhookDelivery.Status.FAILED,
        last_error=f"delivery-{marker}",
    )
    webhook_attempt = WebhookAttempt.objects.create(
        delivery=delivery, number=1, url=endpoint.url, started_at=timezone.now(),
        response_text=f"hook-answer-{marker}",
    )  # fmt: skip
    job = DeletionJob.objects.create(
        kind="conversation", target_id=999_999, bot_ref=bot.pk, status="failed",
        target_label=f"deleted-{marker}", bot_label=bot.name, error=f"error-{marker}",
    )  # fmt: skip
    action = OperatorAction.objects.create(
        actor=owner, bot=bot, actor_label=f"zed_{marker.lower()}", bot_label=bot.name, action="bot.update",
        target_label=f"target-{marker}", summary=f"summary-{marker}",
    )  # fmt: skip
    sync = SyncRun.objects.create(bot=bot, trigger=SyncRun.Trigger.CONSOLE, requested_by=owner)
    audience = SavedAudience.objects.create(bot=bot, name=f"audience-{marker}", created_by=owner)
    task = CardTaskId.objects.create(bot=bot, task_id=f"task-{marker}")
    gone = DeletedConversation.objects.create(
        bot=bot, conversation_id=f"wrGone{marker}", deleted_at=timezone.now()
    )

    composer = Client()
    composer.force_login(superuser)
    new = "/console/announcements/new/"
    draft_form = compose(bot, group, title=f"draft-{marker}", text__content=f"draft-text-{marker}")
    composer.post(new, {**draft_form, "save_draft": "1"})
    plan_form = compose(bot, group, title=f"plan-{marker}", text__content=f"plan-text-{marker}")
    post_confirmed(composer, new, plan_form)
    draft = Announcement.objects.get(title=f"draft-{marker}")
    planned = Announcement.objects.get(title=f"plan-{marker}")
    run = AnnouncementRun.objects.create(
        announcement=planned, scheduled_for=timezone.now(), started_at=timezone.now(),
        status=AnnouncementRun.Status.FAILED, last_error=f"run-{marker}",
    )  # fmt: skip
    texts = [
        bot.name,
        bot.secret,
        bot.signing_secret,
        bot.agent_token,
        owner.username,
        group.name,
        group.conversation_id,
        person.name,
        person.conversation_id,
        gone.conversation_id,
        *(m.msgid for m in (received, failed, scheduled)),
        f"received-{marker}",
        f"failed-{marker}",
        f"scheduled-{marker}",
        f"answer-{marker}",
        f"photo-{marker}",
        f"upload-{marker}",
        upload.media_id,
        f"rival-{marker.lower()}.example",
        f"endpoint-{marker}",
        f"delivery-{marker}",
        f"hook-answer-{marker}",
        f"deleted-{marker}",
        f"error-{marker}",
        f"target-{marker}",
        f"summary-{marker}",
        f"audience-{marker}",
        f"task-{marker}",
        f"draft-{marker}",
        f"draft-text-{marker}",
        f"plan-{marker}",
        f"plan-text-{marker}",
        f"run-{marker}",
    ]
    endpoint.refresh_from_db()
    texts += [s for s in (getattr(endpoint, "signing_secret", ""),) if s]
    return SeededBot(
        ids={
            "bot_id": bot.pk,
            "pk": group.pk,
            "conversation": group.pk,
            "person": person.pk,
            "message_id": failed.pk,
            "received_id": received.pk,
            "media_id": media.pk,
            "endpoint_id": endpoint.pk,
            "delivery_id": delivery.pk,
            "job_id": job.pk,
            "user_id": owner.pk,
            "announcement": draft.pk,
            "planned": planned.pk,
        },
        rows={
            "conversations.bot": bot,
            "conversations.conversation": group,
            "conversations.syncrun": sync,
            "messaging.message": failed,
            "messaging.deliveryattempt": attempt,
            "forwarding.webhookendpoint": endpoint,
            "forwarding.webhookdelivery": delivery,
            "audit.operatoraction": action,
            "deletions.deletionjob": job,
            "auth.user": owner,
            "messaging.uploadedmedia": upload,
            "messaging.cardtaskid": task,
            "announcements.savedaudience": audience,
            "announcements.announcementrun": run,
            "forwarding.webhookattempt": webhook_attempt,
        },
        texts=[t for t in texts if t],
    )


def snapshot(actor=None, other_bot=None) -> dict[str, set[str]]:
    """Every row of the apps a request could change, field by field, but the audit
    log's entries of what `actor` did to no row of `other_bot` (an export of their own
    bots' messages is recorded, by design)."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in SNAPSHOT_APPS or model is Permission:
            continue  # (no request adds a permission, and there are hundreds)
        names = [f.attname for f in model._meta.concrete_fields]
        found = model.objects.all()
        if model is OperatorAction and actor is not None:
            found = found.exclude(Q(actor=actor) & ~Q(bot=other_bot))
        rows[model._meta.label] = {repr(row) for row in found.values_list(*names)}
    return rows


def changes(before: dict, after: dict) -> dict[str, tuple[list[str], list[str]]]:
    """Per model, (rows gone or changed, rows new or changed)."""
    return {
        label: (sorted(before[label] - rows), sorted(rows - before[label]))
        for label, rows in after.items()
        if rows != before[label]
    }
