"""How a message's delivery state is named to an operator, the same on every page.

A queued message that has already been tried is waiting for its next attempt:
it is shown as "waiting to retry", not as a fresh "queued" one.
"""

from django.utils.translation import gettext_lazy as _

from .models import Message

WAITING_TO_RETRY = "retrying"  # the badge's CSS class


def status_key(status: str, attempt_count: int) -> str:
    """The badge class: the status, or "retrying" for a queued message already tried."""
    if status == Message.Status.QUEUED and attempt_count:
        return WAITING_TO_RETRY
    return status


def status_label(status: str, attempt_count: int) -> str:
    if status_key(status, attempt_count) == WAITING_TO_RETRY:
        return str(_("Waiting to retry"))
    return str(Message.Status(status).label) if status in Message.Status.values else status
