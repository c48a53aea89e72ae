"""forwarding 0007 gives each existing endpoint its bot's signing secret, so a receiver set
up before the upgrade keeps verifying; reversed, the bot takes its primary endpoint's.

Run on the test database with Django's MigrationExecutor: back to forwarding 0006, rows
written with that state's models, then forward again (and back, for the reverse)."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from conversations.models import Bot
from conversations.secrets import generate_agent_token, generate_signing_secret
from forwarding.models import WebhookEndpoint
from tests.messaging.support import callback_body, forward_due

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("forwarding", "0006_delivery_page_indexes")
COPY = ("forwarding", "0007_endpoint_signing_secret")


def targets(forwarding) -> list[tuple[str, str]]:
    """Every app at its latest migration, forwarding at `forwarding`."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    return [node for node in leaves if node[0] != "forwarding"] + [forwarding]


def migrate(forwarding):
    """Migrate forwarding to `forwarding` (the rest stays at its latest); the models of
    the state reached."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets(forwarding))
    return MigrationExecutor(connection).loader.project_state(targets(forwarding)).apps


def upgrade():
    """Migrate forwarding to its latest migration, 0007's copy and every one after it, as
    an upgrade does: today's models (which the tests then use) fit the database again."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    return migrate(next(node for node in leaves if node[0] == "forwarding"))


@pytest.fixture
def at_0006():
    """The database as the previous release left it; migrated to the latest after."""
    yield migrate(BEFORE)
    upgrade()


def old_bot(apps, name: str, webhook_url: str = "", **secrets):
    """A bot of the previous release (its signing secret on the bot), with its primary
    endpoint as that release's bot save made it."""
    bot = apps.get_model("conversations", "Bot").objects.create(
        name=name,
        connector="bridge",
        agent_url="http://127.0.0.1:9",
        agent_token=generate_agent_token(),
        webhook_url=webhook_url,
        **secrets,
    )
    if webhook_url:
        apps.get_model("forwarding", "WebhookEndpoint").objects.create(
            bot=bot, url=webhook_url, is_primary=True
        )
    return bot


def test_an_endpoint_set_up_before_the_upgrade_keeps_verifying_after_it(
    at_0006, receiver, post_callback
):
    bot = old_bot(at_0006, "before", receiver.url("/hook"))
    at_0006.get_model("forwarding", "WebhookEndpoint").objects.create(
        bot=bot, url=receiver.url("/extra")
    )
    receivers_secret = bot.signing_secret  # what the operator gave the receiver

    upgrade()

    endpoints = WebhookEndpoint.objects.filter(bot_id=bot.pk)
    assert {e.signing_secret for e in endpoints} == {receivers_secret}
    answer = post_callback(callback_body("text", Bot.objects.get(pk=bot.pk)))
    assert answer.json()["errcode"] == 0
    assert forward_due() == ["success", "success"]
    assert {r.path for r in receiver.requests} == {"/hook", "/extra"}
    assert all(r.verifies_with(receivers_secret) for r in receiver.requests)


def test_a_rotation_in_its_grace_at_the_upgrade_keeps_both_signatures_until_it_ends(at_0006):
    until = timezone.now() + timedelta(hours=5)
    bot = old_bot(
        at_0006,
        "rotating",
        "https://hooks.example/in",
        previous_signing_secret=generate_signing_secret(),
        previous_signing_secret_expires_at=until,
    )

    upgrade()

    endpoint = WebhookEndpoint.objects.get(bot_id=bot.pk)
    assert endpoint.signing_secrets() == [bot.signing_secret, bot.previous_signing_secret]
    assert endpoint.signing_secrets(now=until) == [bot.signing_secret]


def test_bots_in_batches_each_keep_their_own_secret_in_their_endpoints(at_0006, monkeypatch):
    monkeypatch.setattr(import_module(f"forwarding.migrations.{COPY[1]}"), "BATCH", 2)
    bots = [old_bot(at_0006, f"bot-{n}", f"https://hooks.example/{n}") for n in range(5)]

    upgrade()

    for bot in bots:
        assert WebhookEndpoint.objects.get(bot_id=bot.pk).signing_secret == bot.signing_secret
    assert len({bot.signing_secret for bot in bots}) == 5


def test_reversed_the_bot_takes_its_primary_endpoints_secret(at_0006):
    bot = old_bot(at_0006, "back", "https://hooks.example/primary")
    lonely = old_bot(at_0006, "no-endpoint")
    upgrade()
    WebhookEndpoint.objects.create(bot_id=bot.pk, url="https://hooks.example/other")
    primary = WebhookEndpoint.objects.get(bot_id=bot.pk, is_primary=True)
    primary.signing_secret = generate_signing_secret()
    primary.save()

    Old = migrate(BEFORE).get_model("conversations", "Bot")
    assert Old.objects.get(pk=bot.pk).signing_secret == primary.signing_secret
    assert Old.objects.get(pk=lonely.pk).signing_secret == lonely.signing_secret
