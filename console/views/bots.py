"""Bots in the console: the list of the user's bots and one page per bot.

The page gathers what the admin's bot form had: connection (test, setup
guide), credentials, sending (quiet hours, pace), contacts (sync, adding a
conversation by hand), operators and webhooks. Who may change what is
decided in conversations/roles.py; the work is done by the services the
admin uses too.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.views.decorators.http import require_POST

from botadmin.timezones import zone_or_default
from connectors import bot_settings
from connectors.registry import CONNECTORS
from conversations import connections, refusals
from conversations.models import BotConnection, SyncRun
from conversations.roles import is_bot_admin, may_change_sending, may_create_bots
from conversations.services import bots_visible_to, check_connection
from deletions import services as deletion_services
from messaging import delivery_caps
from messaging.blocked_sending import blocked_sending, with_blocked_sending

from ..bot_contacts import sync_context
from ..bot_forms import AddOperatorForm, ConversationForm, SendingForm, connector_settings_form
from ..bot_pause import pause_context
from ..connection_tests import last_connection_test
from ..dashboard import last_contact
from ..deletion_state import deletion_context, refused_while_deleting
from ..login_required import login_required
from .app_setup import setup_url
from .bot_secrets import issued_secret_once
from .scoping import visible_bot_or_404


@login_required
def bot_list(request):
    last_sync = SyncRun.objects.filter(bot=OuterRef("pk")).order_by("-requested_at", "-id")
    bots = with_blocked_sending(
        bots_visible_to(request.user)
        .annotate(
            conversation_count=Count("conversations"),
            last_sync_outcome=Subquery(last_sync.values("outcome")[:1]),
        )
        .order_by("name")
    )
    outcomes = dict(SyncRun.Outcome.choices)
    bots = list(bots)
    being_deleted = deletion_services.bots_being_deleted(bot.pk for bot in bots)
    now = timezone.now()
    rows = [
        {
            "bot": bot,
            "deletion_job_id": being_deleted.get(bot.pk),
            "connector": CONNECTORS[bot.connector].label if bot.connector in CONNECTORS else "",
            "last_sync": outcomes.get(bot.last_sync_outcome, ""),
            "blocked": blocked_sending(bot, now),
            "refused": refusals.refusal(bot),
        }
        for bot in bots
    ]
    return render(
        request,
        "console/bots/list.html",
        {"rows": rows, "may_create": may_create_bots(request.user)},
    )


def _checked_at(state: dict):
    """When the connector was last asked about itself (kept as ISO text), or None."""
    try:
        return datetime.fromisoformat(state.get("checked_at") or "")
    except (TypeError, ValueError):
        return None


def _settings_rows(connector, bot) -> list[dict]:
    """The connector's settings as the generic setup guide lists them (secrets masked)."""
    if connector is None:
        return []
    values = bot_settings.stored_values(connector, bot)
    defaults = connector.setting_defaults()
    rows = []
    for name, field in bot_settings.fields(connector).items():
        value, note = values.get(name, ""), ""
        if not value and name in defaults:  # the value used, as the setup checklist shows it
            value, note = defaults[name]
        rows.append(
            {
                "name": name,
                "label": capfirst(field.label or name),
                "value": value,
                "note": note,
                "secret": bot_settings.is_secret(field),
            }
        )
    return rows


def bot_context(request, bot) -> dict:
    """What every section of the bot page reads."""
    connector = CONNECTORS.get(bot.connector)
    admin = is_bot_admin(request.user, bot)
    state = bot.connector_state if isinstance(bot.connector_state, dict) else {}
    return {
        "bot": bot,
        "bots": bots_visible_to(request.user).order_by("name"),
        "connector": connector,
        "connector_label": connector.label if connector else bot.connector,
        "receives_nothing": bool(connector and not connector.receives_messages),
        "guide": connector.setup_guide if connector else "connectors/guides/generic.html",
        "state": state,
        "is_bot_admin": admin,
        "may_change_sending": may_change_sending(request.user, bot),
        "setup_url": setup_url(bot) if admin and connector else "",
        "bot_zone": zone_or_default(bot.timezone),
        "operators": bot.operators.order_by("username"),
        "checked_at": _checked_at(state),
        "last_test": last_connection_test(bot),
        "last_contact": last_contact(bot),
        "settings_rows": _settings_rows(connector, bot),
        **connection_context(bot),
        "holds_long_connection": bool(connector and connector.holds_long_connection),
        # The caps all the bot's sends share (a WeCom app's person-messages), used today.
        "daily_caps": delivery_caps.used_today(
            connector(bot).shared_daily_caps() if connector else [], timezone.now()
        ),
        **sync_context(request, bot),
        **pause_context(request.user, bot),
        **deletion_context(bot),
    }


def connection_context(bot) -> dict:
    """A long-connection bot's connection row, and its state as operators are shown it (the
    dashboard's and /metrics': "not connected" once its holder's lease ran out)."""
    row = BotConnection.objects.filter(bot=bot).first()
    return {"connection": row, "shown_connection": connections.describe(row)}


def render_bot_page(request, bot, *, new_secret: dict | None = None, **forms):
    """The bot page with the forms its user may use; `forms` replace them (bound, with errors).
    `new_secret`: the API secret just issued, shown in full (issued_secret_once)."""
    context = bot_context(request, bot)
    context["new_secret"] = new_secret
    connector = context["connector"]
    if context["is_bot_admin"] and connector is not None:
        if bot_settings.fields(connector):
            context["connector_form"] = connector_settings_form(connector, bot)
        context["operators_form"] = AddOperatorForm()
        context["rotate_url"] = reverse("console:bot_rotate", args=[bot.pk])
        if connector.enters_contacts:
            context["conversation_form"] = ConversationForm(bot=bot)
    if context["may_change_sending"]:
        context["sending_form"] = SendingForm(instance=bot)
    context.update(forms)
    return render(request, "console/bots/page.html", context, status=400 if forms else 200)


@login_required
def bot_page(request, bot_id: int):
    bot = visible_bot_or_404(request.user, bot_id)
    new_secret = issued_secret_once(request, bot)
    response = render_bot_page(request, bot, new_secret=new_secret)
    if new_secret:  # a page holding a secret in full is not kept for the Back button
        add_never_cache_headers(response)
    return response


@login_required
@require_POST
@refused_while_deleting
def test_connection(request, bot_id: int):
    """The verdict and a classified reason; never what the other side answered."""
    bot = visible_bot_or_404(request.user, bot_id)
    # The result is shown next to the button (console/connection_tests.py), where the
    # redirect scrolls to; a message at the top of the page was out of view.
    check_connection(bot, request.user)
    return redirect(reverse("console:bot", args=[bot.pk]) + "#connection")
