"""The series whose labels are known in advance are at 0 in /metrics from the start of every
process that serves it or counts for it, before anything of their kind happened: Prometheus'
rate() and increase() miss a series' first count, and an alert cannot tell "absent" from
"none"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from connectors.registry import CONNECTORS
from devtools.processes import ROOT, celery_worker, database_url, stop_process_group
from tests.messaging.conftest import _free_port, running_gunicorn
from tests.polling import wait_until

from .test_metrics import TOKEN, _samples, _server_samples

# What an alert on `rate(botadmin_api_requests_total{errcode!="0"}[5m])` must see from the
# first error on: each endpoint's success and the errors it answers, none it cannot.
API_ZERO = [
    ("api/send", "0"),
    ("api/send", "-1"),
    ("api/send", "93000"),
    ("api/send", "40058"),
    ("api/send", "45009"),
    ("api/send", "7000101"),
    ("api/upload_media", "40006"),
    ("api/callback", "7000001"),
    ("api/users", "7000102"),
    ("api/groups", "0"),
    ("api/messages/<msgid>", "7000104"),
    ("api/messages/<msgid>/cancel", "7000105"),
    ("api/wecom_app/<int:bot_id>/callback", "none"),
]
API_NEVER = [
    ("api/users", "45009"),  # listing is not rate-limited
    ("api/messages/<msgid>", "7000105"),  # only cancelling answers "not cancellable"
    ("api/callback", "7000101"),
]


def listed(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def assert_known_series_at_zero(samples) -> None:
    for outcome in ("delivered", "retry", "failed"):
        assert listed(samples, "botadmin_webhook_deliveries_total", outcome=outcome) == 0
    for outcome in ("succeeded", "failed", "not_possible"):
        assert listed(samples, "botadmin_contact_sync_runs_total", outcome=outcome) == 0
    for kind in CONNECTORS:
        for outcome in ("stored", "retry", "failed"):
            assert (
                listed(samples, "botadmin_media_fetches_total", connector=kind, outcome=outcome)
                == 0
            )
        assert listed(samples, "botadmin_delivery_latency_seconds_count", connector=kind) == 0
    for endpoint, errcode in API_ZERO:
        assert (
            listed(samples, "botadmin_api_requests_total", endpoint=endpoint, errcode=errcode) == 0
        ), (endpoint, errcode)
    for endpoint, errcode in API_NEVER:
        assert (
            listed(samples, "botadmin_api_requests_total", endpoint=endpoint, errcode=errcode)
            is None
        )


@pytest.fixture
def fresh_environment(transactional_db, tmp_path, monkeypatch):
    """A process started as a service is (not from one whose settings chose the metrics
    folder), with metrics on and a var/ folder of its own."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return {
        "DATABASE_URL": database_url(),
        "BOTADMIN_METRICS_TOKEN": TOKEN,
        "BOTADMIN_VAR_DIR": str(tmp_path / "var"),
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
    }


@pytest.mark.parametrize(
    "launcher",
    [
        None,
        [sys.executable, "-m", "gunicorn"],
        [sys.executable, "-m", "gunicorn.app.wsgiapp"],
        "gunicorn3",
    ],
    ids=["script", "python -m gunicorn", "python -m gunicorn.app.wsgiapp", "gunicorn3"],
)
def test_a_fresh_gunicorn_lists_every_known_series_at_zero_and_no_bot_yet(
    launcher, fresh_environment, tmp_path
):
    """Started by the virtualenv's script (the Procfile, the systemd unit), as `python -m
    gunicorn` or `python -m gunicorn.app.wsgiapp`, or by a script named as Debian's package
    before bookworm names it, `gunicorn3`: each is the web service, counting into the web
    folder."""
    if launcher == "gunicorn3":
        script = tmp_path / "bin" / "gunicorn3"
        script.parent.mkdir()
        script.symlink_to(ROOT / ".venv" / "bin" / "gunicorn")
        launcher = [str(script)]
    env = fresh_environment
    log = tmp_path / "server.log"
    with running_gunicorn(env["DATABASE_URL"], log, env=env, launcher=launcher) as base_url:
        samples = _server_samples(base_url)

    assert_known_series_at_zero(samples)
    assert not [key for key in samples if "bot" in dict(key[1])]
    metrics = tmp_path / "var" / "metrics"
    assert list((metrics / "web").glob("*.db"))
    assert not list((metrics / "other").glob("*.db"))


def test_the_development_server_lists_every_known_series_at_zero(fresh_environment, tmp_path):
    """`manage.py runserver`, with its reloader, as a developer starts it."""
    port = _free_port()
    log = tmp_path / "runserver.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, **fresh_environment},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, log.read_text()
        try:
            return requests.get(f"{base_url}/healthz", timeout=5).status_code in (200, 503)
        except requests.ConnectionError:
            return False

    try:
        assert wait_until(answers, timeout=90), log.read_text()
        samples = _server_samples(base_url)
    finally:
        stop_process_group(server)

    assert_known_series_at_zero(samples)


def _aibot_gateway(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "aibot_gateway"],
        cwd=ROOT,
        env={**os.environ, **env, "WECOM_AIBOT_POLL_SECONDS": "0.3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _celery_worker(env: dict[str, str]) -> subprocess.Popen:
    return celery_worker(pool=None, env=env, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("start", [_aibot_gateway, _celery_worker], ids=["aibot", "worker"])
def test_a_process_that_counts_without_serving_lists_every_known_series_at_zero(
    start, fresh_environment, client, settings, tmp_path
):
    """The AI bot gateway and a Celery worker count (inbound messages, deliveries) into the
    files a web process on their host reads: theirs alone hold the series at 0."""
    process = start(fresh_environment)
    # This test's scrape reads their files only; the test process itself lists nothing.
    settings.BOTADMIN_METRICS_DIR = tmp_path / "var" / "metrics"
    settings.BOTADMIN_METRICS_TOKEN = TOKEN

    def scrape():
        assert process.poll() is None, "the process stopped"
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        return _samples(answer.content.decode())

    try:
        assert wait_until(
            lambda: (
                listed(scrape(), "botadmin_api_requests_total", endpoint="api/send", errcode="0")
                == 0
            ),
            timeout=60,
        )
        samples = scrape()
    finally:
        stop_process_group(process, timeout=0)

    assert_known_series_at_zero(samples)


def test_each_api_endpoint_is_started_with_the_errcodes_of_the_statuses_it_documents(client):
    """The table the API's series are started from names every endpoint of the API, and the
    errors it lists for each have exactly the statuses its OpenAPI operation documents."""
    from botadmin.metrics import API_COMMON_ERRORS, API_ERRORS

    operations = client.get("/api/openapi.json").json()["paths"]
    documented = {}
    for path, methods in operations.items():
        route = path.lstrip("/").replace("{", "<").replace("}", ">")
        for operation in methods.values():
            documented[route] = {int(status) for status in operation["responses"]} - {200}

    assert documented.keys() == API_ERRORS.keys()
    for route, errors in API_ERRORS.items():
        assert {error.status for error in (*API_COMMON_ERRORS, *errors)} == documented[route], route
