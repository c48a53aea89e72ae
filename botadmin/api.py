"""The JSON API: one NinjaAPI, WeCom's errcode envelope for every answer.

Apps add their routers in `botadmin/urls.py`. Any failure, including ones
the framework raises before a view runs, is answered as
`{"errcode": N, "errmsg": "…"}` with a fitting HTTP status: never HTML,
never a traceback.
"""

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from .errors import ApiError, Err

logger = logging.getLogger(__name__)


def envelope(errcode: int, errmsg: str, status: int = 200, headers=None, **extra) -> JsonResponse:
    response = JsonResponse(
        {"errcode": errcode, "errmsg": errmsg, **extra},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: ApiError) -> JsonResponse:
    return envelope(error.errcode, error.errmsg, status=error.status, headers=error.headers)


api = NinjaAPI(
    title="botadmin API",
    version="1",
    description=(
        "Self-hosted WeCom bot admin. Every answer is WeCom's envelope "
        '`{"errcode": N, "errmsg": "…"}`; errcode 0 means success.'
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
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
    return error_response(Err.INVALID_SECRET.error())


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400:
        return error_response(Err.NOT_JSON.error(f"Warning: wrong json format. {exc}"))
    return envelope(Err.INVALID_PARAMETER.code, str(exc), status=exc.status_code)


@api.exception_handler(Exception)
def _unexpected_error(request: HttpRequest, exc: Exception):
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(Err.SYSTEM_BUSY.error())


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs):
    return error_response(Err.NO_SUCH_ENDPOINT.error(f"no such endpoint: {request.path}"))
