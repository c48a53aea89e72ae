import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.checks import Tags, run_checks
from django.db import connection

from botadmin.checks import check_autovacuum, check_deployment, check_settings
from devtools.processes import ROOT
from tests.botadmin.test_metrics_sources_down import silent_database


def ids(problems):
    return {problem.id for problem in problems}


def test_default_settings_pass_the_checks():
    assert check_settings() == []


def test_a_filesystem_broker_with_a_shared_database_is_flagged(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", BOTADMIN_VAR_DIR=str(tmp_path))
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )
    assert "botadmin.W001" in completed.stderr + completed.stdout


def test_manage_py_on_the_default_sqlite_prints_no_warning(tmp_path):
    """`make run`'s migrate and setup_demo opened with models.W040: SQLite builds the
    PostgreSQL covering index without its INCLUDE columns, which is all it needs."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(BOTADMIN_VAR_DIR=str(tmp_path))
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "System check identified no issues" in completed.stdout


@pytest.mark.parametrize("behind_https_proxy", ["", "true"])
def test_hsts_seconds_without_the_https_proxy_are_flagged(tmp_path, behind_https_proxy):
    """SECURE_HSTS_SECONDS is read behind BEHIND_HTTPS_PROXY only: set without it, it was
    ignored without a word."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        BOTADMIN_VAR_DIR=str(tmp_path),
        SECURE_HSTS_SECONDS="600",
        BEHIND_HTTPS_PROXY=behind_https_proxy,
    )
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True
    )

    assert completed.returncode == 0, completed.stderr
    flagged = "botadmin.W005" in completed.stderr + completed.stdout
    assert flagged is (not behind_https_proxy)


def test_impossible_timeouts_are_errors(settings):
    settings.BRIDGE_READ_TIMEOUT = 0
    settings.BOTADMIN_SECRET_GRACE_HOURS = -1
    assert {"botadmin.E001", "botadmin.E002"} <= ids(check_settings())


def test_a_negative_database_wait_is_an_error(settings):
    settings.BOTADMIN_DATABASE_WAIT_SECONDS = -1  # migrate would not wait at boot
    assert [problem.msg for problem in check_settings()] == [
        "BOTADMIN_DATABASE_WAIT_SECONDS cannot be negative."
    ]


def test_an_upload_cleanup_interval_of_zero_is_an_error(settings):
    settings.BOTADMIN_UPLOAD_CLEANUP_INTERVAL = 0  # beat would run it without a pause
    assert [problem.msg for problem in check_settings()] == [
        "BOTADMIN_UPLOAD_CLEANUP_INTERVAL must be positive."
    ]


def test_a_robot_key_sync_budget_the_beat_would_take_for_abandoned_is_an_error(settings):
    settings.BOTADMIN_ROBOT_KEY_SYNC_SECONDS = 240  # the default: well within 5 minutes
    assert "botadmin.E007" not in ids(check_settings())
    settings.BOTADMIN_ROBOT_KEY_SYNC_SECONDS = 290  # all keys silent that long: abandoned
    assert "botadmin.E007" in ids(check_settings())


