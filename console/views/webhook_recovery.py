"""Forward to a webhook endpoint the messages it missed while it was off or disabled
(forwarding/recovery.py): a page saying how many, then the bot admin's confirmation."""

from datetime import UTC

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from botadmin.forms import NoLabelSuffix
from botadmin.timezones import zone_or_default
from forwarding.forms import MINUTE_FORMAT
from forwarding.recovery import (
    RECOVER_DAYS,
    Progress,
    count_missed,
    default_since,
    earliest,
    latest_run,
    may_recover,
    recover_missed,
)

from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .webhooks import endpoint_or_404, managed_bot


class SinceForm(NoLabelSuffix, forms.Form):
    """A moment typed in the bot's time zone (`zone`), as the console shows its times; the
    page's own hidden field carries it with its offset."""

    since = forms.DateTimeField(
        label=_("Messages stored since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MINUTE_FORMAT),
    )

    def __init__(self, *args, zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone

    def full_clean(self):
        with timezone.override(self.zone):  # a time without offset is the bot's
            super().full_clean()

    def clean_since(self):
        since = self.cleaned_data["since"]
        try:
            since.astimezone(UTC)
        except OverflowError:  # 0001-01-01 east of UTC
            invalid = forms.DateTimeField.default_error_messages["invalid"]
            raise forms.ValidationError(invalid) from None
        return since


@login_required
@refused_while_deleting
def endpoint_recover(request, bot_id: int, endpoint_id: int):
    """GET: how many messages the endpoint missed since a time (by default, since its
    forwarding stopped) and a button to forward them; POST: forward them."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    zone = zone_or_default(bot.timezone)
    back = reverse("console:webhook", args=[bot.pk, endpoint.pk]) + "#actions"
    data = request.POST if request.method == "POST" else request.GET
    form = SinceForm(data if "since" in data else None, zone=zone)
    if request.method == "POST" and form.is_valid() and may_recover(endpoint):
        run = recover_missed(request.user, endpoint, form.cleaned_data["since"])
        if run is None:
            messages.info(request, _("This endpoint missed no message in this period."))
        elif run.done:
            messages.success(request, recovered_text(run.queued))
        else:
            messages.success(request, started_text(run))
        return redirect(back)
    now = timezone.now()
    typed = form.cleaned_data["since"] if form.is_valid() else None
    since = max(typed or default_since(endpoint), earliest(now))
    moved = typed is not None and typed < since  # before RECOVER_DAYS: said, not hidden
    if not form.is_bound or moved:
        form = SinceForm(
            initial={"since": timezone.localtime(since, zone).strftime(MINUTE_FORMAT)}, zone=zone
        )
    found = None
    if may_recover(endpoint) and not form.errors:
        found = count_missed(endpoint, since, now)
    context = {
        "bot": bot,
        "bot_zone": zone,
        "endpoint": endpoint,
        "form": form,
        "off": not may_recover(endpoint),
        "found": found,
        "since": since,
        "since_value": since.isoformat(),
        "moved": moved,
        "days": RECOVER_DAYS,
    }
    status = 400 if request.method == "POST" or form.errors else 200
    return render(request, "console/webhooks/recover.html", context, status=status)


@login_required
def endpoint_recover_progress(request, bot_id: int, endpoint_id: int):
    """The endpoint page's sentence on its last run, which recover-progress.js fetches
    while the run goes on (it stops once the sentence says done)."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    run = latest_run(endpoint)
    context = {"bot": bot, "endpoint": endpoint, "recovery": run}
    context["bot_zone"] = zone_or_default(bot.timezone)
    if run is None:
        return HttpResponse(status=204)
    return render(request, "console/webhooks/recover_progress.html", context)


def recovered_text(count: int) -> str:
    return ngettext(
        "%(n)d missed message queued for this endpoint: it shows in the deliveries below.",
        "%(n)d missed messages queued for this endpoint: they show in the deliveries below.",
        count,
    ) % {"n": count}


def started_text(run: Progress) -> str:
    return ngettext(
        "%(queued)d of %(n)d missed message queued for this endpoint; the rest are being "
        "queued: this page shows how far.",
        "%(queued)d of %(n)d missed messages queued for this endpoint; the rest are being "
        "queued: this page shows how far.",
        run.found,
    ) % {"queued": run.queued, "n": run.found}
