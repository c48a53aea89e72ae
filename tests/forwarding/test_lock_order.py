"""A bot's row is locked before its endpoints' (forwarding/locks.py): a bot's webhook URL
saved on the bot's page while its primary endpoint is saved on the endpoint's page take
turns, where locking in opposite orders made PostgreSQL end one of them as a deadlock."""

import threading

import pytest
from django.db import connection
from django.db.models.signals import pre_save
from django.test import Client
from django.urls import reverse

from conversations.models import Bot
from forwarding.endpoints import change_endpoint
from forwarding.models import WebhookEndpoint
from forwarding.recovery import default_since, recover_missed
from tests.html_forms import submitted_form
from tests.polling import wait_until

OLD = "https://old.example.com/in"
NEW = "https://new.example.com/in"

ENDPOINT_PAGES = {
    "admin": ("admin:forwarding_webhookendpoint_change", "webhookendpoint_form"),
    "console": ("console:webhook", "endpoint-form"),
}


def _endpoint_post(client, page: str, bot: Bot, endpoint: WebhookEndpoint):
    name, form_id = ENDPOINT_PAGES[page]
    args = [endpoint.pk] if page == "admin" else [bot.pk, endpoint.pk]
    form = submitted_form(client.get(reverse(name, args=args)).content.decode(), form_id)
    if page == "admin":
        return reverse(name, args=args), {**form, "description": "CRM"}
    return reverse("console:webhook_change", args=args), {**form, "description": "CRM"}


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite locks the whole database, not rows"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", ENDPOINT_PAGES)
def test_the_bots_webhook_url_and_its_primary_endpoint_saved_at_once_are_both_saved(
    superuser, make_bot, page
):
    # Given a bot's page and its primary endpoint's page, both open
    bot = make_bot(webhook_url=OLD)
    primary = WebhookEndpoint.objects.get(bot=bot, is_primary=True)
    bot_client, endpoint_client = Client(), Client()
    bot_client.force_login(superuser)
    endpoint_client.force_login(superuser)
    bot_url = reverse("admin:conversations_bot_change", args=[bot.pk])
    bot_form = submitted_form(bot_client.get(bot_url).content.decode(), "bot_form")
    endpoint_url, endpoint_form = _endpoint_post(endpoint_client, page, bot, primary)

    # When both are saved at once: the bot's save holds the bot's row when it writes the
    # bot, and the endpoint's save holds whatever it locks when it writes the endpoint
    bot_holds_its_row, endpoint_holds_its_rows, go = (threading.Event() for _ in range(3))
    endpoint_backend, outcomes = [], {}

    def hold(sender, instance, **kwargs):
        if sender is Bot and threading.current_thread().name == "bot":
            bot_holds_its_row.set()
            go.wait(30)
        elif sender is WebhookEndpoint and threading.current_thread().name == "endpoint":
            endpoint_holds_its_rows.set()
            go.wait(30)

    def save(name, client, url, data):
        try:
            if name == "endpoint":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    endpoint_backend.append(cursor.fetchone()[0])
            outcomes[name] = client.post(url, data).status_code
        except Exception as error:  # the test client raises what the view raised
            outcomes[name] = repr(error)
        finally:
            connection.close()

    def waits_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", endpoint_backend
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    bot_save = threading.Thread(
        target=save, name="bot", args=("bot", bot_client, bot_url, {**bot_form, "webhook_url": NEW})
    )
    endpoint_save = threading.Thread(
        target=save,
        name="endpoint",
        args=("endpoint", endpoint_client, endpoint_url, endpoint_form),
    )
    pre_save.connect(hold)
    try:
        bot_save.start()
        assert bot_holds_its_row.wait(30)
        endpoint_save.start()
        # The endpoint's save either locked the endpoint's row, or waits for the bot's.
        assert wait_until(
            lambda: endpoint_holds_its_rows.is_set() or (endpoint_backend and waits_for_a_lock()),
            timeout=30,
        )
        go.set()
        bot_save.join(60)
        endpoint_save.join(60)
    finally:
        go.set()
        pre_save.disconnect(hold)

    # Then both are saved, neither refused as a deadlock
    assert outcomes == {"bot": 302, "endpoint": 302}
    primary.refresh_from_db()
    assert (primary.url, primary.description) == (NEW, "CRM")
    assert Bot.objects.get(pk=bot.pk).webhook_url == NEW


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite locks the whole database, not rows"
)
@pytest.mark.django_db(transaction=True)
def test_a_recovery_started_while_the_bots_webhook_url_is_saved_waits_its_turn(
    superuser, hooked_bot, make_operator, record
):
    # Given a primary endpoint that missed a message while switched off
    primary = WebhookEndpoint.objects.get(bot=hooked_bot, is_primary=True)
    actor = make_operator("ops", hooked_bot)
    change_endpoint(actor, primary, is_active=False)
    record(hooked_bot, msgid="while-off")
    change_endpoint(actor, primary, is_active=True)
    primary.refresh_from_db()
    bot_client = Client()
    bot_client.force_login(superuser)
    bot_url = reverse("admin:conversations_bot_change", args=[hooked_bot.pk])
    bot_form = submitted_form(bot_client.get(bot_url).content.decode(), "bot_form")

    # When the bot's webhook URL is saved (holding the bot's row, about to lock the
    # endpoint's) while an operator starts forwarding what the endpoint missed
    bot_holds_its_row, go = threading.Event(), threading.Event()
    outcomes = {}

    def hold(sender, instance, **kwargs):
        if sender is Bot and threading.current_thread().name == "bot":
            bot_holds_its_row.set()
            go.wait(30)

    def save_bot():
        try:
            outcomes["bot"] = bot_client.post(bot_url, {**bot_form, "webhook_url": NEW}).status_code
        except Exception as error:
            outcomes["bot"] = repr(error)
        finally:
            connection.close()

    def recover():
        try:
            progress = recover_missed(actor, primary, default_since(primary))
            outcomes["recovery"] = progress.queued if progress else None
        except Exception as error:
            outcomes["recovery"] = repr(error)
        finally:
            connection.close()

    def someone_waits_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0] > 0

    bot_save = threading.Thread(target=save_bot, name="bot")
    recovery = threading.Thread(target=recover, name="recovery")
    pre_save.connect(hold)
    try:
        bot_save.start()
        assert bot_holds_its_row.wait(30)
        recovery.start()
        assert wait_until(someone_waits_for_a_lock, timeout=30)
        go.set()
        bot_save.join(60)
        recovery.join(60)
    finally:
        go.set()
        pre_save.disconnect(hold)

    # Then both go through: neither is ended by PostgreSQL as a deadlock
    assert outcomes == {"bot": 302, "recovery": 1}
