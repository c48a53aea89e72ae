"""Keep API secrets and tokens out of every log line and error report; and, with
LOG_FORMAT=json, write one JSON object per line carrying the request id, bot and
message id that the code handling it bound (`bind`)."""

import contextvars
import json
import logging
import re
import time
from urllib.parse import unquote, urlsplit

from django.views.debug import SafeExceptionReporterFilter
from gunicorn.glogging import Logger as GunicornLogger

from .client_address import client_address

MASK = "********"

# A query parameter is secret when its name is or ends in one of these words
# (`agent_token`, `corpsecret`, `signing_secret`, `encoding_aes_key`, `proxy_passwd`,
# `X-Amz-Signature`, `X-Amz-Credential`), or is one of the short names services put keys
# under (Azure Functions' `code=`, a SAS `sig=`): masking a harmless `monkey=` too is the
# cheaper mistake.
_SECRET_SUFFIXES = r"secret|key|token|password|passwd|pwd|signature|credentials?"
_SECRET_NAME = re.compile(rf"(?:{_SECRET_SUFFIXES})$|^(?:code|sig|pass|auth)$")
# A name, then `=`, or inside another URL (a login redirect's `next=`) `%3D` or `%253D`.
# The name is anything up to the separator, percent-encoded or not (`secre%74`,
# `secret%5B%5D`), and is judged decoded (`_is_secret_name`).
_PARAMETER = re.compile(r"(?i)((?:(?!%3D|%253D|%26|%2526)[^\s&?;=\"'/])+)(=|%3D|%253D)")
# Its value ends at `&` (or, inside another URL, an encoded one).
_VALUE = re.compile(r"[^&\s\"']+")
_ENCODED_VALUE = re.compile(r"(?i)(?:(?!%26|%2526)[^&\s\"'])+")
# The same names in JSON, a Python repr or a traceback's locals, before a quoted value
# (a backslash escapes a quote inside it).
_NAME = rf"(?<![a-z0-9])[a-z0-9_]*(?:{_SECRET_SUFFIXES})"
_IN_QUOTES = r"(?:[^'\\]|\\.)*"
_IN_DOUBLE_QUOTES = r'(?:[^"\\]|\\.)*'
_PATTERNS = [
    # JSON, and a Python dict's repr in an exception's text.
    re.compile(rf"(?i)(\"{_NAME}\"\s*:\s*\"){_IN_DOUBLE_QUOTES}"),
    re.compile(rf"(?i)('{_NAME}'\s*:\s*'){_IN_QUOTES}"),
    # A Python object's repr, a traceback's local or source line: App(secret='…'),
    # token = "…".
    re.compile(rf"(?i)({_NAME}\s*=\s*'){_IN_QUOTES}"),
    re.compile(rf"(?i)({_NAME}\s*=\s*\"){_IN_DOUBLE_QUOTES}"),
    re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]+"),
    # A URL's whole user part, user name included: https://TOKEN@host/…,
    # https://user:password@host/… and https://TOKEN:x-oauth-basic@host/… all carry a
    # credential, and no rule about which half holds it is safe. It ends before the path,
    # the query or the fragment (`http://host:80?next=a@b` has none), at its last `@`
    # (`user:p@ss@host`, a password with an `@` written as is).
    re.compile(r"(://)[^/?#\s\"'<>]+(?=@)"),
]


def _is_secret_name(name: str) -> bool:
    """Whether a query parameter's name, as written, is secret once decoded as Django
    decodes it (`secre%74`, `%53ECRET`, and `secre%2574` inside another URL, are
    `secret`), its PHP-style `[…]` parts included: `secret[]`, `secret%5B0%5D` and
    `auth[token]`, as scripts written for PHP send them."""
    for _ in range(3):  # nested URLs encode again at each level
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    name = re.split(r"[?&;/\s]", name)[-1].lower()
    return any(_SECRET_NAME.search(part.strip()) for part in re.split(r"[][]", name))


def _mask_parameters(text: str) -> str:
    masked, done = [], 0
    for parameter in _PARAMETER.finditer(text):
        if parameter.start() < done or not _is_secret_name(parameter.group(1)):
            continue
        value = (_VALUE if parameter.group(2) == "=" else _ENCODED_VALUE).match(
            text, parameter.end()
        )
        if value:
            masked += [text[done : parameter.end()], MASK]
            done = value.end()
    return "".join(masked) + text[done:] if masked else text