def test_deploy_checks_warn_about_private_urls(settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    assert "botadmin.W002" in ids(check_deployment())


def test_agent_networks_that_are_not_cidrs_are_errors(settings):
    settings.BOTADMIN_AGENT_NETWORKS = ["10.0.0.0/8", "intranet"]
    assert "botadmin.E003" in [problem.id for problem in check_settings()]


def test_trusted_proxies_that_are_not_addresses_are_errors(settings):
    settings.BOTADMIN_TRUSTED_PROXIES = ["127.0.0.1", "nginx"]
    assert "botadmin.E004" in ids(check_settings())


def test_webhook_networks_that_are_not_cidrs_are_errors(settings):
    """Else every delivery would fail only when it is attempted."""
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["10.0.5.0/24", "hooks.internal"]
    problems = [p for p in check_settings() if p.id == "botadmin.E006"]
    assert problems and "hooks.internal" in problems[0].msg


@pytest.mark.parametrize(
    ("listed", "why"),
    [
        ("0.0.0.0/0", "wider than /8"),
        ("8.0.0.0/7", "wider than /8"),
        ("::/0", "wider than /7"),
        ("169.254.0.0/16", "169.254.0.0/16"),  # the cloud metadata service's
        ("169.254.169.254", "169.254.0.0/16"),
        ("fe80::/64", "fe80::/10"),
        ("::ffff:0:0/96", "::ffff:a9fe:0/112"),  # every IPv4 address, mapped
        ("0.0.0.0/8", "0.0.0.0/32"),
    ],
)
def test_webhook_networks_too_wide_or_taking_in_link_local_addresses_are_errors(
    settings, listed, why
):
    """Whoever edits a bot's endpoints reads the answers from what is listed."""
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["10.0.5.0/24", listed]
    problems = [p for p in check_settings() if p.id == "botadmin.E006"]
    assert len(problems) == 1 and why in problems[0].msg


@pytest.mark.parametrize("listed", ["127.0.0.0/8", "10.0.0.0/8", "fc00::/7", "fd00:5::/64"])
def test_webhook_networks_of_private_ranges_and_loopback_are_accepted(settings, listed):
    settings.BOTADMIN_WEBHOOK_NETWORKS = [listed]
    assert "botadmin.E006" not in ids(check_settings())


def test_outbound_proxy_networks_that_are_not_cidrs_are_errors(settings):
    """Else every app bot with a proxy would fail only at its next send."""
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["10.0.0.5/32", "squid.internal"]
    assert "botadmin.E005" in ids(check_settings())


@pytest.fixture
def shared_folder(settings):
    """A new folder every user of the machine may pass into (the test process's var/
    folder), removed afterwards; skipped where the checkout itself is private."""
    from botadmin.checks import others_can_read

    if not others_can_read(Path(settings.VAR_DIR)):
        pytest.skip("the checkout is private to its owner: nothing in it is world-readable")
    folder = Path(settings.VAR_DIR) / f"permissions-{uuid.uuid4().hex}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def manage_py_check_with_umask(var: Path, umask: str) -> str:
    """`manage.py check` run twice with `umask`: the first run creates var/ and the
    database (after the checks looked for it), the second sees them."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(BOTADMIN_VAR_DIR=str(var))
    command = f'umask {umask}; exec "$0" manage.py check --database default'
    for _ in range(2):
        completed = subprocess.run(
            ["sh", "-c", command, sys.executable],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    return completed.stdout + completed.stderr


def test_a_sqlite_database_others_can_read_is_warned_about(shared_folder):
    """The default umask (022) makes var/ 755 and the database 644."""
    output = manage_py_check_with_umask(shared_folder, "022")

    assert "botadmin.W006" in output
    assert f"{shared_folder / 'botadmin.sqlite3'} can be read by every user" in output
    assert (shared_folder / "botadmin.sqlite3").stat().st_mode & 0o777 == 0o644
    # var/ as a whole is open, its secret key and broker too: the fix is for all of it.
    assert f"chmod -R o-rwx {shared_folder.resolve()}" in output


def test_with_the_units_umask_nothing_botadmin_creates_is_for_others(shared_folder):
    """UMask=0027 (the systemd units), umask 027 (`make run`)."""
    output = manage_py_check_with_umask(shared_folder, "027")

    assert "botadmin.W006" not in output
    assert shared_folder.stat().st_mode & 0o777 == 0o750
    assert (shared_folder / "botadmin.sqlite3").stat().st_mode & 0o777 == 0o640


def test_a_media_folder_others_can_enter_is_warned_about(shared_folder, settings):
    from botadmin.checks import check_private_files

    media, archive = shared_folder / "media", shared_folder / "media-archive"
    for folder in (media, archive):
        folder.mkdir(parents=True, mode=0o750)
    shared_folder.chmod(0o755)
    settings.MEDIA_ROOT, settings.BOTADMIN_MEDIA_DIR = media, archive

    def warned() -> list[str]:  # about these folders (not about the test's database)
        return [p.msg for p in check_private_files() if str(shared_folder) in p.msg]

    assert warned() == []
    archive.chmod(0o751)  # others cannot list it, but can open a file they know the name of
    assert warned() == [f"{archive} can be read by every user of this machine."]
    archive.chmod(0o750)
    shared_folder.chmod(0o750)
    media.chmod(0o755)  # under a private folder: private after all
    assert warned() == []


def test_the_hint_names_all_of_var_when_var_is_open_else_the_path_alone(shared_folder, settings):
    """An older `make run` made var/ without umask 027: everything in it is open, not
    only the database (docs/upgrading.md, "A make run installation")."""
    from botadmin.checks import check_private_files

    var, media = shared_folder / "var", shared_folder / "media"
    var.mkdir(parents=True, mode=0o750)
    media.mkdir(mode=0o755)
    var.chmod(0o750)
    media.chmod(0o755)
    shared_folder.chmod(0o755)
    settings.MEDIA_ROOT, settings.VAR_DIR = media, var

    def hints() -> list[str]:  # of the warnings about the media folder
        return [p.hint for p in check_private_files() if str(media) in p.msg]

    # Media kept outside a private var/: the media folder alone.
    assert hints() == [
        f"chmod o-rwx {media} (or the folder holding it); botadmin's systemd units "
        "and `make run` create files with umask 027."
    ]
    settings.VAR_DIR = shared_folder  # var/ itself is open, the media in it
    [hint] = hints()
    assert f"chmod -R o-rwx {shared_folder.resolve()}" in hint
    assert "chmod o-rwx" not in hint


def test_a_negative_callback_age_is_an_error(settings):
    settings.WECOM_APP_CALLBACK_MAX_AGE_SECONDS = -1
    assert "botadmin.E002" in ids(check_settings())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's autovacuum")
@pytest.mark.django_db
def test_autovacuum_off_is_warned_about_with_the_database_checks():
    """This machine's test server runs with `autovacuum = off` (a setting of the server,
    not of a session): the warning follows what the server says."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        off = cursor.fetchone()[0] == "off"

    # `migrate` and `check --database default` run the database's checks with the alias.
    warned = ids(run_checks(tags=[Tags.database], databases=["default"]))
    assert ("botadmin.W007" in warned) is off
    # A plain `check` (runserver's, every other command's) does not touch the database.
    assert check_autovacuum(databases=None) == []


