"""Start-up checks of settings whose mistakes would only show later, in production."""

import os
import stat
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connections

from botadmin.http import webhook_network_problem
from botadmin.networks import setting_networks

SQLITE = "django.db.backends.sqlite3"
# The longest the autovacuum check waits for a connection to open: libpq's and psycopg's
# shortest connect_timeout, so no longer than the settings' (5 s by default; unbounded in
# libpq, 130 s in psycopg with `?connect_timeout=0`). A host that accepts TCP and never
# answers held `migrate` and `check --database` that long.
AUTOVACUUM_CONNECT_TIMEOUT = 2


@register()
def check_settings(app_configs=None, **kwargs):
    problems = []
    database_engine = settings.DATABASES["default"]["ENGINE"]
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("filesystem://") and database_engine != SQLITE:
        problems.append(
            Warning(
                "The filesystem broker only reaches workers on this machine.",
                hint="Set CELERY_BROKER_URL to redis://… or amqp://… when the database is shared.",
                id="botadmin.W001",
            )
        )
    for name in (
        "BOTADMIN_HTTP_CONNECT_TIMEOUT",
        "BOTADMIN_HTTP_READ_TIMEOUT",
        "BRIDGE_CONNECT_TIMEOUT",
        "BRIDGE_READ_TIMEOUT",
        "BOTADMIN_HTTP_MAX_RESPONSE_BYTES",
        "BOTADMIN_DNS_TIMEOUT",
        "BOTADMIN_UPLOAD_CLEANUP_INTERVAL",
        "BOTADMIN_ROBOT_KEY_CHECK_SECONDS",
        "BOTADMIN_ROBOT_KEY_SYNC_SECONDS",
        "WECOM_APP_CHAT_DAILY_LIMIT",
        "WECOM_APP_DAILY_SENDS_PER_ACCOUNT",
    ):
        if getattr(settings, name) <= 0:
            problems.append(Error(f"{name} must be positive.", id="botadmin.E001"))
    for name, hint, problem_id in (
        (
            "BOTADMIN_AGENT_NETWORKS",
            "Comma-separated CIDRs, e.g. 10.20.0.0/16,fd00::/8.",
            "botadmin.E003",
        ),
        (
            "BOTADMIN_OUTBOUND_PROXY_NETWORKS",
            "Comma-separated CIDRs, e.g. 10.0.0.5/32.",
            "botadmin.E005",
        ),
        (
            "BOTADMIN_WEBHOOK_NETWORKS",
            "Comma-separated CIDRs, e.g. 10.0.5.0/24,fd00:5::/64.",
            "botadmin.E006",
        ),
        (
            "BOTADMIN_TRUSTED_PROXIES",
            "Comma-separated addresses or CIDRs, e.g. 127.0.0.1,10.0.3.0/24.",
            "botadmin.E004",
        ),
    ):
        try:
            setting_networks(name)
        except ValueError as error:
            problems.append(Error(f"{name}: {error}", hint=hint, id=problem_id))
    problems += _check_webhook_networks()
    problems += _check_robot_key_sync()
    problems += _check_hsts_without_https()
    for name in (
        "BOTADMIN_SECRET_GRACE_HOURS",
        "BOTADMIN_DATABASE_WAIT_SECONDS",
        "WECOM_APP_CALLBACK_MAX_AGE_SECONDS",
    ):
        if getattr(settings, name) < 0:
            problems.append(Error(f"{name} cannot be negative.", id="botadmin.E002"))
    return problems


def _check_webhook_networks() -> list[Error]:
    """A listed network opens its addresses to whoever edits a bot's endpoints, who then
    reads the answers in the console: never the cloud metadata service or the whole
    Internet's worth of private ranges."""
    try:
        networks = setting_networks("BOTADMIN_WEBHOOK_NETWORKS")
    except ValueError:
        return []  # E006 above says why
    return [
        Error(
            f"BOTADMIN_WEBHOOK_NETWORKS: {problem}.",
            hint="List only the networks webhook receivers are in, e.g. 10.0.5.0/24; "
            "link-local (169.254.0.0/16, fe80::/10) and unspecified addresses are "
            "refused to webhooks even when listed.",
            id="botadmin.E006",
        )
        for problem in map(webhook_network_problem, networks)
        if problem
    ]


def _check_robot_key_sync() -> list[Error]:
    """A group robot's contact sync notes its progress as its keys answer: all of them
    silent for the whole budget must still look alive to the beat."""
    from conversations.sync import STALE_AFTER  # the apps are loaded when checks run

    most = (STALE_AFTER - timedelta(minutes=1)).total_seconds()
    if settings.BOTADMIN_ROBOT_KEY_SYNC_SECONDS <= most:
        return []
    return [
        Error(
            f"BOTADMIN_ROBOT_KEY_SYNC_SECONDS must be at most {most:g}.",
            hint="A contact sync silent for longer is taken for abandoned and failed, "
            "and a second sync runs beside it.",
            id="botadmin.E007",
        )
    ]


def _check_hsts_without_https() -> list[Warning]:
    """HSTS goes out over HTTPS, which botadmin serves only behind BEHIND_HTTPS_PROXY:
    SECURE_HSTS_SECONDS set without it (the environment or .env, which the settings
    loaded) was ignored without a word."""
    if settings.BEHIND_HTTPS_PROXY or not os.environ.get("SECURE_HSTS_SECONDS", "").strip():
        return []
    return [
        Warning(
            "SECURE_HSTS_SECONDS is set, but without BEHIND_HTTPS_PROXY no HSTS header is sent.",
            hint="Set BEHIND_HTTPS_PROXY=true when an HTTPS reverse proxy serves botadmin; "
            "it sends HSTS (SECURE_HSTS_SECONDS, a year by default).",
            id="botadmin.W005",
        )
    ]


