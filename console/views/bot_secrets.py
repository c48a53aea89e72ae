"""A bot's secrets on its page: revealed on demand, rotated with a chosen grace period.

Only bot admins (conversations/roles.py) see or rotate them; every reveal
and rotation is in the audit log.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from botadmin.ids import id_or_none
from botadmin.timezones import zone_or_default
from conversations.bot_changes import removed_operator
from conversations.bot_secrets import reveal as reveal_secret
from conversations.roles import is_bot_admin
from conversations.secret_grace import CONFIRMED, NO_GRACE_QUESTION, rotated_text
from conversations.services import ROTATABLE, rotate_secret

from ..bot_forms import RotateForm
from ..login_required import login_required
from .scoping import visible_bot_or_404


def admin_bot_or_403(request, bot_id: int):
    """The bot, if the user is its bot admin; 404 unless they operate it, else 403."""
    bot = visible_bot_or_404(request.user, bot_id)
    if not is_bot_admin(request.user, bot):
        raise PermissionDenied
    return bot


@login_required
@require_POST
def reveal(request, bot_id: int, which: str):
    bot = admin_bot_or_403(request, bot_id)
    value = reveal_secret(bot, which, request.user, via="console")
    if value is None:
        raise Http404
    return JsonResponse({"value": value})


@login_required
def rotate(request, bot_id: int):
    """Issue a new API or signing secret; the old one works for the chosen grace,
    shown in the bot's time zone."""
    bot = admin_bot_or_403(request, bot_id)
    zone = zone_or_default(bot.timezone)
    initial = {
        "which": request.GET.get("which") if request.GET.get("which") in ROTATABLE else "secret"
    }
    form = RotateForm(request.POST or None, initial=initial, now=timezone.now(), zone=zone)
    confirming = False
    if request.method == "POST" and form.is_valid():
        which = form.cleaned_data["which"]
        if form.confirmed():
            bot = rotate_secret(
                bot, form.grace(), actor=request.user, via=" in the console", which=which
            )
            messages.success(request, rotated_text(bot, which, zone))
            return redirect(reverse("console:bot", args=[bot.pk]) + "#credentials")
        confirming = True  # no grace, and the question not answered (no JavaScript, a script)
    removed = removed_operator(bot, id_or_none(request.GET.get("removed", "")))
    context = {
        "bot": bot,
        "form": form,
        "zone": zone,
        "removed": removed,
        "confirming": confirming,
        "no_grace_question": NO_GRACE_QUESTION,
        "confirmed": CONFIRMED,
    }
    # A post that rotated nothing is refused: a script sees it by the status.
    status = 400 if request.method == "POST" else 200
    return render(request, "console/bots/rotate.html", context, status=status)