# --- Secrets in a URL's path ------------------------------------------------------
# Webhook receivers put their credential in the path: Slack's /services/T…/B…/TOKEN,
# Discord's /api/webhooks/ID/TOKEN, Feishu's and Lark's /open-apis/bot/v2/hook/UUID,
# Zapier's /hooks/catch/N/TOKEN/, a Power Automate workflow's id, a generic /hooks/TOKEN.
# A path is masked from the known receivers' prefix on, and any segment that looks random
# (`_looks_random`) wherever it is; the host and the other segments stay, so the operator
# still tells which endpoint it was.
_KEPT_PREFIXES = [
    (r"hooks\.slack\.com", r"/(?:services|triggers|workflows)/[^/]+/[^/]+/"),
    (r"(?:[a-z]+\.)?discord(?:app)?\.com", r"/api(?:/v\d+)?/webhooks/[^/]+/"),
    (r"open\.(?:feishu\.cn|larksuite\.com|larkoffice\.com)", r"/open-apis/bot/v2/hook/"),
    (r"hooks\.zapier\.com", r"/hooks/catch/[^/]+/"),
]
_KEPT_PREFIXES = [(re.compile(host), re.compile(prefix)) for host, prefix in _KEPT_PREFIXES]
# A segment's token: what may be in one (base64url, hex, a Telegram bot's `123:ABC`), up
# to anything else (a `)` or a `,` after a URL in a sentence).
_SEGMENT_TOKEN = re.compile(r"[A-Za-z0-9._~+=:@%-]+")
_UUID = re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WORD_SEPARATORS = re.compile(r"[-_.~:@=%+]")
# A URL in a text: its scheme, its host (after a user part), its path. And the path
# requests and urllib3 write without the rest ("HTTPSConnectionPool(host='h', port=443):
# Max retries exceeded with url: /services/…", urllib3's debug line `https://h:443 "POST
# /services/… HTTP/1.1" 200`).
_PATH_END = r"[^?#\s\"'<>\\]*"
_URL_PATHS = [
    re.compile(rf"(?i)\b[a-z][a-z0-9+.-]*://(?P<host>[^/?#\s\"'<>\\]*)(?P<path>/{_PATH_END})"),
    re.compile(rf"(?:host='(?P<host>[^']*)'[^)]*\): [\w ]*)?with url: (?P<path>/{_PATH_END})"),
    re.compile(rf"(?i)://(?P<host>[^/\s\"]+) \"[A-Z]+ (?P<path>/{_PATH_END})"),
]


