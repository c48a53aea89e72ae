"""The JSON API: one NinjaAPI, WeCom's errcode envelope for every answer.

Apps add their routers in `botadmin/urls.py`. Any failure, including ones
the framework raises before a view runs, is answered as
`{"errcode": N, "errmsg": "…"}` with a fitting HTTP status: never HTML,
never a traceback.
"""

import json
import logging
from collections.abc import Callable, Mapping

from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import HttpRequest, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyQuery

from conversations.models import Bot
from conversations.secrets import secrets_match
from conversations.services import addressed_conversation, bot_for_secret

from . import jsontext
from .bearer import bearer_challenge, bearer_token
from .errors import ApiError, Err, errmsg_value
from .request_body import body_length

logger = logging.getLogger(__name__)


# Compact, as WeCom writes it: scripts check the bytes (grep '"errcode":0').
COMPACT_JSON = {"ensure_ascii": False, "separators": (",", ":")}


def envelope(
    errcode: int,
    errmsg: str,
    fields: Mapping[str, object] | None = None,
    *,
    http_status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """WeCom's answer `{"errcode", "errmsg", **fields}` with the HTTP status `http_status`
    and the response headers `headers`.

    The body's other fields come as one mapping, so that any name can be one (a `status`,
    `headers`, `http_status`…); only `errcode` and `errmsg` are the envelope's own, and a
    field of that name is a mistake (ValueError) rather than an answer contradicting itself.
    """
    fields = fields or {}
    if clash := {"errcode", "errmsg"} & fields.keys():
        raise ValueError(f"envelope fields may not replace {', '.join(sorted(clash))}")
    response = JsonResponse(
        {"errcode": errcode, "errmsg": errmsg, **fields},
        status=http_status,
        json_dumps_params=COMPACT_JSON,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    response.errcode = errcode  # counted by botadmin.metrics.ApiRequestsMiddleware
    return response


class CompactJSONRenderer(JSONRenderer):
    """What an endpoint returns as data is written as `envelope` writes it."""

    json_dumps_params = COMPACT_JSON


class ErrorAnswer(Schema):
    """Every error answer: WeCom's envelope with a non-zero errcode."""

    errcode: int = Field(..., description="See docs/api.md for every code.", examples=[93000])
    errmsg: str = Field(..., examples=["invalid secret"])


# What every endpoint can answer besides its own errors: a bad parameter or
# body (400), a wrong secret (401), an unexpected error or unreachable database (503).
COMMON_ERROR_STATUSES = frozenset({400, 401, 503})


def answers(ok: type, *statuses: int) -> dict:
    """An operation's `response=`: `ok` for 200, ErrorAnswer for its error statuses.

    Every status an endpoint can answer is listed, so /api/openapi.json is
    complete (schemathesis checks it, tests/botadmin/test_openapi_conformance.py).
    """
    return {200: ok, COMMON_ERROR_STATUSES | frozenset(statuses): ErrorAnswer}


def error_response(error: ApiError) -> JsonResponse:
    return envelope(error.errcode, error.errmsg, http_status=error.status, headers=error.headers)


def refuse_body_over(request: HttpRequest, limit: int) -> None:
    """7000002 (HTTP 413) for a body over `limit` bytes: its declared Content-Length,
    before anything reads it; a chunked one after reading `limit` + 1 bytes of it
    (botadmin.request_body)."""
    if body_length(request, limit) > limit:
        raise Err.BODY_TOO_LARGE.error(f"request body too large: at most {limit} bytes")


def json_body(raw: bytes, *, strict: bool = True):
    """A request body decoded as JSON (`botadmin.jsontext.loads`), or the error every
    endpoint answers for it: 7000004 nested too deeply, 7000001 not JSON, 40035 an object
    naming a key twice (JSON that is not an object is the caller's to refuse, with
    `not_an_object`).

    A key given twice is refused, even with the same value twice: readers of JSON differ
    on which of two they take (Python the last, others the first or neither), so the
    caller's mistake is told rather than a guess sent or stored, as a query parameter
    given twice with different values is (`given_twice_differently`)."""
    try:
        return jsontext.loads(raw, strict=strict, unique_keys=True)
    except jsontext.TooDeep as error:
        raise Err.JSON_TOO_DEEP.error(
            f"JSON nested too deeply: at most {error.limit} levels"
        ) from None
    except jsontext.DuplicateKey as error:
        raise Err.INVALID_PARAMETER.error(
            f"invalid parameter: duplicate key in JSON body: {errmsg_value(error.path)}"
        ) from None
    except ValueError as error:
        raise not_json(error) from None


def not_json(problem: ValueError | str) -> ApiError:
    """7000001, worded alike by every endpoint: WeCom's start, then where it went wrong."""
    if isinstance(problem, json.JSONDecodeError):
        # Some of json's messages end in "at" ("Invalid control character at").
        where = f"at line {problem.lineno} column {problem.colno}"
        problem = f"{problem.msg.removesuffix(' at')} {where}"
    elif isinstance(problem, UnicodeDecodeError):
        problem = "it is not UTF-8"
    return Err.NOT_JSON.error(f"Warning: wrong json format. The body is not JSON: {problem}")


def not_an_object() -> ApiError:
    """40035 for a body that is JSON but not an object (an array, a string, a number…),
    worded alike by every endpoint: it names a parameter of the wrong shape, as
    docs/api.md lists it; 7000001 is for a body that is not JSON at all."""
    return Err.INVALID_PARAMETER.error("invalid parameter: the body must be a JSON object")


# The longest conversation id stored.
MAX_CONVERSATION_ID_LENGTH = 255


def well_formed_conversation_id(conversation_id: str | None) -> bool:
    """An id a query may look for: no database takes a NUL or a lone surrogate (which a
    JSON body, /api/callback's, can hold) as a query parameter."""
    return (
        bool(conversation_id)
        and len(conversation_id) <= MAX_CONVERSATION_ID_LENGTH
        and jsontext.unstorable(conversation_id, "conversation_id") is None
    )


RequestPart = Callable[[HttpRequest], str | None]


def given_twice_differently(request: HttpRequest, name: str) -> bool:
    """True when the query string gives `name` more than once with different values:
    Django would take the last silently, and a caller that sends two has a mistake to
    learn about (the same value twice is one value)."""
    return len(set(request.GET.getlist(name))) > 1


def bearer_secret(request: HttpRequest) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None without one.

    Every endpoint that acts for a bot takes its secret as a Bearer token (the query
    string's `secret=` has no scheme to name), so a 401 challenges for one
    (`bearer_challenge`)."""
    return bearer_token(request.headers.get("Authorization", ""))


class BotSecret(APIKeyQuery):
    """The bot's API secret, `?secret=…` or `Authorization: Bearer …`: every /api/
    endpoint that acts for a bot.

    `request.auth` becomes the bot. The lookup compares in constant time and
    accepts a rotated-out secret during its grace period
    (`conversations.services.bot_for_secret`); a wrong or missing secret is
    93000 with HTTP 401 and a Bearer challenge (`bearer_challenge`).

    An endpoint that also accepts the secret elsewhere passes `secret` (read
    first, the query is the fallback). The header's secret counts as that one does; a
    request carrying both that differ is refused (7000005, HTTP 400) rather than one
    picked: a caller that sends two secrets (two in the query string too) has a mistake to
    learn about. One whose request names its
    conversation passes `conversation_id`: the same query then finds the
    conversation, `request.conversation` (None when the bot has no such
    conversation), with only its id loaded unless `whole_conversation`. One
    class, so the OpenAPI document has one security scheme.
    """

    param_name = "secret"
    openapi_description = (
        "The bot's API secret, in the query string or as `Authorization: Bearer <secret>` "
        '(errcode 93000, HTTP 401 with `WWW-Authenticate: Bearer realm="botadmin"`, when '
        "wrong or missing; 7000005, HTTP 400, when two given differ: both, or two in the query)."
    )

    def __init__(
        self,
        *,
        secret: RequestPart | None = None,
        conversation_id: RequestPart | None = None,
        whole_conversation: bool = False,
    ):
        self.read_secret = secret
        self.read_conversation_id = conversation_id
        self.whole_conversation = whole_conversation
        super().__init__()

    def _get_key(self, request: HttpRequest) -> str | None:
        if given_twice_differently(request, self.param_name):
            raise Err.SECRET_CONFLICT.error(
                "two different secrets: the query string gives secret twice",
                headers=bearer_challenge("invalid_request"),
            )
        given = self.read_secret(request) if self.read_secret is not None else None
        given = given or super()._get_key(request)
        bearer = bearer_secret(request)
        if bearer is None:
            return given
        if given and not secrets_match(given, bearer):
            raise Err.SECRET_CONFLICT.error(headers=bearer_challenge("invalid_request"))
        return bearer

    def authenticate(self, request: HttpRequest, key: str | None) -> Bot:
        request.conversation = None
        conversation_id = self.read_conversation_id and self.read_conversation_id(request)
        if not well_formed_conversation_id(conversation_id):
            bot = bot_for_secret(key)
        else:
            bot = bot_for_secret(key, conversation_id, whole_conversation=self.whole_conversation)
            if bot is not None:
                request.conversation = addressed_conversation(bot, conversation_id)
        if bot is None and not key:
            raise Err.NO_SECRET.error(headers=bearer_challenge())
        if bot is None:
            raise Err.INVALID_SECRET.error(headers=bearer_challenge("invalid_token"))
        return bot


def _read_only(view):
    """/api/openapi.json and /api/docs take GET (and HEAD); any other method is 405 as
    everywhere under /api/, not Django's CSRF refusal of a POST without a token."""
    return csrf_exempt(require_safe(view))


api = NinjaAPI(
    title="botadmin API",
    version="1",
    description=(
        "Self-hosted WeCom bot admin. Every answer is WeCom's envelope "
        '`{"errcode": N, "errmsg": "…"}`; errcode 0 means success. A JSON body in which '
        "an object names a key twice, even with the same value, is refused (errcode 40035, "
        "HTTP 400, naming the key's path), as I-JSON (RFC 7493) asks."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    docs_decorator=_read_only,
    auth=BotSecret(),
    renderer=CompactJSONRenderer(),
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError):
    return error_response(exc)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError):
    details = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()) if p not in ('body', 'query'))}: {err.get('msg')}"
        for err in exc.errors[:5]
    )
    return error_response(Err.INVALID_PARAMETER.error(f"invalid parameter: {details}"))


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError):
    return error_response(Err.INVALID_SECRET.error(headers=bearer_challenge()))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400:  # ninja could not read a body it parses itself
        return error_response(not_json("it cannot be parsed"))
    return envelope(Err.INVALID_PARAMETER.code, str(exc), http_status=exc.status_code)


