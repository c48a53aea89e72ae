"""An /api/ error answer rewritten into the envelope (botadmin.api.JsonApiAnswersMiddleware)
carries the security headers of every other answer: it replaces a response Django's
security middleware had already dressed, or one that never passed it."""

import pytest
from django.test import Client

SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
)


class FailingMiddleware:
    """A middleware that fails, as one whose cache or database is gone would."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise RuntimeError("the middleware's backend is gone")


def _failing_at(settings, after: str) -> None:
    """Insert FailingMiddleware into settings.MIDDLEWARE just after `after`."""
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index(after) + 1, f"{__name__}.FailingMiddleware")
    settings.MIDDLEWARE = middleware


def _security_headers(response) -> dict[str, str | None]:
    return {name: response.get(name) for name in SECURITY_HEADERS}


@pytest.fixture
def normal(client, bot):
    """The security headers of a successful API answer."""
    answer = client.get(f"/api/users?secret={bot.secret}")
    assert answer.status_code == 200
    headers = _security_headers(answer)
    assert None not in headers.values(), headers
    return headers


def _post_form(path):
    fields = "&".join(f"f{n}=1" for n in range(20))
    return lambda client: client.post(
        path, data=fields, content_type="application/x-www-form-urlencoded"
    )


REWRITTEN = {
    "405, a wrong method": (405, lambda client: client.get("/api/send")),
    "405, HEAD on a POST endpoint": (405, lambda client: client.head("/api/send")),
    "405, POST to the docs": (405, lambda client: client.post("/api/docs")),
    "400, a Host not allowed": (
        400,
        lambda client: client.get("/api/users", headers={"host": "evil.example"}),
    ),
    "404, an unknown app bot's callback": (
        404,
        lambda client: client.get("/api/wecom_app/999999/callback"),
    ),
    "404, an unknown path": (404, lambda client: client.get("/api/no-such-thing")),
    "401, no secret": (401, lambda client: client.get("/api/users")),
}


@pytest.mark.parametrize("case", REWRITTEN)
def test_an_error_answer_carries_the_security_headers_of_a_normal_one(client, normal, case):
    status, request = REWRITTEN[case]

    answer = request(client)

    assert answer.status_code == status
    assert answer["Content-Type"] == "application/json"
    assert _security_headers(answer) == normal
    assert answer.get("X-Request-ID")


def test_a_body_over_djangos_limits_answers_with_the_security_headers(client, normal, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    answer = _post_form("/api/messages/m1/cancel")(client)

    assert 400 <= answer.status_code < 500 and answer["Content-Type"] == "application/json"
    assert _security_headers(answer) == normal


@pytest.mark.parametrize(
    "after",
    [
        # Inside Django's security middleware: its 500 passed it, then was rewritten.
        "botadmin.middleware.RequestIdMiddleware",
        # Outside it: the 500 never passed it.
        "botadmin.api.JsonApiAnswersMiddleware",
    ],
)
def test_a_500_from_a_failing_middleware_carries_the_security_headers(
    client, normal, settings, after
):
    _failing_at(settings, after)
    client = Client(raise_request_exception=False)

    answer = client.get("/api/users")

    assert answer.status_code == 500
    assert answer.json() == {"errcode": -1, "errmsg": "system busy, retry later"}
    assert _security_headers(answer) == normal


def test_over_https_a_rewritten_answer_carries_hsts_as_a_normal_one(client, bot, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    normal = client.get(f"/api/users?secret={bot.secret}", secure=True)
    assert normal["Strict-Transport-Security"] == "max-age=3600"

    answer = client.get("/api/send", secure=True)

    assert answer.status_code == 405
    assert answer["Strict-Transport-Security"] == normal["Strict-Transport-Security"]
