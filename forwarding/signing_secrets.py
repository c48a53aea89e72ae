"""Each webhook endpoint's own signing secret: revealed to a bot admin who asks, rotated
with a grace period during which deliveries carry a signature with the old secret too.

One secret per endpoint (security review M2): a receiver can verify what is sent to
it, and cannot sign anything another receiver of the bot would accept. The console
and the admin call these; both are audited, never with the value.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record_action, via_key
from conversations.secrets import check_replacing, generate_signing_secret

from .locks import lock_endpoint
from .models import WebhookEndpoint

# The secret's name in the audit log's "secret.reveal" details, as the bot's secrets are
# named there (conversations/bot_secrets.py words it).
SECRET_NAME = "signing_secret"


def reveal_signing_secret(endpoint: WebhookEndpoint, actor, *, via: str) -> str:
    """The endpoint's signing secret for a person who asked to see it, recorded in the
    audit log (which endpoint, never the value). The caller checks that `actor` may see
    it (a bot admin of the endpoint's bot); `via` is "console" or "admin"."""
    record_action(
        actor,
        "secret.reveal",
        bot=endpoint.bot,
        target=endpoint,
        summary=f"Revealed the signing secret of webhook endpoint #{endpoint.pk} in the {via}.",
        details={"secret": SECRET_NAME, "via": via},
    )
    return endpoint.signing_secret


def rotate_signing_secret(
    endpoint: WebhookEndpoint,
    grace: timedelta | None = None,
    *,
    actor=None,
    via: str = "",
    replacing: str = "",
) -> WebhookEndpoint:
    """Issue the endpoint a new signing secret; for `grace` (default
    BOTADMIN_SECRET_GRACE_HOURS) its deliveries are signed with the old one too, then with
    the new one alone. Recorded in the audit log with `actor`; `via` ends the summary
    (" in the console"). `replacing`: as conversations.services.rotate_secret's (raises
    AlreadyRotated)."""
    if grace is None:
        grace = timedelta(hours=settings.BOTADMIN_SECRET_GRACE_HOURS)
    keep = grace > timedelta(0)
    with transaction.atomic():
        # Two rotations take turns: the second keeps the first's. Its bot's row first.
        endpoint = lock_endpoint(endpoint.pk)
        check_replacing(endpoint.signing_secret, replacing)
        endpoint.previous_signing_secret = endpoint.signing_secret if keep else ""
        endpoint.previous_signing_secret_expires_at = timezone.now() + grace if keep else None
        endpoint.signing_secret = generate_signing_secret()
        endpoint.save(
            update_fields=[
                "signing_secret",
                "previous_signing_secret",
                "previous_signing_secret_expires_at",
                "updated_at",
            ]
        )
        record_action(
            actor,
            "endpoint.rotate_signing_secret",
            bot=endpoint.bot,
            target=endpoint,
            summary=f"Rotated the signing secret of webhook endpoint #{endpoint.pk}"
            f" (grace {grace.total_seconds() / 3600:g} h){via}.",
            details={
                "grace_hours": grace.total_seconds() / 3600,
                **({"via": via_key(via)} if via else {}),
            },
        )
    return endpoint
