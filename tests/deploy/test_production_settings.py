"""The production settings docs/install.md shows: `check --deploy` is clean, and behind an
HTTPS proxy the session and CSRF cookies are Secure and HSTS is sent."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from devtools.processes import ROOT, database_url, procfile_workers

# docs/install.md: the variables it exports (placeholders filled in).
PRODUCTION = {
    "DATABASE_URL": "postgres://botadmin:pw@db.invalid:5432/botadmin",
    "CELERY_BROKER_URL": "redis://redis.invalid:6379/0",
    "CACHE_URL": "redis://redis.invalid:6379/1",
    "ALLOWED_HOSTS": "botadmin.example.com",
    "BEHIND_HTTPS_PROXY": "1",
    "BOTADMIN_PUBLIC_URL": "https://botadmin.example.com",
}


def _environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return {**env, **PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50), **extra}


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    install = (ROOT / "docs/install.md").read_text()
    for name in PRODUCTION:
        assert name in install
    # A var/ folder as the units' UMask=0027 makes it, whatever umask runs the tests
    # (under 022 the shared var/test-gwN/ would draw botadmin.W006).
    var = tmp_path / "var"
    var.mkdir(mode=0o750)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_environment(BOTADMIN_VAR_DIR=str(var)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


SCRIPT = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
# Static files from the source folders: no collectstatic manifest needed.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
https = {"X-Forwarded-Proto": "https"}
client = Client()
plain = client.get("/console/login/")
page = client.get("/console/login/", headers=https)
token = page.cookies["csrftoken"].value
login = client.post("/console/login/", {"username": "ops", "password": "pw-ops-123456",
    "csrfmiddlewaretoken": token}, headers=https)
probe = client.get("/healthz")
web_probe = client.get("/readyz/web")
print(json.dumps({
    "plain_status": plain.status_code,
    "hsts": page.headers.get("Strict-Transport-Security", ""),
    "csrf_secure": bool(page.cookies["csrftoken"]["secure"]),
    "login_status": login.status_code,
    "session_secure": bool(login.cookies["sessionid"]["secure"]),
    "probe_status": probe.status_code,
    "web_probe_status": web_probe.status_code,
}))
"""


def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    # Hashed as production hashes (the tests' fast hasher is not in the default list).
    get_user_model().objects.create(
        username="ops",
        password=make_password("pw-ops-123456"),
        is_staff=True,
    )
    env = _environment(
        DATABASE_URL=database_url(),
        CACHE_URL="locmemcache://",
        ALLOWED_HOSTS="testserver",
        DJANGO_SETTINGS_MODULE="botadmin.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["plain_status"] == 301  # plain HTTP is sent to HTTPS…
    assert seen["probe_status"] == 200  # …except the health probes
    assert seen["web_probe_status"] == 200
    assert seen["hsts"].startswith("max-age=31536000")
    assert seen["csrf_secure"] is True
    assert seen["login_status"] == 302 and seen["session_secure"] is True


def test_systemd_units_verify(tmp_path):
    """deploy/systemd/: `systemd-analyze verify` with the paths pointed at this checkout."""
    import shutil

    import pytest

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    units = sorted((ROOT / "deploy/systemd").glob("botadmin*"))
    assert {unit.name for unit in units} >= {
        "botadmin-migrate.service",
        "botadmin-web.service",
        "botadmin-worker.service",
        "botadmin-forwarder.service",
        "botadmin-fetcher.service",
        "botadmin-scheduler.service",
        "botadmin-beat.service",
        "botadmin-aibot.service",
        "botadmin.target",
    }
    (tmp_path / "env").write_text("")
    for unit in units:
        text = unit.read_text().replace("/opt/botadmin", str(ROOT))
        text = text.replace("/etc/botadmin/env", str(tmp_path / "env"))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(f"./{unit.name}" for unit in units)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert all("User=botadmin" in unit.read_text() for unit in units if unit.suffix == ".service")


def test_the_systemd_units_run_what_the_procfile_runs():
    procfile = (ROOT / "Procfile").read_text()
    worker = "celery -A botadmin worker"
    for unit, command in [
        ("botadmin-web.service", "gunicorn -c botadmin/gunicorn_conf.py botadmin.wsgi"),
        ("botadmin-worker.service", f"{worker} "),
        ("botadmin-forwarder.service", f"{worker} "),
        ("botadmin-fetcher.service", f"{worker} "),
        ("botadmin-scheduler.service", f"{worker} "),
        ("botadmin-beat.service", "celery -A botadmin beat"),
        ("botadmin-aibot.service", "manage.py aibot_gateway"),
    ]:
        assert command in procfile
        assert command in (ROOT / "deploy/systemd" / unit).read_text()
    # The sends' worker, the forwarder, the fetcher and the scheduler read the same queues
    # as `make run`'s.
    for unit, name in [
        ("botadmin-worker.service", "worker"),
        ("botadmin-forwarder.service", "forwarder"),
        ("botadmin-fetcher.service", "fetcher"),
        ("botadmin-scheduler.service", "scheduler"),
    ]:
        start = unit_exec_start(unit).partition(worker)[2].split()
        options = procfile_workers()[name]
        assert queue_options(start) == queue_options(options), unit


def unit_exec_start(unit: str) -> str:
    """The unit's command line as systemd runs it (`%%` is its escape of a `%`)."""
    text = (ROOT / "deploy/systemd" / unit).read_text()
    return re.search(r"^ExecStart=(.+)$", text, re.M)[1].replace("%%", "%")


def queue_options(options: list[str]) -> list[str]:
    return [o for o in options if o.startswith(("--queues=", "--exclude-queues=", "--hostname="))]


def test_the_documented_production_commands_are_the_systemd_units():
    """What an operator types by hand starts the services as the units do, and prepares
    the database and the static files as botadmin-migrate.service does before they start
    (an upgrade or a restore that skips docs/install.md's steps still gets them)."""
    install = (ROOT / "docs/install.md").read_text()
    for unit in (ROOT / "deploy/systemd").glob("botadmin-*.service"):
        for command in re.findall(
            r"^ExecStart(?:Pre)?=/opt/botadmin/(.+)$", unit.read_text(), re.M
        ):
            assert command.replace("%%", "%") in install, (unit.name, command)
    production = install.partition("\n## The services by hand\n")[2].partition("\n## ")[0]
    typed = [
        command.strip()
        for command in re.findall(r"\.venv/bin/python manage\.py [^&#\n]+", production)
        if command.split()[2] in ("migrate", "createcachetable", "collectstatic")
    ]
    migrate = (ROOT / "deploy/systemd/botadmin-migrate.service").read_text()
    assert typed == re.findall(r"^ExecStart=/opt/botadmin/(.+)$", migrate, re.M)
