"""Applying a connector's contact listing: walk its pages, upsert each page in one
transaction, and only after the last page deactivate what the listing did not show
(conversations/sync.py has the whole story)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason
from connectors.base import Connector, ConnectorError

from .models import Bot, Conversation
from .sort_keys import name_sort_key

if TYPE_CHECKING:
    from .sync import _Progress

KINDS = (Conversation.Kind.USER, Conversation.Kind.GROUP)
BATCH_SIZE = 500
# Guard against an agent whose cursors never end.
MAX_PAGES_PER_KIND = 100_000
KNOWN_FIELDS = {"conversation_id", "name", "avatar", "member_count"}
SYNCED_FIELDS = ["kind", "name", "avatar_url", "member_count", "extra"]


def _sync_listed(connector: Connector, progress: _Progress) -> None:
    run = progress.run
    for kind in KINDS:
        cursor, seen_cursors = None, set()
        for _page in range(MAX_PAGES_PER_KIND):
            page = connector.fetch_contacts(kind, cursor)
            with transaction.atomic():
                _upsert_page(run.bot, kind, page.items, progress)
                progress.pages += 1
                progress.save()
            if not page.next_cursor:
                break
            if page.next_cursor in seen_cursors:
                repeated = gettext_noop("protocol error: the agent repeated cursor %(cursor)s")
                raise ConnectorError(Reason(repeated, cursor=repr(cursor)))
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor
        else:
            too_many = gettext_noop("protocol error: more than %(count)s pages")
            raise ConnectorError(Reason(too_many, count=MAX_PAGES_PER_KIND))
    # Complete: whatever this sync did not see is gone from the account.
    with transaction.atomic():
        for kind in KINDS:
            unseen = Conversation.objects.filter(
                bot=run.bot, kind=kind, is_active=True, created_at__lt=run.started_at
            ).filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=run.started_at))
            progress.add(kind, "deactivated", unseen.update(is_active=False))
        progress.save()


def _contact_fields(kind: str, item: dict) -> dict:
    """Our columns from one protocol item (validated by the connector: id and name are strings)."""
    avatar = item.get("avatar")
    member_count = item.get("member_count")
    return {
        "kind": kind,
        "name": item["name"][:255],
        "avatar_url": avatar[:1000]
        if isinstance(avatar, str) and avatar.startswith(("https://", "http://"))
        else "",
        "member_count": member_count
        if isinstance(member_count, int)
        and not isinstance(member_count, bool)
        and member_count >= 0
        else None,
        "extra": {key: value for key, value in item.items() if key not in KNOWN_FIELDS},
    }


def _upsert_page(bot: Bot, kind: str, items: Iterable[dict], progress: _Progress) -> None:
    now = timezone.now()
    incoming = {item["conversation_id"][:255]: _contact_fields(kind, item) for item in items}
    existing = {}
    ids = list(incoming)
    for start in range(0, len(ids), BATCH_SIZE):
        for conversation in Conversation.objects.filter(
            bot=bot, conversation_id__in=ids[start : start + BATCH_SIZE]
        ).only("pk", "conversation_id", "is_active", "name_sort_key", *SYNCED_FIELDS):
            existing[conversation.conversation_id] = conversation
    new, changed, rekeyed, unchanged = [], [], [], []
    for conversation_id, values in incoming.items():
        conversation = existing.get(conversation_id)
        if conversation is None:
            # Its name_sort_key comes with the insert (the field's pre_save).
            new.append(
                Conversation(bot=bot, conversation_id=conversation_id, last_synced_at=now, **values)
            )
            continue
        differs = any(getattr(conversation, name) != value for name, value in values.items())
        if conversation.is_active and not differs:
            unchanged.append(conversation.pk)
            # A key not its name's: a host still on the release before the key added or
            # renamed it (a rolling upgrade), or an earlier definition of the key made it.
            key = name_sort_key(conversation.name, conversation.kind)
            if key != conversation.name_sort_key:
                conversation.name_sort_key = key
                rekeyed.append(conversation)
            continue
        progress.add(kind, "updated" if conversation.is_active else "reactivated", 1)
        for name, value in values.items():
            setattr(conversation, name, value)
        conversation.is_active, conversation.last_synced_at = True, now
        conversation.name_sort_key = name_sort_key(conversation.name, conversation.kind)
        changed.append(conversation)
    # A conversation an inbound message created meanwhile is updated, not duplicated.
    Conversation.objects.bulk_create(
        new,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["bot", "conversation_id"],
        update_fields=[*SYNCED_FIELDS, "name_sort_key", "is_active", "last_synced_at"],
    )
    progress.add(kind, "added", len(new))
    Conversation.objects.bulk_update(
        changed,
        [*SYNCED_FIELDS, "name_sort_key", "is_active", "last_synced_at"],
        batch_size=BATCH_SIZE,
    )
    Conversation.objects.bulk_update(rekeyed, ["name_sort_key"], batch_size=BATCH_SIZE)
    for start in range(0, len(unchanged), BATCH_SIZE):
        Conversation.objects.filter(pk__in=unchanged[start : start + BATCH_SIZE]).update(
            last_synced_at=now
        )
