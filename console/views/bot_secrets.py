"""A bot's secrets on its page: revealed on demand, its API secret rotated with a chosen
grace period and then shown once in full to whoever rotated it (a webhook endpoint's
signing secret: views/webhooks.py).

Only bot admins (conversations/roles.py) see or rotate them; every reveal
and rotation is in the audit log.
"""

from __future__ import annotations

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
from conversations.secret_grace import (
    API_SECRET_NO_GRACE_QUESTION,
    GraceForm,
    grace_context,
    rotated_text,
)
from conversations.services import rotate_secret
from forwarding.models import WebhookEndpoint

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
    """Issue a new API secret; the old one works for the chosen grace, shown in the
    bot's time zone. Each webhook endpoint's signing secret is rotated on its own page
    (views/webhooks.py), which this page links to."""
    bot = admin_bot_or_403(request, bot_id)
    zone = zone_or_default(bot.timezone)
    form = GraceForm(request.POST or None, now=timezone.now(), zone=zone, secret=bot.secret)
    if form.rotates():
        if form.rotate(request, rotate_secret, bot, via=" in the console"):
            request.session[_issued_key(bot)] = True
        return redirect(reverse("console:bot", args=[bot.pk]) + "#credentials")
    removed = removed_operator(bot, id_or_none(request.GET.get("removed", "")))
    endpoints = list(WebhookEndpoint.objects.filter(bot=bot))
    context = {
        "bot": bot,
        "removed": removed,
        "endpoints": endpoints,
        "sent_the_api_secret": [e for e in endpoints if e.sends_api_secret],
        **grace_context(form, zone, API_SECRET_NO_GRACE_QUESTION),
    }
    # A post that rotated nothing is refused: a script sees it by the status.
    status = 400 if request.method == "POST" else 200
    return render(request, "console/bots/rotate.html", context, status=status)


def _issued_key(bot) -> str:
    return f"console:api_secret_issued:{bot.pk}"


def issued_secret_once(request, bot) -> dict | None:
    """Right after its bot admin rotated the API secret: what the rotation did, and the new
    secret in full, next to each other on the bot page's credentials (the top of the page,
    where a message goes, was scrolled out of view). Only the first page view after the
    rotation shows it; the session keeps that it is due, never the secret."""
    if not request.session.pop(_issued_key(bot), False) or not is_bot_admin(request.user, bot):
        return None
    return {"value": bot.secret, "text": rotated_text(bot, zone_or_default(bot.timezone))}
