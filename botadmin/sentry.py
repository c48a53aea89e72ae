"""Error reports to Sentry when SENTRY_DSN is set, with secrets removed first.

`scrub_event` runs on every event and breadcrumb before it leaves the process:
values under secret-looking keys are replaced and every other string is masked
as log lines are (`botadmin.logging.mask_secrets`), so a secret in a URL, a
header, a request body or a local variable of a traceback never reaches Sentry.
Sentry sends a local variable as its repr (`"'value'"`, `"App(secret='…')"`):
the name decides for the first, the masking of `name='…'` for the second, and
objects holding secrets keep them out of their repr (`field(repr=False)`).
"""

from __future__ import annotations

import re
from typing import Any

from .logging import MASK, mask_secrets

# A name holding a secret: any containing one of these words (`agent_token`,
# `signing_secret`, `proxy_password`, `credentials`), or a key (`key`, `api_key`,
# `encoding_aes_key`, `robot_key`, `key_material`). Masking a harmless `monkey` too is
# the cheaper mistake.
_SECRET_KEY = re.compile(
    r"(?i)(secret|token|passw|pwd|authorization|cookie|credential|signature|dsn"
    r"|key$|keys$|key[_-])"
)


def scrub(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Headers arrive as [name, value] pairs: judge the value by the name.
        if len(value) == 2 and isinstance(value[0], str) and _SECRET_KEY.search(value[0]):
            return [value[0], MASK]
        return [scrub(item) for item in value]
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's `before_send` and `before_breadcrumb`: the event with secrets masked."""
    return scrub(event)


def init_sentry(dsn: str, environment: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        before_send=scrub_event,
        before_breadcrumb=scrub_event,
        traces_sample_rate=0.0,
    )