@api.exception_handler(SuspiciousOperation)
@api.exception_handler(BadRequest)
def _bad_request(request: HttpRequest, exc: Exception):
    """Django's own limits (too many parameters, a body past its size limit)."""
    if isinstance(exc, RequestDataTooBig):
        return error_response(Err.BODY_TOO_LARGE.error())
    return error_response(Err.INVALID_PARAMETER.error(f"invalid parameter: {exc}"))


@api.exception_handler(Exception)
def _unexpected_error(request: HttpRequest, exc: Exception):
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(Err.SYSTEM_BUSY.error())


# What a caller of an unknown path most likely wanted: a tool pointed at botadmin's host
# with WeCom's own path (/cgi-bin/webhook/send?key=…) or a mistyped /api/ path.
SEND_URL_HINT = "botadmin's send URL is /api/send?secret=SECRET&conversation_id=CONVERSATION_ID"


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs):
    """7000404 for an unknown path under /api/ and under WeCom's /cgi-bin/, in WeCom's
    envelope, naming the send URL. The path only: the query string may hold a key."""
    return error_response(
        Err.NO_SUCH_ENDPOINT.error(
            f"no such endpoint: {errmsg_value(request.path, 100)}; {SEND_URL_HINT}"
        )
    )


API_PREFIX = "/api/"
# What describes the body an answer replaced, not the answer.
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "etag"})
_ERROR_FOR_STATUS = {
    400: Err.INVALID_PARAMETER,
    404: Err.NO_SUCH_ENDPOINT,
    405: Err.METHOD_NOT_ALLOWED,
    413: Err.BODY_TOO_LARGE,
}


