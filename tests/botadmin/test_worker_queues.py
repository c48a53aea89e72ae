"""The Celery workers as `make run` starts them (the Procfile's lines, real processes):
forwarding to slow, failing webhook receivers, and fetching inbound media from a slow
source, never hold a send up, and a backlog of deliveries never holds up a scheduled
message.

One worker reading every queue shared its threads: forwarding tasks (each drains due
deliveries for up to 10 s) filled them and the tasks it had prefetched, and a send
accepted meanwhile waited a minute (bench/send_beside_forwarding.py); media fetches
(each task fetches 10, one after the other) did the same during a burst of inbound
images (bench/send_beside_media.py); delivery tasks (each drains for up to 30 s) did the
same to the scheduler's tasks, and a scheduled message was released minutes late
(bench/scheduled_beside_deliveries.py)."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from botadmin import health
from devtools.processes import celery_worker, database_url, procfile_workers, stop_process_group
from devtools.receiver import Receiver
from forwarding.models import WebhookEndpoint
from forwarding.tasks import forward_messages
from messaging.models import Message, MessageMedia
from messaging.sending import accept_outbound, accept_outbound_bulk
from messaging.tasks import deliver_messages
from tests.connectors.conftest import agent  # noqa: F401  (the fake agent)
from tests.messaging.support import callback_body, purge_broker
from tests.polling import wait_until

INBOUND = 60
FORWARD_TASKS = 20
IMAGES = 20
BACKLOG_CONVERSATIONS = 40
BACKLOG_ROUNDS = 8
WAKE_UPS = 20
# Sends the agent has before the message is scheduled: the workers past their start, the
# scheduler's queue backed up behind the drains (about 15 s).
UNDER_WAY = 60
# What each worker process beats as (botadmin.health.worker_roles).
ROLES = ("worker", "forwarder", "fetcher", "scheduler")


@pytest.fixture
def failing_receiver():
    """Answers 500 to everything, a quarter of a second late (a receiver that is down behind a
    proxy): each forwarding thread is held for as long as it tries."""
    with Receiver() as receiver:
        receiver.respond(500)
        receiver.delay = 0.25
        yield receiver


@pytest.fixture
def start_procfile_workers(transactional_db, tmp_path):
    started: list[subprocess.Popen] = []

    def start(beat: bool = False) -> None:
        """The Procfile's workers; with `beat`, beat too (inside the sends' worker)."""
        env = {
            "DATABASE_URL": database_url(),
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
            "CONN_MAX_AGE": "0",
            "DELIVERY_CONVERSATION_MIN_GAP": "0",
        }
        for name, options in procfile_workers().items():
            started.append(
                celery_worker(
                    pool=None,  # the configured one, as the Procfile runs it
                    options=options,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=tmp_path / f"{name}.log",
                    beat_schedule=tmp_path / "beat-schedule" if beat and name == "worker" else None,
                )
            )

    purge_broker()  # wake-ups left by earlier tests
    for role in ROLES:
        cache.delete(health.HEARTBEAT_KEY.format(role=role))
    yield start
    for process in started:
        stop_process_group(process, timeout=0)  # killed: nothing to wait for


def test_a_send_goes_out_within_seconds_while_forwarding_to_failing_receivers_is_queued(
    client,
    agent,  # noqa: F811
    make_bot,
    make_conversation,
    failing_receiver,
    start_procfile_workers,
):
    bot = make_bot(
        name="busy",
        agent_url=agent.url,
        agent_token=agent.token,
        webhook_url=failing_receiver.url("/primary"),
    )
    WebhookEndpoint.objects.create(bot=bot, url=failing_receiver.url("/second"))
    group = make_conversation(bot, "wrOperators")
    # Given inbound messages to forward to two failing endpoints, and a forwarding task
    # for each of them queued (as a burst of callbacks and their retries queue them)…
    for n in range(INBOUND):
        body = callback_body("text", bot, msgid=f"inbound-{n}")
        answer = client.post("/api/callback", body, content_type="application/json")
        assert answer.json()["errcode"] == 0
    inbound = list(Message.objects.filter(direction="in").values_list("pk", flat=True))
    assert len(inbound) == INBOUND
    for n in range(FORWARD_TASKS):
        forward_messages.apply_async([[inbound[n % INBOUND]]])
    # …and the workers `make run` starts, under way with them.
    start_procfile_workers()
    assert wait_until(lambda: all(map(cache.get, ready_keys())), 90)
    assert failing_receiver.wait_for(2, timeout=60)

    # When an operator's reply is accepted, it is sent within seconds, not after the
    # forwarding drains (10 s each).
    waited = seconds_until_sent(bot, group, "稍等,马上处理")
    assert waited < 5, f"sent {waited:.1f} s after it was accepted"
    # Forwarding went on meanwhile: every delivery tried, at least once.
    assert failing_receiver.wait_for(2 * INBOUND, timeout=60)


def test_a_send_goes_out_within_seconds_while_inbound_media_are_fetched_from_a_slow_source(
    client,
    agent,  # noqa: F811
    make_bot,
    make_conversation,
    start_procfile_workers,
):
    bot = make_bot(name="photos", agent_url=agent.url, agent_token=agent.token)
    group = make_conversation(bot, "wrOperators")
    # The agent takes 10 s for each image (WeCom's media endpoint on a bad day, short of
    # the 15 s read timeout): each fetch holds a worker thread that long.
    agent.behaviour.media_delay = 10
    # Given a busy group's images received, their fetches queued by the callbacks…
    for n in range(IMAGES):
        image = {"cdn_type": "wecom_cdn", "cdn": f"demo/images/{n}.jpg"}
        body = callback_body("image", bot, msgid=f"photo-{n}", image=image)
        answer = client.post("/api/callback", body, content_type="application/json")
        assert answer.json()["errcode"] == 0
    assert MessageMedia.objects.filter(status="pending").count() == IMAGES
    # …and the workers `make run` starts, under way with them.
    start_procfile_workers()
    assert wait_until(lambda: all(map(cache.get, ready_keys())), 90)
    assert wait_until(lambda: len(agent.media_requests) >= 2, 60)

    # When an operator's reply is accepted, it is sent within seconds, not after the
    # images ahead of it (10 s each).
    waited = seconds_until_sent(bot, group, "图片收到了,稍等")
    assert waited < 5, f"sent {waited:.1f} s after it was accepted"
    # The images went on being fetched meanwhile.
    assert wait_until(lambda: MessageMedia.objects.filter(status="stored").count() >= 2, 60)


def test_a_scheduled_message_is_released_within_seconds_while_a_delivery_backlog_drains(
    agent,  # noqa: F811
    make_bot,
    make_conversation,
    start_procfile_workers,
):
    # Given a busy bot's backlog of sends to an agent taking half a second for each…
    agent.behaviour.delay = 0.5
    busy = make_bot(
        name="busy", agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=100_000
    )
    conversations = [make_conversation(busy, f"wrBusy{n}") for n in range(BACKLOG_CONVERSATIONS)]
    for n in range(BACKLOG_ROUNDS):
        body = {"msgtype": "text", "text": {"content": f"backlog {n}"}}
        accept_outbound_bulk(bot=busy, conversations=conversations, body=body, source="api")
    # …delivery wake-ups queued for it (each drains for up to 30 s: every worker slot
    # sends the backlog)…
    for _ in range(WAKE_UPS):
        deliver_messages.apply_async([[]])
    # …and the workers and beat `make run` starts, under way with them.
    start_procfile_workers(beat=True)
    assert wait_until(lambda: all(map(cache.get, ready_keys())), 90)
    assert wait_until(lambda: len(agent.send_requests) >= UNDER_WAY, 90)

    # When a message is scheduled for 2 s from now, the scheduler releases it within a
    # few seconds of its time, not once the backlog is sent (a minute later: the worker
    # reached a scheduler task only when a drain ended, and then an expired one).
    bot = make_bot(name="reminders", agent_url=agent.url, agent_token=agent.token)
    group = make_conversation(bot, "wrTeam")
    send_at = timezone.now() + timedelta(seconds=2)
    reminder = accept_outbound(
        bot=bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": "站会 10 分钟后开始"}},
        source="api",
        send_at=send_at,
    )
    assert wait_until(lambda: Message.objects.get(pk=reminder.pk).status != "scheduled", 120)
    late = (timezone.now() - send_at).total_seconds()
    assert late < 8, f"released {late:.1f} s after its time"
    # The backlog was still being sent meanwhile.
    assert Message.objects.filter(bot=busy, status="queued").exists()


def test_the_previous_releases_worker_reading_the_scheduler_queue_is_reported_until_it_stops(
    client, transactional_db, settings, tmp_path
):
    """An installation that upgraded without copying the units runs the previous
    botadmin-worker.service, which does not leave the scheduler queue: what is scheduled
    still waits behind its backlogs. Its log, /readyz and /metrics say so, and stop once
    it is stopped, while the scheduler of its own beats on."""
    settings.BOTADMIN_METRICS_TOKEN = "metrics-token-for-tests"
    env = {"DATABASE_URL": database_url(), "BOTADMIN_HEARTBEAT_INTERVAL": "0.5"}
    previous_worker = [
        "--exclude-queues=forwarding,media" if option.startswith("--exclude-queues=") else option
        for option in procfile_workers()["worker"]
    ]
    assert previous_worker != procfile_workers()["worker"]
    this_host = socket.gethostname()
    worker_log = tmp_path / "previous-worker.log"
    scheduler = celery_worker(
        pool=None,
        options=procfile_workers()["scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=tmp_path / "scheduler.log",
    )
    worker = celery_worker(
        pool=None, options=previous_worker, env=env, stdout=subprocess.DEVNULL, stderr=worker_log
    )
    try:
        # Given both beating, the previous worker as the sends' worker and the scheduler…
        assert wait_until(lambda: ("worker", this_host) in health.heartbeats_by_host(), 90)
        assert wait_until(lambda: ("scheduler", this_host) in health.heartbeats_by_host(), 90)
        assert wait_until(lambda: this_host in health.shared_schedulers(), 10)

        # …it warns as it starts, /readyz names it (and holds: the scheduler runs), and
        # /metrics exports it, for the alert BotadminSchedulerQueueShared.
        assert "reads the scheduler queue beside others" in worker_log.read_text()
        answer = client.get("/readyz").json()["checks"]["scheduler"]
        assert answer["status"] == "ok"
        assert answer["detail"].endswith(
            f"also read beside other queues by a worker on {this_host} (as worker,scheduler)"
        )
        assert f'host="{this_host}",roles="worker,scheduler"' in shared_scheduler_series(client)

        # When it stops (its unit replaced by the new one), all that goes with it.
        stop_process_group(worker)
        assert this_host not in health.shared_schedulers()
        # The scheduler of its own beats on and notes nothing of the kind.
        stopped_at = time.time()
        assert wait_until(
            lambda: health.heartbeats_by_host().get(("scheduler", this_host), 0) > stopped_at, 10
        )
        assert not wait_until(lambda: this_host in health.shared_schedulers(), timeout=1)
        answer = client.get("/readyz").json()["checks"]["scheduler"]
        assert answer["status"] == "ok" and "also read" not in answer["detail"]
        assert "roles=" not in shared_scheduler_series(client)
        assert "reads the scheduler queue" not in (tmp_path / "scheduler.log").read_text()
    finally:
        stop_process_group(worker, timeout=0)
        stop_process_group(scheduler, timeout=0)


def shared_scheduler_series(client) -> str:
    """/metrics' lines of botadmin_shared_scheduler_heartbeat_timestamp_seconds."""
    answer = client.get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"})
    assert answer.status_code == 200
    return "\n".join(
        line
        for line in answer.content.decode().splitlines()
        if line.startswith("botadmin_shared_scheduler_heartbeat_timestamp_seconds")
    )


def seconds_until_sent(bot, group, text: str) -> float:
    """An operator's reply accepted now: seconds until it is `sent` (at most 120)."""
    reply = accept_outbound(
        bot=bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": text}},
        source="console",
    )
    accepted = time.monotonic()
    assert wait_until(lambda: Message.objects.get(pk=reply.pk).status == "sent", 120)
    return time.monotonic() - accepted


def ready_keys() -> list[str]:
    return [health.HEARTBEAT_KEY.format(role=role) for role in ROLES]
