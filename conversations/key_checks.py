"""The last check of each group robot key, as the key table on the bot page shows it:
never checked, works, or failed and why.

"Test the connection" asks about a sample of the keys, the contact sync about all of
them (`Connector.check_contacts`); both keep each verdict here, on the conversation,
for as long as it still has the key that was checked (an operator may have entered a
new one meanwhile, which the next check asks about).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason
from connectors.base import ContactCheck

from .models import Conversation

# A key found not working without a reason of the connector's (it gives one).
NOT_WORKING = gettext_noop("the key does not work")


def key_check_values(check: ContactCheck, now: datetime) -> dict:
    """The conversation's fields that keep `check`."""
    error = "" if check.works else (check.reason or Reason(NOT_WORKING))
    return {"key_checked_at": now, "key_check_error": error}


def record_key_checks(checks: Iterable[ContactCheck], now: datetime | None = None) -> None:
    """Keep each verdict on its conversation, if it still has the key checked."""
    now = now or timezone.now()
    for check in checks:
        conversation = check.conversation
        Conversation.objects.filter(pk=conversation.pk, robot_key=conversation.robot_key).update(
            **key_check_values(check, now)
        )
