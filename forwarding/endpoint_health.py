"""An endpoint's health as its deliveries' answers are recorded: a success resets its
failure streak, failures extend it, and an endpoint whose deliveries kept failing for
DISABLE_AFTER is disabled (the operator re-enables it: forwarding/endpoints.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

from .models import WebhookAttempt, WebhookEndpoint

if TYPE_CHECKING:
    from .webhook_delivery import Attempt

logger = logging.getLogger(__name__)

# An endpoint whose deliveries kept failing for this long is disabled: no success, and
# never QUIET_RESETS without a failure (a failure after such a quiet spell starts anew).
DISABLE_AFTER = timedelta(days=3)
QUIET_RESETS = timedelta(hours=24)


def keep_endpoint_health(attempts: list[Attempt], now: datetime) -> None:
    """Per endpoint, in id order (every worker locks them in the same order): a success
    resets its failure streak; the failures after its last success in this batch extend it."""
    outcomes: dict[int, list[bool]] = {}
    for attempt in attempts:
        succeeded = attempt.result.outcome == WebhookAttempt.Outcome.SUCCESS
        outcomes.setdefault(attempt.delivery.endpoint_id, []).append(succeeded)
    for endpoint_id, successes in sorted(outcomes.items()):
        if any(successes):
            _endpoint_succeeded(endpoint_id, now)
            successes = successes[len(successes) - successes[::-1].index(True) :]
        if successes:
            _endpoint_failed(endpoint_id, now, failures=len(successes))


def _endpoint_succeeded(endpoint_id: int, now: datetime) -> None:
    # To the second: workers delivering to one busy endpoint do not queue on its row.
    WebhookEndpoint.objects.filter(
        Q(failure_streak__gt=0)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - timedelta(seconds=1)),
        pk=endpoint_id,
    ).update(last_success_at=now, failure_streak=0, failing_since=None)


def _endpoint_failed(endpoint_id: int, now: datetime, failures: int = 1) -> None:
    """Failures since `failing_since` (the streak the admin shows with it); an endpoint
    whose failures kept coming for DISABLE_AFTER is disabled.

    "Kept coming": its failure clock (`failing_since`) starts again at a failure that
    follows QUIET_RESETS without any, so one failure on Monday and the next on Thursday
    (nothing to deliver in between) is a fresh start, not three days of failing. One
    message's retries fail at most 10 h apart: an endpoint that fails what it is sent,
    while it is sent something every day, is disabled after DISABLE_AFTER. (An endpoint
    that received nothing has no failures: it is never disabled.)"""
    # Both read the row as it was before this UPDATE (SQL evaluates every SET on the old row).
    fresh_start = Q(failing_since__isnull=True) | Q(last_failure_at__lt=now - QUIET_RESETS)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        last_failure_at=now,
        failure_streak=Case(
            When(fresh_start, then=Value(failures)), default=F("failure_streak") + failures
        ),
        failing_since=Case(
            When(fresh_start, then=Value(now, output_field=DateTimeField())),
            default=F("failing_since"),
        ),
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, disabled_at__isnull=True, failing_since__lte=now - DISABLE_AFTER
    ).update(
        disabled_at=now,
        stopped_at=F("failing_since"),  # what failed since then was missed
        disabled_reason=Reason(
            gettext_noop(
                "Deliveries kept failing for %(days)s days: no success, and never %(hours)s "
                "hours without a failure."
            ),
            days=DISABLE_AFTER.days,
            hours=int(QUIET_RESETS.total_seconds() // 3600),
        ),
    )
    if disabled:
        logger.warning(
            "Webhook endpoint %s disabled after %s of failures.", endpoint_id, DISABLE_AFTER
        )