def error_for_status(status: int) -> Err:
    """The error an answer of HTTP `status` under /api/ carries when nothing more precise is
    known: an answer Django or the web server made (JsonApiAnswersMiddleware), and the ones
    nginx makes itself (deploy/nginx/botadmin.conf, tests/deploy/test_nginx.py checks)."""
    if status >= 500:
        return Err.SYSTEM_BUSY
    return _ERROR_FOR_STATUS.get(status, Err.INVALID_PARAMETER)


# Botadmin's API and WeCom's own paths, which a robot tool given botadmin's host sends to
# (and answers as `api_not_found`): their leading slashes are collapsed and every error
# answer under them is the envelope.
_ENVELOPE_PREFIXES = (API_PREFIX, "/cgi-bin/")


def answers_envelope(path: str) -> bool:
    """Whether an answer for `path` (one leading slash, as ApiPathMiddleware leaves it) is
    WeCom's envelope: /api, /cgi-bin and everything under them."""
    return (path + "/").startswith(_ENVELOPE_PREFIXES)


class ApiPathMiddleware:
    """`/api/send/` and `//api/send` are `/api/send`: every API path answers the same
    with a trailing slash or with more than one leading slash.

    Tools and people add a slash to the URL they paste, or join a base URL ending in
    one with a path starting with one (`POST //api/send` and
    `POST //cgi-bin/webhook/send?key=…` got the console's HTML 404; nginx, whose
    `merge_slashes` is on by default, matches them as the path with one slash too).
    The path is routed as meant instead of redirected: a redirected POST loses its
    body. `request.path` keeps what the client sent, for logs and error messages; the
    middleware after this one tell an API request by `request.path_info`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        path = request.path_info
        if path.startswith("//") and answers_envelope("/" + path.lstrip("/")):
            path = "/" + path.lstrip("/")
        if path.startswith(API_PREFIX) and path.endswith("/") and path != API_PREFIX:
            path = path[:-1]
        request.path_info = path
        return self.get_response(request)


class ApiHeadMiddleware:
    """HEAD on an /api/ path is answered as GET is, without the body (RFC 9110 9.3.2:
    a resource that takes GET takes HEAD). django-ninja routes no HEAD, so
    `HEAD /api/users` was 405. Outside the middleware that write the envelope, so that
    theirs loses its body too; the Content-Length stays the one GET would send."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.method != "HEAD" or not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        request.method = "GET"
        try:
            response = self.get_response(request)
        finally:
            request.method = "HEAD"  # what the logs and a 405's errmsg name
        if not response.streaming:
            response.headers.setdefault("Content-Length", str(len(response.content)))
            response.content = b""
        return response


