"""The last "Test the connection" of a bot, as its page shows it next to the button.

The test is an operator action, recorded in the audit log with its verdict and reason
(conversations.services.check_connection): the page reads the latest such entry, so the
result stays in view after the redirect, for every operator, until the next test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from audit.models import OperatorAction
from botadmin import reasons

ACTION = "bot.check_connection"


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    reason: str  # a Reason where the connector worded it
    at: datetime
    by: str
    # No verdict yet: the connection was still being made (connectors.base.StillConnecting).
    connecting: bool = False


def last_connection_test(bot) -> ConnectionTest | None:
    action = (
        OperatorAction.objects.filter(bot=bot, action=ACTION)
        .order_by("-created_at", "-id")
        .only("details", "summary", "created_at", "actor_label")
        .first()
    )
    if action is None:
        return None
    details = action.details if isinstance(action.details, dict) else {}
    ok = bool(details.get("ok"))
    connecting = "ok" in details and details["ok"] is None
    if "reason" in details:
        reason = reasons.from_json(details["reason"])
    else:  # recorded before the reason was kept: the summary's English
        reason = action.summary.removeprefix("OK: " if ok else "Failed: ")
    return ConnectionTest(
        ok=ok, reason=reason, at=action.created_at, by=action.actor_label, connecting=connecting
    )
