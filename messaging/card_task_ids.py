"""Template card task_ids a bot has used, so that it never sends one twice.

WeCom wants a card's task_id unique per AI bot (shared/spec/wecom-aibot.md) and
per self-built app (同一个应用任务id不能重复: 42014 for a repeat), and refuses a
new card with a task_id used before, however long ago as far as its
documentation says. A gateway may restart, a bot may move to another gateway
with its lease, and an app's messages go out from any worker, so the record is
a row per (bot, task_id):

* `own_card` is what goes out for one message part: its card's task_id
  reserved for the part (`take`), or replaced by a fresh one (`fresh_task_id`)
  when the bot used it otherwise; a retry of the part sends the same one;
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

import re

from .models import CardTaskId
from .schemas import TASK_ID_CHARACTERS, TASK_ID_MAX_BYTES

_NOT_IN_TASK_ID = re.compile(f"[^{TASK_ID_CHARACTERS}]")


def well_formed_task_id(task_id: str) -> bool:
    """Whether WeCom takes these characters as a task_id (its byte limit is checked apart)."""
    return not _NOT_IN_TASK_ID.search(task_id)


def _record(bot_id: int, task_id: str, part_id: str = "") -> None:
    CardTaskId.objects.bulk_create(
        [CardTaskId(bot_id=bot_id, task_id=task_id, taken_by=part_id)], ignore_conflicts=True
    )


def take(bot_id: int, task_id: str, part_id: str) -> bool:
    """Reserve `task_id` for the message part `part_id` (its msgid, or msgid-2, …): True when
    it is this part's (now, or since an earlier try), False when the bot used it otherwise."""
    _record(bot_id, task_id, part_id)
    return CardTaskId.objects.filter(bot_id=bot_id, task_id=task_id, taken_by=part_id).exists()


def seen_clicked(bot_id: int, task_id: str) -> None:
    """A card with this task_id was clicked: the bot has used it (by whichever message).
    One longer than WeCom's 128 bytes is no card of the bot's, and is not kept."""
    if len(task_id.encode()) <= TASK_ID_MAX_BYTES:
        _record(bot_id, task_id)


def fresh_task_id(task_id: str, part_id: str) -> str:
    """A task_id of its own for a card whose task_id this bot already used: the given one
    with "@" and the message part's id after it (cut to fit), so a retry of the part sends
    the same card again and another part's card differs."""
    suffix = "@" + _NOT_IN_TASK_ID.sub("_", part_id)
    kept = task_id.encode()[: max(TASK_ID_MAX_BYTES - len(suffix), 0)]
    return kept.decode(errors="ignore") + suffix


def own_card(bot_id: int, body: dict, part_id: str) -> dict:
    """The body to send as the message part `part_id`: a template card's task_id reserved for
    the part, or replaced by a fresh one (`fresh_task_id`, reserved too) when the bot already
    used it for a clicked card or another part's card. Any other body as it is."""
    card = body.get("template_card") if body.get("msgtype") == "template_card" else None
    task_id = str(card.get("task_id") or "") if isinstance(card, dict) else ""
    if not task_id or take(bot_id, task_id, part_id):
        return body
    fresh = fresh_task_id(task_id, part_id)
    _record(bot_id, fresh, part_id)  # its own by construction: no need to read it back
    return {**body, "template_card": {**card, "task_id": fresh}}