class JsonApiAnswersMiddleware:
    """Every answer under /api/ and WeCom's /cgi-bin/ is the errcode envelope, whoever
    wrote it.

    django-ninja answers a wrong method with a plain-text 405, and Django
    itself answers HTML for what happens outside a view (a disallowed host, a
    request too large for its limits, an error in a middleware). Those answers
    keep their status, headers and cookies and get the envelope as their body; the
    interactive docs (/api/docs) are HTML when they succeed only.

    The envelope also gets the security headers every other answer has (nosniff,
    Referrer-Policy, Cross-Origin-Opener-Policy, X-Frame-Options, HSTS over HTTPS) from
    Django's own middleware, for an answer that never passed them: one a middleware
    outside SecurityMiddleware failed in.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        # Their process_response only adds what is missing; no request passes through them.
        self.security_headers = [
            SecurityMiddleware(get_response),
            XFrameOptionsMiddleware(get_response),
        ]

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if (
            not answers_envelope(request.path_info)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        answer = self._as_envelope(request, response)
        for name, value in response.items():
            if name.lower() not in _BODY_HEADERS:
                answer.headers.setdefault(name, value)
        answer.cookies = response.cookies
        for middleware in self.security_headers:
            answer = middleware.process_response(request, answer)
        return answer

    @staticmethod
    def _as_envelope(request: HttpRequest, response) -> JsonResponse:
        status = response.status_code
        headers = {name: response[name] for name in ("Allow", "Retry-After") if name in response}
        if status == 405:
            headers["Allow"] = _with_head(headers.get("Allow", ""))
            error = Err.METHOD_NOT_ALLOWED.error(
                f"method not allowed: {errmsg_value(request.method, 10)}; "
                f"{errmsg_value(request.path, 100)} takes "
                f"{headers['Allow'] or 'another method'}"
            )
        elif status == 404:
            error = Err.NO_SUCH_ENDPOINT.error(
                f"no such endpoint: {errmsg_value(request.path, 100)}"
            )
        elif status == 400 and (host := _disallowed_host(request)) is not None:
            error = Err.INVALID_PARAMETER.error(
                f"invalid parameter: Host {host[:100]!r} is not allowed (ALLOWED_HOSTS)"
            )
        else:
            error = error_for_status(status).error()
        return envelope(error.errcode, error.errmsg, http_status=status, headers=headers)


def _disallowed_host(request: HttpRequest) -> str | None:
    """The Host the request names when ALLOWED_HOSTS refuses it (CommonMiddleware answered
    Django's bare 400 for it), else None."""
    try:
        request.get_host()
    except DisallowedHost:
        return request._get_raw_host()
    return None


def _with_head(allow: str) -> str:
    """An Allow header naming GET names HEAD too: ApiHeadMiddleware answers it."""
    methods = [method.strip() for method in allow.split(",") if method.strip()]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return ", ".join(methods)
