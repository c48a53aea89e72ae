"""Calls to WeCom's application API with the app's access token (shared/spec/wecom-app.md).

One access token per app lives in the shared cache with its expiry. When it is
missing, one process fetches it (a cache lock) while the others wait for it;
an answer 40014/42001 drops it and the call is repeated once with a new one.
Fetching a token for every call would get the app throttled.

While the cache is down every process fetches its own token: slower, but
sending goes on (the cache holds nothing that must survive).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.reasons import Reason

from .multipart import media_form, upload_digest
from .wecom_answers import TOKEN_ERRCODES

logger = logging.getLogger(__name__)

# API forbidden / no privilege for this member, department or chat.
PERMISSION_ERRCODES = frozenset({48002, 60011})
# The request URL holds the secret: only the failure's classification is kept.
TOKEN_UNREACHABLE = gettext_noop("cannot reach WeCom for an access token: %(error)s")
# Refresh this long before WeCom's expiry, so a token never expires mid-flight.
TOKEN_MARGIN_SECONDS = 300
LOCK_SECONDS = 10
WAIT_STEP_SECONDS = 0.05
# A media_id is valid 3 days; reuse it for the same bytes until an hour before.
MEDIA_REUSE_SECONDS = 3 * 24 * 3600 - 3600


class TokenError(Exception):
    """No access token: WeCom refused the credentials (errcode) or could not be reached;
    `refused`: botadmin refused the connection as the bot is set up (its proxy)."""

    def __init__(
        self, detail: str, errcode: int | None = None, reached: bool = True, refused: bool = False
    ):
        super().__init__(detail)
        self.detail = detail
        self.errcode = errcode
        self.reached = reached
        self.refused = refused


@dataclass(frozen=True)
class App:
    corp_id: str
    agent_id: int
    # Out of its repr, which a traceback's report shows: the secret, and the proxy URL
    # with the proxy's password in it.
    secret: str = field(repr=False)
    proxy_url: str = field(default="", repr=False)

    @property
    def cache_id(self) -> str:
        # The secret's hash keeps a rotated secret from using the old one's token.
        digest = hashlib.sha256(self.secret.encode()).hexdigest()[:12]
        return f"{self.corp_id}:{self.agent_id}:{digest}"


def base_url() -> str:
    return settings.WECOM_API_BASE.rstrip("/")


def request(app: App, method: str, api: str, **kwargs) -> http.HttpResponse:
    """One request to `{WECOM_API_BASE}/cgi-bin/{api}`, through the app's proxy if it has one."""
    if app.proxy_url:
        kwargs["proxy"] = app.proxy_url
    return http.request(method, f"{base_url()}/cgi-bin/{api}", **kwargs)


# --- the access token ----------------------------------------------------


def _token_key(app: App) -> str:
    return f"wecom_app:token:{app.cache_id}"


def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # the cache is down: behave as if empty
        logger.warning("Cache unavailable while reading %s", key.split(":")[0], exc_info=True)
        return None


def access_token(app: App) -> str:
    """The app's token from the cache, or fetched by one process while the others wait."""
    token = _cache_get(_token_key(app))
    if token:
        return token
    lock = f"wecom_app:token-lock:{app.cache_id}"
    try:
        mine = cache.add(lock, 1, timeout=LOCK_SECONDS)
    except Exception:
        return _fetch_token(app, store=False)
    if not mine:
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_SECONDS)
            token = _cache_get(_token_key(app))
            if token:
                return token
        # The fetching process died or is stuck: fetch ourselves.
    try:
        return _fetch_token(app, store=True)
    finally:
        if mine:
            cache.delete(lock)


