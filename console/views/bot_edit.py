"""Changing a bot from its console page, and creating one.

Connector settings and operators are for bot admins; quiet hours and pace
for operators with the change permission too (conversations/roles.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from botadmin.edited_meanwhile import refuse_changes_made_meanwhile
from botadmin.forms import look_up_urls, url_checks_remembered
from connectors.registry import CONNECTORS, DEFAULT_KIND
from conversations import bot_changes
from conversations.roles import may_change_sending, may_create_bots

from ..bot_forms import (
    AddOperatorForm,
    BotCreateForm,
    SendingForm,
    connector_settings_form,
    settings_values,
)
from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .bot_secrets import admin_bot_or_403
from .bots import render_bot_page
from .scoping import visible_bot_or_404


def _section(bot, name: str) -> str:
    return reverse("console:bot", args=[bot.pk]) + f"#{name}"


def _add_model_errors(form, error: ValidationError, *others) -> None:
    """Errors of Bot.full_clean() on the field they are about (in `form` or one of
    `others`), else on `form`."""
    for name, errors in error.message_dict.items():
        owner = next((f for f in (form, *others) if name in f.fields), None)
        (owner or form).add_error(name if owner else None, errors)


@login_required
def bot_create(request):
    if not may_create_bots(request.user):
        raise PermissionDenied
    kind = request.POST.get("connector") or request.GET.get("connector") or DEFAULT_KIND
    if kind not in CONNECTORS:
        kind = DEFAULT_KIND
    connector = CONNECTORS[kind]
    data = request.POST if request.method == "POST" else None
    form = BotCreateForm(data)
    settings_form = connector_settings_form(connector, None, data)
    if data is not None and form.is_valid() and settings_form.is_valid():
        try:
            bot = bot_changes.create_bot(
                request.user, form.cleaned_data["name"], kind, settings_values(settings_form)
            )
        except ValidationError as error:
            _add_model_errors(form, error, settings_form)
        else:
            messages.success(request, _("Bot %(name)s created.") % {"name": bot.name})
            return redirect("console:bot", bot_id=bot.pk)
    return render(
        request,
        "console/bots/create.html",
        {
            "form": form,
            "settings_form": settings_form,
            "kind": kind,
            "connectors": [(k, c.label) for k, c in CONNECTORS.items()],
            # Values, not the class: a template would call it.
            "summary": connector.summary,
            "docs_section": connector.docs_section,
        },
    )


@login_required
@require_POST
@refused_while_deleting
def connector_settings(request, bot_id: int):
    bot = admin_bot_or_403(request, bot_id)
    changed = None
    with url_checks_remembered():  # each URL looked up once, not again under the lock
        look_up_urls(connector_settings_form(CONNECTORS[bot.connector], bot, request.POST))
        # Checked against the bot as stored now, locked till saved: a setting another tab
        # or user changed since the page was drawn is refused, even one changed while the
        # URLs above were looked up (ChangedOnThePage).
        with bot_changes.bot_locked(bot) as current:
            form = connector_settings_form(CONNECTORS[current.connector], current, request.POST)
            if form.is_valid() and not refuse_changes_made_meanwhile(form):
                try:
                    changed = bot_changes.change_connector_settings(
                        current, settings_values(form), request.user
                    )
                except ValidationError as error:
                    _add_model_errors(form, error)
    bot.refresh_from_db()
    if changed is None:
        return render_bot_page(request, bot, connector_form=form)
    if changed:
        messages.success(request, _("Connector settings saved."))
    else:
        messages.info(request, _("Nothing changed."))
    return redirect(_section(bot, "connection"))


@login_required
@require_POST
@refused_while_deleting
def sending(request, bot_id: int):
    bot = visible_bot_or_404(request.user, bot_id)
    if not may_change_sending(request.user, bot):
        raise PermissionDenied
    # Checked against the bot as stored now, locked till saved: a stale tab's change to a
    # field another tab or user changed meanwhile is refused (ChangedOnThePage).
    with bot_changes.bot_locked(bot) as current:
        form = SendingForm(request.POST, instance=current)
        if form.is_valid() and form.has_changed():
            bot_changes.change_fields(form.save(commit=False), form.changed_data, request.user)
    if form.is_valid():
        messages.success(request, _("Sending settings saved."))
        return redirect(_section(bot, "sending"))
    bot.refresh_from_db()
    return render_bot_page(request, bot, sending_form=form)


@login_required
@require_POST
def add_operator(request, bot_id: int):
    bot = admin_bot_or_403(request, bot_id)
    form = AddOperatorForm(request.POST)
    if not form.is_valid():
        return render_bot_page(request, bot, operators_form=form)
    user = form.cleaned_data["username"]
    if bot_changes.set_operator(bot, user, request.user, operator=True):
        messages.success(request, _("%(user)s is now an operator.") % {"user": user.username})
    else:
        messages.info(request, _("%(user)s is already an operator.") % {"user": user.username})
    return redirect(_section(bot, "operators"))


@login_required
@require_POST
def remove_operator(request, bot_id: int, user_id: int):
    """Remove, then offer to rotate the secrets the operator may have seen."""
    bot = admin_bot_or_403(request, bot_id)
    user = get_object_or_404(bot.operators.all(), pk=user_id)
    bot_changes.set_operator(bot, user, request.user, operator=False)
    if user == request.user:  # they no longer see the bot
        messages.warning(request, _("You are no longer an operator of %(bot)s.") % {"bot": bot})
        return redirect("console:bots")
    messages.warning(
        request,
        _("%(user)s is no longer an operator. If they ever saw the bot's secrets, rotate them now.")
        % {"user": user.username},
    )
    return redirect(reverse("console:bot_rotate", args=[bot.pk]) + f"?removed={user.pk}")
