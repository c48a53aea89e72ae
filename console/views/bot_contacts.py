"""A bot page's contacts: sync now and its live progress."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from botadmin.timezones import zone_or_default
from connectors.registry import CONNECTORS
from conversations import bot_changes
from conversations.models import SyncRun

from ..bot_contacts import request_console_sync, sync_context
from ..bot_forms import ConversationForm
from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .bot_secrets import admin_bot_or_403
from .bots import connection_context, render_bot_page
from .scoping import visible_bot_or_404


@login_required
@require_POST
@refused_while_deleting
def sync_now(request, bot_id: int):
    """Any operator of the bot may sync it: a sync only reads from the connector."""
    bot = visible_bot_or_404(request.user, bot_id)
    run, created = request_console_sync(request.user, bot)
    if run.outcome == SyncRun.Outcome.NOT_POSSIBLE:
        messages.warning(request, run.shown_error)
    elif created:
        messages.success(request, _("A contact sync started."))
    else:
        messages.info(request, _("A contact sync was already running; follow it below."))
    return redirect(reverse("console:bot", args=[bot.pk]) + "#contacts")


@login_required
def sync_status(request, bot_id: int):
    """The sync block for the page's poller (static/botadmin/sync-status.js)."""
    bot = visible_bot_or_404(request.user, bot_id)
    context = {"bot": bot, **sync_context(request, bot)}
    html = render_to_string("console/bots/_sync.html", context, request=request)
    return JsonResponse({"active": context["sync_active"], "html": html})


@login_required
@require_POST
@refused_while_deleting
def add_conversation(request, bot_id: int):
    """A conversation entered by hand (a group robot's group with its key): bot admins only."""
    bot = admin_bot_or_403(request, bot_id)
    connector = CONNECTORS.get(bot.connector)
    if connector is None or not connector.enters_contacts:
        raise Http404  # its conversations come from the other side
    form = ConversationForm(request.POST, bot=bot)
    if form.is_valid():
        try:
            conversation = bot_changes.add_conversation(form.instance, request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Conversation %(name)s added.") % {"name": conversation})
            return redirect(reverse("console:bot", args=[bot.pk]) + "#contacts")
    return render_bot_page(request, bot, conversation_form=form)


@login_required
def connection_status(request, bot_id: int):
    """A long-connection bot's live connection, for the page's poller (sync-status.js)."""
    bot = visible_bot_or_404(request.user, bot_id)
    context = {**connection_context(bot), "bot_zone": zone_or_default(bot.timezone)}
    if context["connection"] is None:
        return JsonResponse({"active": False, "html": ""})
    html = render_to_string("connectors/guides/_live_connection.html", context, request=request)
    return JsonResponse({"active": True, "html": html})
