"""What deleting a bot or a conversation deletes, in which order, and how much of it:
the steps of a deletion job (deletions/services.py asks for one, deletions/batches.py runs
it) and the counts its confirmation and progress pages show.

A model that points to Bot or Conversation must be in the deletion order below
(`BOT_STEPS`, `CONVERSATION_STEPS`) or in `DETACHED`:
tests/deletions/test_coverage.py fails for one that is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Model, QuerySet

from announcements.models import Announcement, AnnouncementRun, SavedAudience
from audit.models import OperatorAction
from conversations.models import Bot, BotConnection, Conversation, DeletedConversation, SyncRun
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia, UploadedMedia

from .kinds import kind_name
from .models import DeletionJob

Kind = DeletionJob.Kind

# The confirmation counts stop here: counting ten million rows would keep the page waiting.
COUNT_CAP = 1_000_000


@dataclass(frozen=True)
class Step:
    """One kind of row to delete, found from the target through `lookup`.

    `with_it`: the models whose rows go with each batch by cascade (a message's
    attempts, media and webhook deliveries), counted too. `files`: the field
    naming a stored file the rows keep, let go after the batch. `sends`: the rows are
    messages: one a worker is sending is deleted once its outcome is written
    (`_wait_for_sends`), and those whose send ended after the deletion was asked for are
    counted by outcome (`DeletionJob.sends`)."""

    model: type[Model]
    lookup: str
    with_it: tuple[type[Model], ...] = ()
    files: str = ""
    sends: bool = False

    def rows(self, target) -> QuerySet:
        return self.model.objects.filter(**{self.lookup: target})


MESSAGE_DEPENDENTS = (DeliveryAttempt, MessageMedia, WebhookDelivery, WebhookAttempt)

# In order: nothing a step deletes is still referred to (PROTECT) by a later one.
BOT_STEPS = (
    Step(Message, "bot", MESSAGE_DEPENDENTS, files="media__stored_file", sends=True),
    Step(AnnouncementRun, "announcement__bot"),
    Step(Announcement, "bot"),
    Step(SavedAudience, "bot"),
    Step(WebhookEndpoint, "bot"),
    Step(UploadedMedia, "bot", files="stored_file"),
    Step(CardTaskId, "bot"),
    Step(SyncRun, "bot"),
    Step(DeletedConversation, "bot"),
    Step(Conversation, "bot"),
    Step(BotConnection, "bot"),
)
CONVERSATION_STEPS = (
    Step(Message, "conversation", MESSAGE_DEPENDENTS, files="media__stored_file", sends=True),
)

# Models that point to a bot or a conversation and keep their rows when it goes: the audit
# log keeps its entries (with the names they were written with), unlinked in batches.
DETACHED = {OperatorAction: "bot"}

# Where the target lives and which steps empty it.
TARGETS: dict[str, tuple[type[Model], tuple[Step, ...]]] = {
    Kind.BOT: (Bot, BOT_STEPS),
    Kind.CONVERSATION: (Conversation, CONVERSATION_STEPS),
}


# --- What would go ------------------------------------------------------------


def _capped_count(rows: QuerySet) -> int:
    return rows.values("pk")[: COUNT_CAP + 1].count()


def planned_counts(kind: str, target) -> dict[str, int]:
    """What deleting the target removes, by model label ("messaging.Message": 12034),
    each count stopping at COUNT_CAP + 1. The model's own row is not counted."""
    _model, steps = TARGETS[kind]
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.model._meta.label] = _capped_count(step.rows(target))
        prefix = step.lookup
        for dependent in step.with_it:
            path = _path_to(dependent, step.model)
            counts[dependent._meta.label] = _capped_count(
                dependent.objects.filter(**{f"{path}__{prefix}": target})
            )
    return counts


def _path_to(model: type[Model], ancestor: type[Model]) -> str:
    """The lookup from `model` to `ancestor` along its foreign keys (WebhookAttempt to
    Message: "delivery__message")."""
    for field in model._meta.get_fields():
        if field.many_to_one and field.related_model is ancestor:
            return field.name
    for field in model._meta.get_fields():
        if field.many_to_one and field.related_model is not None:
            try:
                return f"{field.name}__{_path_to(field.related_model, ancestor)}"
            except LookupError:
                continue
    raise LookupError(f"{model._meta.label} does not reach {ancestor._meta.label}")


def counted_over_cap(count: int) -> bool:
    return count > COUNT_CAP


# --- Showing ------------------------------------------------------------------


def progress_rows(job: DeletionJob) -> list[dict]:
    """Per kind: its name, how many there were and how many went, in deletion order."""
    labels = list(dict.fromkeys([*job.planned, *job.counts]))
    rows = []
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        planned = job.planned.get(label)
        rows.append(
            {
                "label": label,
                "name": kind_name(model),
                "planned": min(planned, COUNT_CAP) if planned is not None else None,
                "over_cap": planned is not None and counted_over_cap(planned),
                "deleted": job.counts.get(label, 0),
            }
        )
    return rows


def what_goes(kind: str, target) -> list[dict]:
    """A confirmation's rows (progress_rows) before the job: the kinds deleting the target
    removes some of. A kind it removes none of (a bridge bot's long connection) is left
    out: fifteen rows, most of them 0, hid the few that matter."""
    rows = progress_rows(DeletionJob(planned=planned_counts(kind, target)))
    return [row for row in rows if row["planned"]]
