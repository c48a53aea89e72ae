"""The Celery workers as `make run` starts them (the Procfile's lines, real processes):
forwarding to slow, failing webhook receivers never holds a send up.

One worker reading every queue shared its threads: forwarding tasks (each drains due
deliveries for up to 10 s) filled them and the tasks it had prefetched, and a send
accepted meanwhile waited a minute (bench/send_beside_forwarding.py)."""

from __future__ import annotations

import subprocess
import time

import pytest
from celery import current_app
from django.core.cache import cache

from botadmin import health
from devtools.processes import celery_worker, database_url, procfile_workers, stop_process_group
from devtools.receiver import Receiver
from forwarding.models import WebhookEndpoint
from forwarding.tasks import forward_messages
from messaging.models import Message
from messaging.sending import accept_outbound
from tests.connectors.conftest import agent  # noqa: F401  (the fake agent)
from tests.messaging.support import callback_body
from tests.polling import wait_until

INBOUND = 60
FORWARD_TASKS = 20


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

    def start() -> None:
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
                )
            )

    current_app.control.purge()  # wake-ups left by earlier tests
    for role in ("worker", "forwarder"):
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

    # When an operator's reply is accepted…
    reply = accept_outbound(
        bot=bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": "稍等,马上处理"}},
        source="console",
    )
    accepted = time.monotonic()

    # …it is sent within seconds, not after the forwarding drains (10 s each).
    assert wait_until(lambda: Message.objects.get(pk=reply.pk).status == "sent", 60)
    waited = time.monotonic() - accepted
    assert waited < 5, f"sent {waited:.1f} s after it was accepted"
    # Forwarding went on meanwhile: every delivery tried, at least once.
    assert failing_receiver.wait_for(2 * INBOUND, timeout=60)


def ready_keys() -> list[str]:
    return [health.HEARTBEAT_KEY.format(role=role) for role in ("worker", "forwarder")]
