"""bench/history.py fills its database with hand-written SQL, which the ORM does
not keep in step with the models: a new NOT NULL column broke it once. Filling
a small database here catches that before someone needs the benchmark."""

import importlib.util
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from messaging.models import DeliveryAttempt, Message

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench/history.py fills PostgreSQL only"
)


def _bench_history():
    path = Path(__file__).resolve().parents[2] / "bench" / "history.py"
    spec = importlib.util.spec_from_file_location("bench_history", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_fill_matches_the_schema_and_the_console_shows_it(client):
    bench = _bench_history()

    bot = bench.fill(rebuild=True, messages=2_000, conversations=20)

    assert Message.objects.filter(bot=bot).count() == 2_000
    busy = bot.conversations.order_by("id").first()
    assert Message.objects.filter(conversation=busy).count() == 2_000 // bench.BUSY_SHARE
    assert DeliveryAttempt.objects.filter(message__conversation=busy).exists()
    assert not Message.objects.filter(forward_pending=True).exists()
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    page = client.get(reverse("console:history", args=[bot.pk, busy.pk]))
    assert page.status_code == 200
    newest = Message.objects.filter(conversation=busy).latest("id")
    assert newest.search_text in page.content.decode()
