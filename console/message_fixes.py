"""What the console offers to do about one outbound message: retry now, mark as sent, cancel.

The actions themselves are messaging.delivery_actions' (compare-and-set on the
status, audited); this module says which apply to a message's state, and how
the console names and confirms them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from messaging import delivery_actions
from messaging.models import Message


@dataclass(frozen=True)
class Fix:
    verb: str
    label: Promise
    confirm: Promise
    done: Promise
    applies_to: tuple[str, ...]
    run: Callable[[Message, object], bool]
    style: str = ""


FIXES = {
    fix.verb: fix
    for fix in (
        Fix(
            "retry",
            _("Retry now"),
            _("Send this message again now, with a fresh set of attempts?"),
            _("The message was queued again."),
            Message.Status.UNDELIVERED,
            delivery_actions.retry_now,
            "primary",
        ),
        Fix(
            "mark-sent",
            _("Mark as sent"),
            _("Mark this message as sent? Do it only after checking in the chat that it arrived."),
            _("The message was marked as sent."),
            (Message.Status.UNCERTAIN,),
            delivery_actions.mark_sent,
        ),
        Fix(
            "cancel",
            _("Cancel sending"),
            _("Cancel this message? It will not be sent."),
            _("The message was cancelled."),
            Message.Status.CANCELLABLE,
            delivery_actions.cancel,
            "danger",
        ),
    )
}


def fixes_for(message: Message) -> list[Fix]:
    """The fixes the message's current state allows (none for inbound messages)."""
    if message.direction != Message.Direction.OUT:
        return []
    return [fix for fix in FIXES.values() if message.status in fix.applies_to]


# Said after a retry into a paused bot: queued again, the message still goes nowhere.
WAITS_FOR_RESUME = _(
    "This bot's sending is paused: the message waits until sending is resumed on the bot's page."
)
