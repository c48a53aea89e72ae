"""botadmin/middleware.py: the proxy's X-Forwarded-Proto counts only from
BOTADMIN_TRUSTED_PROXIES, and only the value the nearest one wrote; the probes answer
whatever the Host header says."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

LOGIN = reverse("console:login")
PROXY, STRANGER = "10.0.3.7", "203.0.113.9"
# What nginx sends on (a Host without a port, as for https:// on 443).
CLAIMS_HTTPS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "testserver"}


@pytest.fixture
def behind_https_proxy(settings, db):
    """BEHIND_HTTPS_PROXY's settings, with a proxy on another host."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.BOTADMIN_TRUSTED_PROXIES = ["127.0.0.1", "10.0.3.0/24"]


def test_a_request_the_trusted_proxy_says_came_over_https_is_secure(client, behind_https_proxy):
    response = client.get(LOGIN, REMOTE_ADDR=PROXY, **CLAIMS_HTTPS)

    assert response.status_code == 200
    assert response.wsgi_request.is_secure()


def test_a_peer_that_is_no_trusted_proxy_claiming_https_is_sent_to_https(
    client, behind_https_proxy
):
    """It reached the web server directly, over plain HTTP, whatever its header says."""
    response = client.get(LOGIN, REMOTE_ADDR=STRANGER, **CLAIMS_HTTPS)

    assert response.status_code == 301
    assert response.headers["Location"] == f"https://testserver{LOGIN}"
    assert not response.wsgi_request.is_secure()


@pytest.mark.parametrize(("peer", "status"), [(PROXY, 200), (STRANGER, 403)])
def test_the_csrf_check_expects_an_https_origin_only_through_the_trusted_proxy(
    settings, behind_https_proxy, peer, status
):
    settings.SECURE_SSL_REDIRECT = False  # the CSRF check alone
    client = Client(enforce_csrf_checks=True)
    token = client.get(LOGIN, REMOTE_ADDR=PROXY, **CLAIMS_HTTPS).cookies["csrftoken"].value

    response = client.post(
        LOGIN,
        {"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token},
        REMOTE_ADDR=peer,
        HTTP_ORIGIN="https://testserver",
        **CLAIMS_HTTPS,
    )

    assert response.status_code == status  # 200: the form again, its password wrong


@pytest.mark.parametrize(
    ("forwarded_proto", "secure"),
    [
        # A client's own "https", sent over plain HTTP, ahead of what the proxy appended.
        ("https, http", False),
        ("https,http", False),
        # The client's word is left of the proxy's, whatever it says.
        ("http, https", True),
        ("nonsense, https", True),
    ],
)
def test_of_several_forwarded_protos_the_last_one_the_trusted_proxy_wrote_counts(
    client, behind_https_proxy, forwarded_proto, secure
):
    response = client.get(
        LOGIN, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO=forwarded_proto, HTTP_HOST="testserver"
    )

    assert response.wsgi_request.is_secure() is secure
    assert response.status_code == (200 if secure else 301)


# --- Probes by the web server's address (ProbesMiddleware) ---------------------------

BACKEND = {"HTTP_HOST": "127.0.0.1:8124"}  # what a load balancer or Prometheus sends


@pytest.fixture
def production_host(settings, db):
    settings.ALLOWED_HOSTS = ["botadmin.example.com"]
    settings.BOTADMIN_METRICS_TOKEN = "probe-token"


def test_the_health_probes_answer_a_host_not_in_allowed_hosts(client, production_host):
    live = client.get("/healthz", **BACKEND)
    ready = client.get("/readyz", **BACKEND)
    web_ready = client.get("/readyz/web", **BACKEND)

    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code in (200, 503)  # whatever the components say, not 400
    assert ready.json()["status"] in ("ok", "fail")
    assert web_ready.status_code == 200 and web_ready.json()["status"] == "ok"


def test_metrics_answer_a_host_not_in_allowed_hosts_and_still_want_the_token(
    client, production_host
):
    refused = client.get("/metrics", **BACKEND)
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer probe-token", **BACKEND)

    assert refused.status_code == 401
    assert scraped.status_code == 200
    assert scraped["Content-Type"].startswith("text/plain")


def test_other_paths_still_refuse_a_host_not_in_allowed_hosts_with_one_warning_line(
    client, production_host, caplog
):
    with caplog.at_level(logging.INFO):
        response = client.get(LOGIN, **BACKEND)
        answered = client.get(LOGIN, HTTP_HOST="botadmin.example.com")

    assert response.status_code == 400
    assert answered.status_code == 200
    refusals = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.WARNING and refusals[0].levelname == "WARNING"
    assert refusals[0].exc_info is None and refusals[0].exc_text is None
    assert "Invalid HTTP_HOST header: '127.0.0.1:8124'" in refusals[0].getMessage()
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