def others_can_read(path: Path) -> bool:
    """Whether a user who is neither `path`'s owner nor in its group can read it: a file
    they may read (o+r), or a folder they may list or enter (o+r or o+x), under folders
    they may all pass through (o+x). A 644 file in a 750 folder is private."""
    try:
        path = path.resolve()
        mode = path.stat().st_mode
        if not mode & (stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)):
            return False
        return all(folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)
    except OSError:  # not made yet, or a folder above we may not look into
        return False


@register()
def check_private_files(app_configs=None, **kwargs):
    """The SQLite database and the media hold every message: another user of the machine
    must not read them (the systemd units' UMask=0027 and `make run`'s umask 027 create
    them so; an older install or a copy made by hand may not be)."""
    database = settings.DATABASES["default"]
    paths = [Path(settings.MEDIA_ROOT)]
    if not getattr(settings, "BOTADMIN_MEDIA_S3_BUCKET", ""):
        paths.append(Path(settings.BOTADMIN_MEDIA_DIR))
    if database["ENGINE"] == SQLITE and str(database["NAME"]) != ":memory:":
        paths.insert(0, Path(database["NAME"]))
    return [
        Warning(
            f"{path} can be read by every user of this machine.",
            hint=_private_files_hint(path),
            id="botadmin.W006",
        )
        for path in paths
        if others_can_read(path)
    ]


def _private_files_hint(path: Path) -> str:
    """The fix for `path`: all of var/ when others may enter it (an older `make run`
    made it and what it holds without umask 027: the broker's queued tasks, the media,
    the metrics, not the database alone), else `path` alone."""
    var = Path(settings.VAR_DIR).resolve()
    if path.resolve().is_relative_to(var) and others_can_read(var):
        return (
            f"{var} as a whole is open to other users (as an older `make run` made it, "
            f"without umask 027): chmod -R o-rwx {var} (docs/upgrading.md)."
        )
    return (
        f"chmod o-rwx {path} (or the folder holding it); botadmin's systemd units "
        "and `make run` create files with umask 027."
    )


@register(Tags.database)
def check_autovacuum(app_configs=None, databases=None, **kwargs):
    """Messages, webhook deliveries and their attempts are updated on their way and deleted
    by retention: with PostgreSQL's autovacuum off, nothing removes the dead rows they
    leave (an hour's soak: 17,682 beside 10,574 messages, the database growing 57 MB an
    hour instead of 22; docs/performance.md note 23). Asked at `migrate` and `check
    --database`, which Django runs with the database's checks; a database not reachable
    yet is `migrate`'s to wait for and report, not a problem of this check, and one that
    does not answer within AUTOVACUUM_CONNECT_TIMEOUT seconds is skipped alike."""
    problems = []
    for alias in databases or ():
        if connections[alias].vendor != "postgresql":
            continue
        try:
            autovacuum = _autovacuum(connections[alias])
        except DatabaseError:
            continue
        if autovacuum != "on":
            problems.append(
                Warning(
                    f"PostgreSQL's autovacuum is off (database {alias!r}): the dead rows "
                    "that updated and deleted messages and webhook deliveries leave pile "
                    "up, and the tables grow faster than what they hold.",
                    hint="Set autovacuum = on in postgresql.conf and reload the server, or "
                    "run `vacuumdb -z` against this database regularly (every minute or so "
                    "on a busy install); see docs/database.md.",
                    id="botadmin.W007",
                )
            )
    return problems


def _autovacuum(connection) -> str:
    """The server's `autovacuum` setting, through the alias's connection if it is open, else
    through a connection of its own opened with a short connect_timeout and closed again."""
    own = connection.connection is None
    if own:
        connection = connection.copy()
        connection.settings_dict["OPTIONS"]["connect_timeout"] = AUTOVACUUM_CONNECT_TIMEOUT
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            return cursor.fetchone()[0]
    finally:
        if own:
            connection.close()


@register(deploy=True)
def check_deployment(app_configs=None, **kwargs):
    problems = []
    if settings.BOTADMIN_ALLOW_PRIVATE_URLS:
        problems.append(
            Warning(
                "BOTADMIN_ALLOW_PRIVATE_URLS is on: webhooks and image URLs may reach internal hosts.",
                hint="Turn it off in production unless every operator is trusted; "
                "BOTADMIN_WEBHOOK_NETWORKS allows webhook receivers in chosen private networks.",
                id="botadmin.W002",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] == SQLITE:
        problems.append(
            Warning(
                "SQLite serves one machine; use PostgreSQL (DATABASE_URL) to scale out.",
                id="botadmin.W003",
            )
        )
    public = urlsplit(settings.BOTADMIN_PUBLIC_URL)
    if public.scheme not in ("http", "https") or public.hostname in (
        None,
        "127.0.0.1",
        "localhost",
    ):
        problems.append(
            Warning(
                f"BOTADMIN_PUBLIC_URL is {settings.BOTADMIN_PUBLIC_URL!r}: webhook receivers "
                "cannot open the media links of forwarded messages.",
                hint="Set it to the address receivers reach, e.g. https://botadmin.example.com.",
                id="botadmin.W004",
            )
        )
    return problems