# The runs a word is made of: digits, capitals, and lower-case letters each with the capital
# before them (`TeamOpsChannel01` is Team|Ops|Channel|01).
_RUN = re.compile(r"[0-9]+|[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_HEX_TOKEN = re.compile(r"(?=.*[0-9])(?=.*[a-fA-F])(?:[0-9a-f]{16,}|[0-9A-F]{16,})")
# Six consonants in a row: no English word or pinyin syllable has them (`https` has five).
_UNSPOKEN = re.compile(r"(?i)[b-df-hj-np-tv-xz]{6}")


def _changes(word: str) -> int:
    """How many times `word` goes from one run (`_RUN`) to the next."""
    return max(0, len(_RUN.findall(word)) - 1)


def _choppy(changes: int, length: int, least: int) -> bool:
    # A generated token changes run every second character or so (base64url: 6 in 10,
    # lower-case letters and digits: 4 in 10); a name a person wrote, seldom more than once
    # in 5 (`customerServiceBotV2Prod`: 5 in 24).
    return changes >= least and changes >= 0.25 * length


def _looks_random(token: str) -> bool:
    """Whether a path segment looks like a generated token, not a name a person chose.

    16 characters or more, and: a UUID in it; or a word of it (between `-`, `_`, `.`, …)
    that is 16 hex digits or more mixing letters and digits, or changes run (`_RUN`: from
    letters to digits, from word to word) 4 times or more and at least once in 4
    characters (`q3v8fJ2kLm9PzX7wR4tY`, `xbpq7r8nqfdy5fckn5yo`), or has 3 runs of digits
    in 12 characters or more, or 6 consonants in a row; or the whole segment changes run 6
    times or more, as often (a base64url token its `-` and `_` cut into short words).

    Names stay, hyphenated, underscored or camel-cased, with a few digits:
    `receiver-prod2024`, `build-notifications-2026`, `team-ops-channel01`,
    `TeamOpsChannel01`, `2024-01-15-release-notes`, `qingdao-ops-robot-2025`."""
    if len(token) < 16:
        return False
    if _UUID.search(token):
        return True
    words = [word for word in _WORD_SEPARATORS.split(token) if word]
    for word in words:
        if (
            _HEX_TOKEN.fullmatch(word)
            or _choppy(_changes(word), len(word), 4)
            or (len(word) >= 12 and len(re.findall(r"[0-9]+", word)) >= 3)
            or _UNSPOKEN.search(word)
        ):
            return True
    return _choppy(sum(map(_changes, words)), sum(map(len, words)), 6)


def _secret_tokens(path: str, host: str) -> list[re.Match]:
    """The tokens of `path` that are secret: after a known receiver's prefix on `host`
    (Slack, Discord, Feishu and Lark, Zapier), and any that looks random (`_looks_random`)."""
    host = host.rpartition("@")[2].lower()
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    for receiver, prefix in _KEPT_PREFIXES:
        if receiver.fullmatch(host) and (kept := prefix.match(path)):
            return list(_SEGMENT_TOKEN.finditer(path, kept.end()))
    return [token for token in _SEGMENT_TOKEN.finditer(path) if _looks_random(token.group())]


def mask_path(path: str, host: str = "") -> str:
    """`path` with its secret tokens masked (`_secret_tokens`)."""
    masked, done = [], 0
    for token in _secret_tokens(path, host):
        masked += [path[done : token.start()], MASK]
        done = token.end()
    return "".join(masked) + path[done:]


def path_secrets(url: str) -> list[str]:
    """The secret tokens of `url`'s path, to mask where the other side quotes them (a
    receiver's `Cannot POST /hooks/TOKEN`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [token.group() for token in _secret_tokens(parts.path, parts.netloc)]


def _mask_paths(text: str) -> str:
    for pattern in _URL_PATHS:
        text = pattern.sub(
            lambda m: (
                m.group()[: m.start("path") - m.start()]
                + mask_path(m.group("path"), m.group("host") or "")
            ),
            text,
        )
    return text


def mask_secrets(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    if "/" in text:
        text = _mask_paths(text)
    if "=" in text or "%" in text:
        text = _mask_parameters(text)
    return text


def error_text(error: BaseException) -> str:
    """`Type: text` of an exception, for a reason operators read (a deletion job's, a
    media item's): its own words, with what a URL in them carries masked (an endpoint's
    `user:password@`, `?access_token=`, a signature)."""
    return mask_secrets(f"{type(error).__name__}: {error}")


class MaskSecretsFilter(logging.Filter):
    """Rewrites a record's final message, and its traceback and stack, with secrets masked.

    A text formatter appends the traceback after the message: an exception's own words
    (`ValueError: … ?access_token=…`) and its source lines are masked here too, written
    once into `exc_text`, which formatters print instead of formatting `exc_info` again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_TRACEBACKS = logging.Formatter()


class OneLineWarningFilter(logging.Filter):
    """Turns a record into a warning without its traceback.

    Django logs a request for a host not in ALLOWED_HOSTS (django.security.DisallowedHost)
    as an error with a traceback: a scanner or a misconfigured probe is not a fault of
    botadmin's, and its message says all there is to know.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return True


class SecretMaskingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's error pages and mails show request data; mask the secret there too."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|DATABASE_URL|BROKER_URL",
        flags=re.I,
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
    """Gunicorn access log with the client's address and the query string's secrets
    masked; JSON lines with LOG_FORMAT=json (the access line is the message)."""

    def setup(self, cfg):
        super().setup(cfg)
        import os

        log_format = os.environ.get("LOG_FORMAT", "text")
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                use_format(handler, log_format)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # gunicorn's %(h)s is the peer, the proxy's address behind nginx: the client's
        # instead, as a trusted proxy names it (botadmin/client_address.py).
        atoms["h"] = client_address(environ) or "-"
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


# --- Context: what a log line is about --------------------------------------------

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)
CONTEXT_FIELDS = ("request_id", "bot", "message_id")


def bind(**fields) -> None:
    """Add fields (request_id, bot, message_id) to every later log line of this request
    or task. A one-line call where the code learns them."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v}})


def clear_context(**fields) -> None:
    """Start a new request or task: forget the previous one's fields."""
    _context.set({k: v for k, v in fields.items() if v})


def current_context() -> dict:
    return dict(_context.get() or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and, where known,
    request_id, bot, message_id and task_id (fields given as `extra=` win)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        entry.update(current_context())
        for name in (*CONTEXT_FIELDS, "task_id"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if "task_id" not in entry:
            task_id = _celery_task_id()
            if task_id:
                entry["task_id"] = task_id
        if record.exc_info:
            entry["exc"] = mask_secrets(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = mask_secrets(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _celery_task_id() -> str | None:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover
        return None
    request = getattr(current_task, "request", None) if current_task else None
    return getattr(request, "id", None)


def use_format(handler: logging.Handler, log_format: str) -> None:
    """Give a handler (Celery's, gunicorn's) our masking and, for "json", our format."""
    if not any(isinstance(f, MaskSecretsFilter) for f in handler.filters):
        handler.addFilter(MaskSecretsFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
