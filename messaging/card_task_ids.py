"""Template card task_ids a bot has used, so that it never sends one twice.

WeCom wants a card's task_id unique per bot (shared/spec/wecom-aibot.md) and
refuses a new card with a task_id the bot used before, however long ago as far
as its documentation says. A gateway may restart, and a bot may move to
another gateway with its lease, so the record is a row per (bot, task_id):

* `take` reserves the task_id for one message part before its card is sent
  (the unique constraint settles two sends racing for it): a retry of the
  same part finds it its own, any other part finds it taken;
* `seen_clicked` records a clicked card's task_id (a card of this bot in the
  chat, sent by botadmin or not), before the click is stored and forwarded;

The nightly retention deletes them after BOTADMIN_CARD_TASK_ID_RETENTION_DAYS
(messaging/retention.py).

A reservation is kept when WeCom refuses the card: a fresh task_id for a later
message is harmless, a repeated one is refused.
"""

from __future__ import annotations

from .models import CardTaskId


def take(bot_id: int, task_id: str, part_id: str) -> bool:
    """Reserve `task_id` for the message part `part_id` (its msgid, or msgid-2, …): True when
    it is this part's (now, or since an earlier try), False when the bot used it otherwise."""
    CardTaskId.objects.bulk_create(
        [CardTaskId(bot_id=bot_id, task_id=task_id, taken_by=part_id)], ignore_conflicts=True
    )
    return CardTaskId.objects.filter(bot_id=bot_id, task_id=task_id, taken_by=part_id).exists()


def seen_clicked(bot_id: int, task_id: str) -> None:
    """A card with this task_id was clicked: the bot has used it (by whichever message)."""
    CardTaskId.objects.bulk_create(
        [CardTaskId(bot_id=bot_id, task_id=task_id)], ignore_conflicts=True
    )