def _fetch_token(app: App, store: bool) -> str:
    try:
        response = request(
            app,
            "GET",
            "gettoken",
            params={"corpid": app.corp_id, "corpsecret": app.secret},
        )
    except (http.UnknownHost, requests.RequestException) as error:
        # WeCom's own name not found is this server's DNS failing, not a URL to refuse.
        reason = Reason(TOKEN_UNREACHABLE, error=http_failures.failure_reason(error))
        raise TokenError(reason, reached=False) from None
    except http.UnsafeURLError as error:
        raise TokenError(reasons.of(error), reached=False, refused=True) from None
    try:
        answer = response.json()
        errcode = int(answer.get("errcode", 0))
    except (ValueError, TypeError, AttributeError):
        unexpected = gettext_noop("unexpected gettoken answer (HTTP %(status)s): %(answer)s")
        raise TokenError(
            Reason(unexpected, status=response.status, answer=response.excerpt(200)),
            reached=False,
        ) from None
    if errcode != 0 or not answer.get("access_token"):
        # The secret never appears here: only WeCom's errcode and errmsg.
        raise TokenError(f"gettoken: {errcode} {answer.get('errmsg', '')}"[:500], errcode)
    token = str(answer["access_token"])
    lifetime = int(answer.get("expires_in") or 7200)
    if store:
        try:
            cache.set(_token_key(app), token, timeout=max(lifetime - TOKEN_MARGIN_SECONDS, 1))
        except Exception:
            logger.warning("Cache unavailable: the access token is not shared", exc_info=True)
    return token


def drop_token(app: App, token: str) -> None:
    """Forget a token WeCom refused, unless another process already replaced it."""
    try:
        if cache.get(_token_key(app)) == token:
            cache.delete(_token_key(app))
    except Exception:
        pass


def call(app: App, method: str, api: str, **kwargs) -> tuple[http.HttpResponse, dict | None]:
    """The response and its JSON answer (None when it is not JSON).

    A 40014/42001/40001 answer drops the token and repeats the call once with a new
    one: WeCom refused it before doing anything. Raises TokenError and the
    `requests` exceptions of the call itself.
    """
    params = dict(kwargs.pop("params", None) or {})
    for attempt in range(2):
        token = access_token(app)
        response = request(app, method, api, params={**params, "access_token": token}, **kwargs)
        answer = _json(response)
        errcode = _errcode(answer)
        if errcode in TOKEN_ERRCODES and attempt == 0:
            drop_token(app, token)
            continue
        return response, answer
    return response, answer  # pragma: no cover - the loop always returns


def _json(response: http.HttpResponse) -> dict | None:
    if "json" not in response.headers.get("Content-Type", "") and not response.content.startswith(
        b"{"
    ):
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _errcode(answer: dict | None) -> int | None:
    if answer is None:
        return None
    try:
        return int(answer.get("errcode", 0))
    except (TypeError, ValueError):
        return None


# --- media -----------------------------------------------------------------


def _media_key(app: App, kind: str, content: bytes, filename: str) -> str:
    return f"wecom_app:media:{app.cache_id}:{kind}:{upload_digest(content, filename)}"


def cached_media_id(app: App, kind: str, content: bytes, filename: str) -> str | None:
    return _cache_get(_media_key(app, kind, content, filename))


def forget_media(app: App, kind: str, content: bytes, filename: str) -> None:
    try:
        cache.delete(_media_key(app, kind, content, filename))
    except Exception:
        pass


def upload_media(
    app: App, kind: str, content: bytes, filename: str
) -> tuple[http.HttpResponse, dict | None]:
    """media/upload; a media_id answered is remembered for the same bytes and name (3 days)."""
    body, content_type = media_form(content, filename)
    response, answer = call(
        app,
        "POST",
        "media/upload",
        params={"type": kind},
        data=body,
        headers={"Content-Type": content_type},
    )
    media_id = (answer or {}).get("media_id")
    if _errcode(answer) == 0 and media_id:
        try:
            cache.set(
                _media_key(app, kind, content, filename), str(media_id), timeout=MEDIA_REUSE_SECONDS
            )
        except Exception:
            pass
    return response, answer
