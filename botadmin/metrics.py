"""Prometheus metrics (`GET /metrics`), added up over every gunicorn and Celery process.

prometheus-client's multiprocess mode: each process writes its counters into
files of its own under `BOTADMIN_METRICS_DIR/<role>/` (role: web, worker,
beat, other; chosen in settings.py before the client is imported), and a
scrape merges the files of all of them. Each service empties its own folder
of the files of processes that are gone when it starts (`clean_role_dir`,
called by gunicorn's `on_starting` and Celery's start-up signals), as the
client's documentation asks, so a restart of the web server does not erase the
worker's counts, nor a forwarder's, fetcher's or scheduler's start those of the worker
beside it.
The folder "other" (manage.py commands) is emptied so by gunicorn's start and by the
start of each of its long-running commands (`LONG_RUNNING_COMMANDS`: the AI bot
gateway, runserver), its service: on a host with the gateway and no gunicorn, the files
of each past run (and of cron'd commands) would otherwise pile up there for good. Files
of processes still running stay (a gateway restarting keeps a running command's counts);
those of gone ones are counts a scrape adds up, so they go only as a service restarts,
read by Prometheus as a restart (`rate()`, `increase()`), as the web and worker folders'.
Its other commands (cron'd, one-off) fold the files of its gone processes into one file
per type as they start (`command_started`, botadmin/metrics_files.py), their counts kept:
on a host that runs nothing else there, the folder holds those and the last runs' files.
A scrape reads each folder under a shared lock that a clean-up and a fold take alone.
A process replaced while its service runs (a gunicorn worker, a Celery pool process)
takes its live gauges with it as it goes (`process_gone`) and leaves its counts.

Queue depth, the oldest due message's age, what the queue holds back and webhook
endpoint health are not counted by anyone: they are read from the database at scrape
time (`DatabaseCollector`); the AI bot inbox backlog and the heartbeats of workers and
beat, from the shared cache (`SharedCacheCollector`).

A scrape reads three sources (`SOURCES`: those files, the shared cache, the
database), each on a thread of its own as the readiness checks are, within
BOTADMIN_READY_TIMEOUT (`health.run_bounded`). One that fails or hangs is left
out of that scrape, `botadmin_scrape_source_up{source=…}` says 0, one warning
names it, and the rest is answered: the counters matter most while the
database is down.

Other modules record events with one-line calls (`metrics.message_accepted(m)`);
bot labels are bot names, a bounded set, never conversation ids. While
BOTADMIN_METRICS_TOKEN is unset nothing is recorded (nobody could read it).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hmac
import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

# settings.py sets PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads when it is
# imported: load the settings first (gunicorn's master imports this module before
# Django is set up; without this its workers would count in memory, unseen).
settings.BOTADMIN_METRICS_DIR  # noqa: B018

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead  # noqa: E402

from . import health, metrics_files  # noqa: E402
from .bearer import bearer_challenge, bearer_token  # noqa: E402
from .errors import Err  # noqa: E402

ROLES = ("web", "worker", "beat", "other")

logger = logging.getLogger(__name__)

MESSAGES_ACCEPTED = Counter(
    "botadmin_messages_accepted_total", "Outbound messages accepted.", ["bot", "connector"]
)
MESSAGES_SENT = Counter(
    "botadmin_messages_sent_total", "Outbound messages delivered.", ["bot", "connector"]
)
MESSAGES_FAILED = Counter(
    "botadmin_messages_failed_total", "Outbound messages failed for good.", ["bot", "connector"]
)
MESSAGES_UNCERTAIN = Counter(
    "botadmin_messages_uncertain_total",
    "Outbound messages that may or may not have arrived.",
    ["bot", "connector"],
)
MESSAGES_CONVERTED = Counter(
    "botadmin_messages_converted_total",
    "Outbound messages sent as another msgtype than asked (a connector's fallback).",
    ["bot", "connector"],
)
DELIVERY_LATENCY = Histogram(
    "botadmin_delivery_latency_seconds",
    "From accepted (or due, when scheduled) to sent.",
    ["connector"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
INBOUND_MESSAGES = Counter(
    "botadmin_inbound_messages_total", "Inbound messages stored.", ["bot", "connector"]
)
WEBHOOK_DELIVERIES = Counter(
    "botadmin_webhook_deliveries_total",
    "Webhook delivery attempts by what became of the delivery: delivered, retry, failed.",
    ["outcome"],
)
MEDIA_FETCHES = Counter(
    "botadmin_media_fetches_total",
    "Media fetches into the archive by outcome: stored, retry, failed.",
    ["connector", "outcome"],
)
CONTACT_SYNC_RUNS = Counter(
    "botadmin_contact_sync_runs_total", "Contact sync runs finished.", ["outcome"]
)
API_REQUESTS = Counter(
    "botadmin_api_requests_total",
    "Answers of /api/ by endpoint and errcode.",
    ["endpoint", "errcode"],
)

# Label values known before anything happens (the hooks below map "pending" to "retry").
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
MEDIA_FETCH_OUTCOMES = ("stored", "retry", "failed")

_STATUS_COUNTERS = {
    "sent": MESSAGES_SENT,
    "failed": MESSAGES_FAILED,
    "uncertain": MESSAGES_UNCERTAIN,
}


# --- One-line hooks for the rest of the code -------------------------------------


def _on() -> bool:
    return bool(settings.BOTADMIN_METRICS_TOKEN)


def _hook(record):
    """A recording hook: nothing while metrics are off, and it never fails the work it
    counts. prometheus_client writes every count to a file (a full disk, a removed
    folder): the count is lost and logged, the message is answered and sent."""

    @functools.wraps(record)
    def guarded(*args, **kwargs) -> None:
        if not _on():
            return
        try:
            record(*args, **kwargs)
        except Exception:
            logger.warning("metrics: %s not recorded", record.__name__, exc_info=True)

    return guarded


# The errcodes each /api/ endpoint answers (botadmin/errors.py), by its route as
# ApiRequestsMiddleware labels it: those of every endpoint (a bad parameter, the secret, an
# unexpected error) and its own. Their HTTP statuses are the ones its OpenAPI operation lists
# (tests/botadmin/test_metrics.py checks both ways, and that every route of the API is here).
# A wrong method (7000405) or an unknown path (7000404) is not listed: any path can get them.
API_COMMON_ERRORS = (
    Err.INVALID_PARAMETER,
    Err.INVALID_SECRET,
    Err.SECRET_CONFLICT,
    Err.SYSTEM_BUSY,
)
_JSON_BODY_ERRORS = (
    Err.NOT_JSON,
    Err.JSON_TOO_DEEP,
    Err.BODY_TOO_LARGE,
    Err.UNSUPPORTED_MEDIA_TYPE,
)
API_ERRORS: dict[str, tuple[Err, ...]] = {
    "api/send": (
        *_JSON_BODY_ERRORS,
        Err.INVALID_MSGTYPE,
        Err.FIELD_INVALID,
        Err.EMPTY_CONTENT,
        Err.MEDIA_MISSING,
        Err.INVALID_MEDIA_ID,
        Err.MD5_MISMATCH,
        Err.UNKNOWN_CONVERSATION,
        Err.BOT_INACTIVE,
        Err.IDEMPOTENCY_CONFLICT,
        Err.CONVERSATION_DELETED,
        Err.RATE_LIMITED,
    ),
    "api/upload_media": (
        Err.BODY_TOO_LARGE,
        Err.UNSUPPORTED_MEDIA_TYPE,
        Err.MEDIA_MISSING,
        Err.INVALID_MEDIA_TYPE,
        Err.MEDIA_NOT_AMR,
        Err.INVALID_FILE_SIZE,
        Err.FILE_TOO_LARGE,
        Err.INVALID_MSGTYPE,
        Err.BOT_INACTIVE,
        Err.RATE_LIMITED,
    ),
    "api/callback": _JSON_BODY_ERRORS,
    "api/users": (Err.BOT_INACTIVE,),
    "api/groups": (Err.BOT_INACTIVE,),
    "api/messages/<msgid>": (Err.NO_SUCH_MESSAGE,),
    "api/messages/<msgid>/cancel": (Err.NO_SUCH_MESSAGE, Err.NOT_CANCELLABLE),
}
# Answered in plain text, as WeCom reads it: counted with errcode "none", success or not.
API_PLAIN_TEXT_ENDPOINTS = ("api/wecom_app/<int:bot_id>/callback",)


def api_errcodes(endpoint: str) -> list[str]:
    """The errcode labels `endpoint` is started with: 0 and the errcodes it answers."""
    codes = {0, *(error.code for error in (*API_COMMON_ERRORS, *API_ERRORS[endpoint]))}
    return [str(code) for code in sorted(codes)]


# The processes that serve /metrics or count for it for as long as they run: web and
# Celery workers (the folder settings.py chose for the process by its command line) and
# these manage.py commands, whose folder is "other". Not Celery beat (it counts nothing)
# nor a one-off command (migrate, shell, the tests): each would leave a file of zeros behind.
LONG_RUNNING_COMMANDS = ("runserver", "aibot_gateway")


def counts_for_long(argv: list[str]) -> bool:
    """Whether this process (started by `argv`) serves /metrics or counts for as long as it runs."""
    role = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")).name
    if role in ("web", "worker"):
        return True
    return role == "other" and len(argv) > 1 and argv[1] in LONG_RUNNING_COMMANDS


def long_running_started() -> None:
    """A process that serves /metrics or counts for as long as it runs starting
    (`counts_for_long`; called once, by `BotadminConfig.ready`). A command of "other" (the
    AI bot gateway, runserver) is that folder's service: it removes the files of its gone
    processes, as gunicorn and Celery do for theirs as they start, whether metrics are on
    or not (files of an earlier run with them on). Then the known series start at 0."""
    if Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")).name == "other":
        try:
            clean_role_dir("other")
        except OSError:  # not ours to remove: the process starts all the same
            logger.warning("metrics: files of gone processes not removed", exc_info=True)
    start_known_series()


@_hook
def start_known_series() -> None:
    """A process that serves /metrics or counts starting (`long_running_started`): each
    series whose labels are known in advance (outcomes, connector kinds, API endpoints and
    their errcodes) is written at 0 into this process's file. A labelled series is otherwise
    missing until its first count, which `rate()` and `increase()` then miss, and an alert
    cannot tell "absent" from "none". Bots' series are not: one per bot and counter, at
    every start, for bots that may never count anything. A failure (a full disk) is logged:
    the process starts all the same."""
    from connectors.registry import CONNECTORS
    from conversations.sync import FINISHED_OUTCOMES

    for outcome in WEBHOOK_OUTCOMES:
        WEBHOOK_DELIVERIES.labels(outcome)
    for outcome in FINISHED_OUTCOMES:
        CONTACT_SYNC_RUNS.labels(str(outcome))
    for kind in CONNECTORS:
        DELIVERY_LATENCY.labels(kind)
        for outcome in MEDIA_FETCH_OUTCOMES:
            MEDIA_FETCHES.labels(kind, outcome)
    for endpoint in API_ERRORS:
        for errcode in api_errcodes(endpoint):
            API_REQUESTS.labels(endpoint, errcode)
    for endpoint in API_PLAIN_TEXT_ENDPOINTS:
        API_REQUESTS.labels(endpoint, "none")


@_hook
def message_accepted(message) -> None:
    MESSAGES_ACCEPTED.labels(message.bot.name, message.bot.connector).inc()


@_hook
def message_delivered(message, status: str, now, converted=None) -> None:
    """An attempt left `message` in `status` (sent / failed / uncertain; others are ignored).
    `converted`: the connector's conversion (connectors/conversions.py), counted when it
    changed what was sent."""
    counter = _STATUS_COUNTERS.get(str(status))
    if counter is None:
        return
    counter.labels(message.bot.name, message.bot.connector).inc()
    if status == "sent" and converted is not None and converted.note:
        MESSAGES_CONVERTED.labels(message.bot.name, message.bot.connector).inc()
    if status == "sent":
        since = message.scheduled_at or message.created_at
        DELIVERY_LATENCY.labels(message.bot.connector).observe(
            max(0.0, (now - since).total_seconds())
        )


@_hook
def inbound_stored(bot) -> None:
    INBOUND_MESSAGES.labels(bot.name, bot.connector).inc()


@_hook
def webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels("retry" if outcome == "pending" else str(outcome)).inc()


@_hook
def media_fetch(connector: str, outcome: str) -> None:
    MEDIA_FETCHES.labels(connector, "retry" if outcome == "pending" else str(outcome)).inc()


@_hook
def contact_sync_finished(outcome: str) -> None:
    CONTACT_SYNC_RUNS.labels(str(outcome)).inc()


@_hook
def api_request(endpoint: str, errcode: str) -> None:
    API_REQUESTS.labels(endpoint[:60], errcode).inc()


class ApiRequestsMiddleware:
    """Counts every /api/ answer by route and errcode (set by `botadmin.api.envelope`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if request.path_info.startswith("/api/"):  # as botadmin.api.ApiPathMiddleware left it
            match = request.resolver_match
            endpoint = match.route if match is not None and match.route else "unmatched"
            api_request(endpoint, str(getattr(response, "errcode", "none")))
        return response


# --- Reading them --------------------------------------------------------------


def role_dir(role: str) -> Path:
    return Path(settings.BOTADMIN_METRICS_DIR) / role


def clean_role_dir(role: str) -> None:
    """A service starting: its processes' counts from the last run go. Those of processes
    still running stay: another service of the role on this host (`make run` starts four
    Celery workers: the sends', the forwarder, the fetcher and the scheduler), a manage.py command
    ("other", emptied by gunicorn's start and by its long-running commands' own, with the
    counts its commands that ended folded: `command_started`)."""
    folder = role_dir(role)
    with metrics_files.folder_lock(folder, shared=False):
        for path in folder.glob("*.db"):
            if metrics_files.process_gone(path):
                path.unlink(missing_ok=True)


def command_started() -> None:
    """A process of the folder "other" that is not one of its long-running commands starting
    (a manage.py command cron runs, migrate, a shell; called once, by `BotadminConfig.ready`):
    the files of its gone processes are folded into one per type, their counts kept
    (`metrics_files.fold_gone_processes`). On a host with no gunicorn, AI bot gateway or
    runserver nothing else removes them, and each run's files stayed for good."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
    if folder.name != "other":
        return
    try:
        metrics_files.fold_gone_processes(folder)
    except OSError:  # not ours to change: the command runs all the same
        logger.warning("metrics: files of gone processes not folded", exc_info=True)


def process_gone(pid: int) -> None:
    """The bookkeeping prometheus-client's multiprocess mode asks for when one of a
    service's processes ends (`multiprocess.mark_process_dead`, called by gunicorn's
    `child_exit` and Celery's `worker_process_shutdown`): the files of its live gauges
    (`gauge_live*_PID.db`: "live" modes count only running processes) go at once. Its
    counters and histograms stay, added up with the others': a count is not undone by the
    process that counted it ending; they go when the service starts again
    (`clean_role_dir`). Its folder is the one settings.py chose for this process."""
    mark_process_dead(pid)


class AllProcessesCollector:
    """Every role's files merged, as MultiProcessCollector does for one folder."""

    def collect(self):
        root = Path(settings.BOTADMIN_METRICS_DIR)
        with contextlib.ExitStack() as locked:
            # Each folder read while no clean-up or fold changes it (metrics_files).
            for role in ROLES:
                locked.enter_context(metrics_files.folder_lock(root / role, shared=True))
            files = glob.glob(os.path.join(glob.escape(str(root)), "*", "*.db"))
            return list(MultiProcessCollector.merge(files, accumulate=True))


class DatabaseCollector:
    """Queue depth, the age of each bot's longest due message and what its queue holds
    back on purpose (messaging/queue_health.py), webhook endpoint health, and the state of
    each active bot's long connection (conversations/connections.py)."""

    def collect(self):
        from django.db.models import Count

        from botadmin.partial_indexes import index_condition
        from conversations import connections
        from conversations.models import Bot, BotConnection
        from forwarding.models import WebhookEndpoint
        from messaging import queue_health
        from messaging.models import QUEUED_OR_SENDING, Message

        now = timezone.now()
        depth = GaugeMetricFamily(
            "botadmin_queue_depth", "Outbound messages queued.", labels=["bot", "connector"]
        )
        oldest = GaugeMetricFamily(
            "botadmin_queue_oldest_age_seconds",
            "How long the longest due queued outbound message has waited since it was due.",
            labels=["bot", "connector"],
        )
        held = GaugeMetricFamily(
            "botadmin_queue_held",
            "Queued outbound messages not due: held by a daily cap, keeping the pace, "
            "waiting to retry, or their bot paused.",
            labels=["bot", "connector", "reason"],
        )
        queued = dict(
            # The queue's rows only, through its partial indexes (msg_pending_idx,
            # msg_bot_in_delivery_idx): SQLite uses them only for a query stating their
            # condition, and walked every bot's whole history (msg_bot_idx) instead.
            Message.objects.filter(
                index_condition(QUEUED_OR_SENDING),
                direction=Message.Direction.OUT,
                status=Message.Status.QUEUED,
            )
            .values("bot_id")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("bot_id", "n")
        )
        overdue = queue_health.overdue_since(now=now)
        waiting = queue_health.waiting_on_purpose(now)
        reasons = (
            queue_health.DAILY_CAP,
            queue_health.PACE,
            queue_health.RETRY,
            queue_health.PAUSED,
        )
        for bot_id, name, connector in Bot.objects.values_list("id", "name", "connector"):
            depth.add_metric([name, connector], queued.get(bot_id, 0))
            since = overdue.get(bot_id)
            age = (now - since).total_seconds() if since else 0.0
            oldest.add_metric([name, connector], max(0.0, age))
            for reason in reasons:
                held.add_metric([name, connector, reason], waiting.get(bot_id, {}).get(reason, 0))
        yield depth
        yield oldest
        yield held

        failing = GaugeMetricFamily(
            "botadmin_webhook_endpoint_failing",
            "1 while a webhook endpoint's recent deliveries fail, else 0.",
            labels=["bot", "endpoint"],
        )
        disabled = GaugeMetricFamily(
            "botadmin_webhook_endpoint_disabled",
            "1 when a webhook endpoint was disabled (by hand or for failing), else 0.",
            labels=["bot", "endpoint"],
        )
        for (
            endpoint_id,
            bot,
            failing_since,
            disabled_at,
            active,
        ) in WebhookEndpoint.objects.values_list(
            "id", "bot__name", "failing_since", "disabled_at", "is_active"
        ):
            failing.add_metric([bot, str(endpoint_id)], 1 if failing_since else 0)
            disabled.add_metric([bot, str(endpoint_id)], 1 if disabled_at or not active else 0)
        yield failing
        yield disabled

        # One series per state, 1 for the current one (prometheus_client's Enum, OpenMetrics'
        # StateSet, kube-state-metrics' kube_pod_status_phase): a change of state changes
        # values, no series appears or vanishes, and `for:` follows a state across scrapes.
        states = GaugeMetricFamily(
            "botadmin_bot_connection_state",
            "1 for the state an active bot's long connection is in (as the console shows it), "
            "0 for the others.",
            labels=["bot", "connector", "state"],
        )
        # Since when, how many connections were made and how often the state changed: what
        # `for:` cannot see, a state older than Prometheus' memory of it and a connection lost
        # and made again (or tried again) between two scrapes (docs/monitoring.md, "AI bot
        # connections"). The same query.
        since = GaugeMetricFamily(
            "botadmin_bot_connection_state_changed_timestamp_seconds",
            "Unix time an active bot's long connection entered the state it is in.",
            labels=["bot", "connector"],
        )
        made = CounterMetricFamily(
            "botadmin_bot_connections_made",
            "Connections made for an active bot's long connection (WeCom took the subscription).",
            labels=["bot", "connector"],
        )
        changes = CounterMetricFamily(
            "botadmin_bot_connection_state_changes",
            "Changes of state of an active bot's long connection, as the gateways recorded them.",
            labels=["bot", "connector"],
        )
        for shown in connections.active_bot_states(now):
            labels = [shown.bot, shown.connector]
            for state in BotConnection.State:
                states.add_metric([*labels, state.value], 1 if state == shown.state else 0)
            since.add_metric(labels, shown.since.timestamp())
            made.add_metric(labels, shown.connections_made)
            changes.add_metric(labels, shown.state_changes)
        yield states
        yield since
        yield made
        yield changes


class SharedCacheCollector:
    """What gateways and Celery processes report to the shared cache: callbacks the AI bot
    gateways read and did not store yet, by host (connectors/aibot_inbox.py), and the last
    heartbeat of each worker and beat, by host, and of the workers reading the scheduler
    queue beside others (health.py)."""

    def collect(self):
        from connectors.aibot_inbox import backlog_by_host

        unstored = GaugeMetricFamily(
            "botadmin_aibot_inbox_unstored",
            "Callbacks AI bot gateways journaled and did not store yet.",
            labels=["host"],
        )
        # The cache itself, not best_effort's: a cache that is down fails this source rather
        # than reading as "no gateway waits".
        for host, count in sorted(backlog_by_host(from_cache=cache).items()):
            unstored.add_metric([host], count)
        yield unstored

        # A time, not an age (Prometheus' instrumentation guide, "timestamps, not time
        # since"): the age is `time() - …` at query time, right even when a scrape is late.
        heartbeats = GaugeMetricFamily(
            "botadmin_last_heartbeat_timestamp_seconds",
            "Unix time of the last heartbeat of the Celery worker or beat (role) on the host.",
            labels=["role", "host"],
        )
        for (role, host), at in sorted(health.heartbeats_by_host().items()):
            heartbeats.add_metric([role, host], at)
        yield heartbeats

        shared = GaugeMetricFamily(
            "botadmin_shared_scheduler_heartbeat_timestamp_seconds",
            "Unix time of the last heartbeat of a Celery worker on the host that reads the "
            "scheduler queue beside other queues (roles: what it beats as).",
            labels=["host", "roles"],
        )
        for host, (at, roles) in sorted(health.shared_schedulers().items()):
            shared.add_metric([host, roles], at)
        yield shared


SOURCES = {
    "files": AllProcessesCollector(),
    "cache": SharedCacheCollector(),
    "database": DatabaseCollector(),
}


class SourcesCollector:
    """Every source's series, each collected apart and bounded in time, and whether it was
    read (`botadmin_scrape_source_up`, as node_exporter's `node_scrape_collector_success`)."""

    def collect(self):
        futures = health.run_bounded(
            {
                f"metrics:{name}": functools.partial(_families, source)
                for name, source in SOURCES.items()
            }
        )
        up = GaugeMetricFamily(
            "botadmin_scrape_source_up",
            "1 if this scrape read the source, 0 if it failed or did not answer in time "
            "(its series are missing).",
            labels=["source"],
        )
        left_out = []
        for name in SOURCES:
            future = futures[f"metrics:{name}"]
            failure = _failure(future)
            if failure is None:
                yield from future.result()
            else:
                left_out.append(f"{name} ({failure})")
            up.add_metric([name], 0 if failure else 1)
        yield up
        if left_out:
            logger.warning("metrics: left out of this scrape: %s", ", ".join(left_out))


def _families(source) -> list:
    return list(source.collect())  # all of a source's series, or none


def _failure(future) -> str | None:
    """Why a source's collection gave nothing (secrets masked), None when it did."""
    if not future.done():
        return f"no answer in {settings.BOTADMIN_READY_TIMEOUT:g} s"
    error = future.exception()
    return None if error is None else health.describe(error)


def exposition() -> bytes:
    registry = CollectorRegistry()
    registry.register(SourcesCollector())
    return generate_latest(registry)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: 404 while BOTADMIN_METRICS_TOKEN is unset, 401 without its bearer."""
    token = settings.BOTADMIN_METRICS_TOKEN
    if not token:
        return HttpResponse(status=404)
    given = bearer_token(request.headers.get("Authorization", ""))
    if given is None:
        return HttpResponse(status=401, headers=bearer_challenge())
    if not hmac.compare_digest(given.encode(), token.encode()):
        return HttpResponse(status=401, headers=bearer_challenge("invalid_token"))
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
