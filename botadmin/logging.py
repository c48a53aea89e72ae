"""Keep API secrets and tokens out of every log line and error report."""

import logging
import re

from django.views.debug import SafeExceptionReporterFilter
from gunicorn.glogging import Logger as GunicornLogger

MASK = "********"

# secret=… in a query string, "secret": "…" in JSON, bearer tokens and
# robot keys (key=…) in URLs.
_PATTERNS = [
    re.compile(r"(?i)(\b(?:secret|key|token|access_token|corpsecret)=)[^&\s\"']+"),
    # …and URL-encoded inside another URL (a login redirect's `next=`).
    re.compile(r"(?i)((?:secret|key|token|access_token|corpsecret)%3D)[^&\s\"'%]+"),
    re.compile(r"(?i)(\"(?:secret|agent_token|signing_secret)\"\s*:\s*\")[^\"]*"),
    re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]+"),
]


def mask_secrets(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class MaskSecretsFilter(logging.Filter):
    """Rewrites a record's final message with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class SecretMaskingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's error pages and mails show request data; mask the secret there too."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER_URL", flags=re.I
    )

    def get_safe_request_meta(self, request):
        meta = super().get_safe_request_meta(request)
        for name in ("QUERY_STRING", "REQUEST_URI", "RAW_URI", "PATH_INFO"):
            if isinstance(meta.get(name), str):
                meta[name] = mask_secrets(meta[name])
        return meta

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, mask_secrets(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class MaskingGunicornLogger(GunicornLogger):
    """Gunicorn access log with the query string's secrets masked."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q", "U"):
            if isinstance(atoms.get(name), str):
                atoms[name] = mask_secrets(atoms[name])
        return atoms


class QuietHousekeepingFilter(logging.Filter):
    """Drops the INFO lines Celery writes for the periodic housekeeping tasks
    (beat's "Sending due task", the worker's "received" and "succeeded").

    They run every few seconds and would bury the lines about real work (and
    `make run`'s banner); their warnings and errors still show.
    """

    def __init__(self, task_names):
        super().__init__()
        self.task_names = frozenset(task_names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        args = record.args
        if isinstance(args, dict):  # the worker's lines: one dict of fields
            return args.get("name") not in self.task_names
        if isinstance(args, tuple):  # beat's line: (entry name, task name)
            return not any(isinstance(a, str) and a in self.task_names for a in args)
        return True