def on_database(url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a botadmin process on that database (and no broker)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DATABASE_URL=url, CELERY_BROKER_URL="redis://127.0.0.1:9/0", BOTADMIN_VAR_DIR=str(tmp_path)
    )
    return env


def test_an_unreachable_database_fails_no_check(tmp_path):
    """At boot `migrate` runs the checks before it waits for the database: a server not
    accepting connections yet is for that wait to report, not a check's traceback."""
    refusing = socket.socket()  # bound, not listening: every connection is refused
    refusing.bind(("127.0.0.1", 0))
    try:
        completed = subprocess.run(
            [sys.executable, "manage.py", "check", "--database", "default"],
            cwd=ROOT,
            env=on_database(
                f"postgres://botadmin@127.0.0.1:{refusing.getsockname()[1]}/botadmin", tmp_path
            ),
            capture_output=True,
            text=True,
        )
    finally:
        refusing.close()

    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr


AUTOVACUUM_CHECK_ALONE = """
import time
import django
django.setup()
from botadmin.checks import check_autovacuum
began = time.monotonic()
problems = check_autovacuum(databases=["default"])
print(f"{time.monotonic() - began:.2f} {len(problems)}")
"""


@pytest.mark.parametrize(
    "options", ["", "?connect_timeout=0"], ids=["settings-timeout", "no-timeout"]
)
def test_a_database_host_that_never_answers_holds_the_autovacuum_check_seconds_at_most(
    tmp_path, options
):
    """`migrate` and `check --database` run the check before anything else opens the
    connection: a host that accepts TCP and never answers held it for the whole
    connect_timeout (5 s by default; none in the URL: psycopg's 130 s)."""
    with silent_database() as (port, _drop):
        completed = subprocess.run(
            [sys.executable, "-c", AUTOVACUUM_CHECK_ALONE],
            cwd=ROOT,
            env={
                **on_database(f"postgres://botadmin@127.0.0.1:{port}/botadmin{options}", tmp_path),
                "DJANGO_SETTINGS_MODULE": "botadmin.settings",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert completed.returncode == 0, completed.stderr
    seconds, problems = completed.stdout.split()
    assert problems == "0"  # not reachable: no warning, and no traceback
    assert float(seconds) < 3.5
