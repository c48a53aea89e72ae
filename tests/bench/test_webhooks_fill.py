"""bench/webhooks.py fills its database with INSERT … SELECT written from the models'
fields: a small fill here, on either backend, catches a column it cannot fill (a new
foreign key, a NOT NULL column without a default) before someone needs the benchmark."""

import importlib.util
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from forwarding.models import WebhookAttempt, WebhookDelivery
from messaging.models import Message

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_webhooks(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # it imports bench/history.py's helpers
    spec = importlib.util.spec_from_file_location("bench_webhooks", BENCH / "webhooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)  # PostgreSQL's VACUUM runs outside a transaction
def test_the_fill_matches_the_schema_and_the_endpoint_page_shows_it(client, monkeypatch):
    bench = _bench_webhooks(monkeypatch)

    bot = bench.fill(messages=2_000)

    busy, quiet = (bot.webhook_endpoints.get(description=name) for name in ("busy", "quiet"))
    assert Message.objects.filter(bot=bot).count() == busy.deliveries.count() == 2_000
    assert quiet.deliveries.count() == 2_000 // bench.QUIET_SHARE
    assert busy.deliveries.filter(status="pending").count() == bench.PENDING
    assert busy.deliveries.filter(status="failed").exists()
    assert WebhookAttempt.objects.count() == WebhookDelivery.objects.count()
    client.force_login(get_user_model().objects.get(username="bench-webhooks"))
    page = client.get(reverse("console:webhook", args=[bot.pk, busy.pk]), {"status": "failed"})
    assert page.status_code == 200
    newest = busy.deliveries.filter(status="failed").latest("id")
    assert f'<tr id="delivery-{newest.pk}">' in page.content.decode()
