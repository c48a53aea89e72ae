"""Nothing is lost: a "Forward the messages it missed" run whose task never reached a
worker (the broker refused it; the publisher logs and drops it) is resumed by the
forwarding sweep once it made no progress for a while, and its endpoint page says done."""

import contextlib
import json
import os
import re
import socket
from datetime import timedelta

from celery import current_app
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from forwarding import recovery
from forwarding.drains import drain_endpoints
from forwarding.endpoints import change_endpoint
from forwarding.models import WebhookEndpoint
from forwarding.tasks import sweep_webhook_deliveries
from tests.messaging.support import callback_body, create_pending_deliveries
from tests.polling import wait_until


@contextlib.contextmanager
def refusing_broker():
    """The process's broker: a port nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = current_app.conf
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    saved_env = os.environ.pop("CELERY_BROKER_URL", None)
    saved = conf.broker_url, conf.broker_transport, conf.broker_transport_options
    saved_pools = current_app._pool, current_app.amqp._producer_pool
    conf.broker_url, conf.broker_transport = f"redis://127.0.0.1:{port}/0", None
    conf.broker_transport_options = {"socket_connect_timeout": 2, "socket_timeout": 3}
    current_app._pool = current_app.amqp._producer_pool = None  # made anew, to this broker
    try:
        yield
    finally:
        if current_app._pool is not None:
            current_app._pool.force_close_all()
        current_app._pool, current_app.amqp._producer_pool = saved_pools
        conf.broker_url, conf.broker_transport, conf.broker_transport_options = saved
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env


@contextlib.contextmanager
def worker_inline():
    """A worker's runs of the tasks the sweep publishes, in this process."""
    current_app.conf.task_always_eager = True
    try:
        yield
    finally:
        current_app.conf.task_always_eager = False


def page_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def dropped(caplog) -> bool:
    return any(
        r.getMessage().startswith("Broker down: forwarding.recover_missed") for r in caplog.records
    )


def test_a_run_whose_task_was_lost_is_resumed_by_the_forwarding_sweep(
    transactional_db,
    client,
    make_operator,
    hooked_bot,
    post_callback,
    receiver,
    caplog,
    monkeypatch,
):
    monkeypatch.setattr(recovery, "RECOVER_BATCH", 2)
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot, is_primary=True)
    admin = make_operator("alice", hooked_bot)
    change_endpoint(admin, endpoint, is_active=False)
    for msgid in ("off-1", "off-2", "off-3"):
        assert post_callback(callback_body("text", hooked_bot, msgid=msgid)).json()["errcode"] == 0
    create_pending_deliveries()
    change_endpoint(admin, endpoint, is_active=True)
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, endpoint.pk])
    endpoint_page = reverse("console:webhook", args=[hooked_bot.pk, endpoint.pk])
    since = (timezone.now() - timedelta(days=1)).isoformat()

    with refusing_broker():
        started = page_text(client.post(recover, {"since": since}, follow=True))
        assert wait_until(lambda: dropped(caplog), timeout=30)  # the task is gone
    assert "2 of 3 missed messages queued for this endpoint" in started

    with worker_inline():
        sweep_webhook_deliveries()  # soon after: the task may still be on its way
        assert "2 of 3 queued so far" in page_text(client.get(endpoint_page))

        (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
        stalled = timezone.now() - timedelta(hours=1)
        action.details["progress_at"] = stalled.isoformat()  # no progress for a while
        action.save(update_fields=["details"])
        sweep_webhook_deliveries()
    drain_endpoints([endpoint.pk])  # the deliveries it queued, as a worker drains them

    assert "done, 3 messages queued" in page_text(client.get(endpoint_page))
    client.cookies["django_language"] = "zh-hans"
    assert "已完成，共排队 3 条消息" in page_text(client.get(endpoint_page))
    action.refresh_from_db()
    assert action.details["done"] and action.details["count"] == 3
    delivered = sorted(json.loads(r.body)["msgid"] for r in receiver.requests)
    assert delivered == ["off-1", "off-2", "off-3"]
