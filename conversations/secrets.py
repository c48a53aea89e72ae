"""Generation and checks of the credentials a bot carries."""

import base64
import hmac
import re
import secrets

from django.db.models import CharField, Func
from django.utils.crypto import salted_hmac

API_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
SIGNING_SECRET_PREFIX = "whsec_"


def generate_api_secret() -> str:
    """43 url-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def generate_signing_secret() -> str:
    """Standard Webhooks form: whsec_ + base64 of the raw key bytes."""
    return SIGNING_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class DatabaseSigningSecret(Func):
    """A fresh signing secret of the same form, made by the database: the `db_default`
    of a signing secret column, for a row inserted by a process that does not know the
    column (the previous release during a rolling upgrade). Django's own inserts use
    `generate_signing_secret`.

    PostgreSQL (13+): 32 bytes from two `gen_random_uuid()`s (its strong random source;
    244 random bits), base64. SQLite has no base64: 24 random bytes in hex, which is
    valid base64 too (48 characters of its alphabet)."""

    output_field = CharField()
    allowed_default = True
    arity = 0

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"no signing secret from {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        return (
            f"'{SIGNING_SECRET_PREFIX}' || encode(decode(replace("
            "gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64')",
            [],
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return f"'{SIGNING_SECRET_PREFIX}' || lower(hex(randomblob(24)))", []


def generate_agent_token() -> str:
    return secrets.token_urlsafe(32)


def is_valid_api_secret(value: str) -> bool:
    return bool(API_SECRET_RE.match(value or ""))


def secrets_match(given: str, stored: str) -> bool:
    """Constant-time comparison; empty never matches."""
    if not given or not stored:
        return False
    return hmac.compare_digest(given.encode(), stored.encode())


def fingerprint(value: str) -> str:
    """A stand-in for a secret that a page may carry (a rotate page's "the secret it
    replaces"): the same for the same secret, and telling nothing of it."""
    return salted_hmac("botadmin.secret-fingerprint", value).hexdigest()[:32]


class AlreadyRotated(Exception):
    """The secret a rotation was asked for is no longer the current one: a rotate page
    posted twice (a double click) rotated it the first time."""


def check_replacing(current: str, replacing: str) -> None:
    """Raise AlreadyRotated when `replacing` (a fingerprint, "" for any) is not `current`'s."""
    if replacing and not secrets_match(fingerprint(current), replacing):
        raise AlreadyRotated


def mask(value: str, visible: int = 4) -> str:
    """`abcd••••••••`, `whsec_abcd••••••••` — enough to tell secrets apart, not enough
    to use one. A signing secret's fixed prefix is the same in all of them, so the
    characters shown are the ones after it."""
    if not value:
        return ""
    shown = visible + (len(SIGNING_SECRET_PREFIX) if value.startswith(SIGNING_SECRET_PREFIX) else 0)
    return value[:shown] + "•" * 8
