"""The webhook request forwarding makes: the body (the seed format, with the secret and
media fields filled), its Standard Webhooks signature, and the POST through the outbound
HTTP choke point, classified as success, failure or refused."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.utils.translation import gettext_noop
from standardwebhooks.webhooks import Webhook

from botadmin import http, reasons
from botadmin.logging import MASK, path_secrets
from botadmin.reasons import Reason
from botadmin.retry_after import retry_after_seconds
from messaging.media_links import with_media_fields

from . import attempt_reasons
from .models import WebhookAttempt

# Any 2xx within 15 s is success.
RESPONSE_TIMEOUT = 15
KEEP_BYTES = 1024
# A receiver answering these may say when to come back (Retry-After).
BUSY_STATUSES = (429, 503)
# A POST ends within its deadline after resolving its host (BOTADMIN_DNS_TIMEOUT): a
# worker renews its batch's leases before one that could end past them.
POST_MARGIN = timedelta(seconds=2)


# The body's "secret" for an endpoint not sent the bot's API secret: the seed
# document's value (section 3, `"secret": "-"`).
WITHHELD_SECRET = "-"


def body_secret(bot, endpoint) -> str:
    """What the body's `secret` says to `endpoint`: the bot's API secret, or "-" when the
    endpoint is not sent it (`WebhookEndpoint.sends_api_secret`). Read when each attempt
    is made, so a retry or a replay follows the endpoint's setting of the moment."""
    return bot.secret if endpoint.sends_api_secret else WITHHELD_SECRET


def forward_payload(message, endpoint) -> dict:
    """The seed-format body as the agent sent it, with the secret and msgid/timestamp filled.

    The secret is not stored with the message (the log is visible to operators
    who may not see secrets); it is added here, as the seed document shows, or "-"
    for an endpoint not sent it (`body_secret`). An archived copy of its media adds
    `url`, `content_type`, `size`, `sha256` to the msgtype object (bridge spec
    section 7).
    """
    body = with_media_fields(message, dict(message.body))
    # Missing or null (the agent may send either): receivers rely on both to reply and order.
    # An empty msgid is stored as none (each such callback a new message): filled too.
    if body.get("msgid") in (None, ""):
        body["msgid"] = message.upstream_msgid or message.msgid
    if body.get("timestamp") is None:
        body["timestamp"] = int((message.sent_at or message.created_at).timestamp())
    elif isinstance(body["timestamp"], float):
        # Whole seconds for every source (an agent may send 1718000000.5): receivers
        # decode it as an integer.
        body["timestamp"] = int(body["timestamp"])
    return {"secret": body_secret(message.bot, endpoint), **body}


def encode_body(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def signature_headers(
    signing_secrets: str | list[str], webhook_id: str, body: str
) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's).

    One signature per secret, space-separated: during a signing secret's grace
    period a receiver holding either the old or the new secret verifies it.
    The secrets are the endpoint's own (WebhookEndpoint.signing_secrets)."""
    secrets = [signing_secrets] if isinstance(signing_secrets, str) else signing_secrets
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(webhook_id, now, body) for secret in secrets
        ),
    }


@dataclass
class PostResult:
    outcome: str
    http_status: int | None
    text: str
    duration_ms: int
    started_at: datetime | None = None  # the POST's, as its webhook-timestamp says
    retry_after: float | None = None  # seconds a 429 or 503 asked to wait (Retry-After)


def post_signed(
    url: str,
    signing_secrets: str | list[str],
    webhook_id: str,
    payload: dict,
    *,
    api_secret: str,
) -> PostResult:
    """POST one signed payload through the outbound HTTP choke point; never raises.

    Success is a 2xx complete within RESPONSE_TIMEOUT of the start, connecting
    included (`deadline`): the read timeout alone bounds each wait for more
    bytes, not an answer that keeps crawling in. The answer is kept without the
    bot's `api_secret`, whether or not the payload carries it, and without the token
    in the URL's path (`path_secrets`): a receiver refusing an event may quote them back
    (Express's 404 says `Cannot POST /hooks/TOKEN`), and every operator of the bot reads
    the answers."""
    body = encode_body(payload)
    headers = signature_headers(signing_secrets, webhook_id, body)
    started_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    started = time.monotonic()

    def result(outcome: str, http_status: int | None, text: str) -> PostResult:
        return PostResult(outcome, http_status, text, _since(started), started_at)

    try:
        response = http.request(
            "POST",
            url,
            data=body.encode(),
            headers=headers,
            read_timeout=RESPONSE_TIMEOUT,
            deadline=RESPONSE_TIMEOUT,
            max_bytes=KEEP_BYTES,
            webhook=True,
        )
    except http.UnknownHost as error:
        # Its name was looked up when the endpoint was saved: one gone since is a receiver's
        # DNS being changed, retried on the schedule as a receiver that does not answer (and
        # as it is with BOTADMIN_ALLOW_PRIVATE_URLS on, where urllib3 looks it up).
        return result(
            WebhookAttempt.Outcome.FAILURE, None, attempt_reasons.unanswered(error, KEEP_BYTES)
        )
    except http.UnsafeURLError as error:
        refused = Reason(
            gettext_noop("URL refused: %(error)s"),
            error=reasons.shorten(reasons.of(error), KEEP_BYTES),
        )
        return result(WebhookAttempt.Outcome.REFUSED, None, refused)
    except requests.RequestException as error:
        return result(
            WebhookAttempt.Outcome.FAILURE, None, attempt_reasons.unanswered(error, KEEP_BYTES)
        )
    outcome = WebhookAttempt.Outcome.SUCCESS if response.ok else WebhookAttempt.Outcome.FAILURE
    text = response.text
    for secret in (api_secret, *path_secrets(url)):
        text = _without_secret(text, secret)
    answered = result(outcome, response.status, text[:KEEP_BYTES])
    if response.status in BUSY_STATUSES:
        answered.retry_after = retry_after_seconds(response.headers.get("Retry-After"), started_at)
    return answered


def post_at_most() -> timedelta:
    """How long a POST may take at most, its host's resolution included."""
    return timedelta(seconds=settings.BOTADMIN_DNS_TIMEOUT + RESPONSE_TIMEOUT) + POST_MARGIN


def _without_secret(text: str, secret: str) -> str:
    """`text` with `secret` masked, also the start of it an answer cut at KEEP_BYTES ends in."""
    if not secret:
        return text
    text = text.replace(secret, MASK)
    for length in range(len(secret) - 1, 3, -1):
        if text.endswith(secret[:length]):
            return text[:-length] + MASK
    return text


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
