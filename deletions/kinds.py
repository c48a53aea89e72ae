"""What a deletion removes, by kind, in the operator's words rather than the models'
(`verbose_name_plural`: "message media", "card task IDs", "bot connections"): the
confirmation pages, a job's progress and the admin's confirmation name them so.

Keyed by model label, as a job stores its counts. A model without a name here (one a
later step adds) shows its verbose name; tests/deletions/test_kinds.py wants one for
every model a deletion counts."""

from __future__ import annotations

from django.db.models import Model
from django.utils.translation import gettext_lazy as _

NAMES = {
    "messaging.Message": _("messages"),
    "messaging.DeliveryAttempt": _("sending attempts of those messages"),
    "messaging.MessageMedia": _("pictures and files in those messages"),
    "forwarding.WebhookDelivery": _("webhook deliveries of those messages"),
    "forwarding.WebhookAttempt": _("webhook delivery attempts"),
    "announcements.AnnouncementRun": _("runs of the announcements"),
    "announcements.Announcement": _("announcements"),
    "announcements.SavedAudience": _("saved audiences"),
    "forwarding.WebhookEndpoint": _("webhook endpoints"),
    "messaging.UploadedMedia": _("files uploaded through the API"),
    "messaging.CardTaskId": _("template card task IDs used"),
    "conversations.SyncRun": _("contact syncs"),
    "conversations.DeletedConversation": _("notes of conversations deleted before"),
    "conversations.Conversation": _("conversations (groups and contacts)"),
    "conversations.BotConnection": _("long connection state"),
}


def kind_name(model: type[Model]) -> str:
    """The operator's name of a kind of row a deletion removes, in the active language."""
    return str(NAMES.get(model._meta.label, model._meta.verbose_name_plural))
