"""Forward to a webhook endpoint the messages it missed while it was off or disabled
(forwarding/recovery.py): a page saying how many, then the bot admin's confirmation."""

from datetime import UTC

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from botadmin.forms import NoLabelSuffix
from forwarding.forms import MINUTE_FORMAT
from forwarding.recovery import (
    RECOVER_AT_MOST,
    RECOVER_DAYS,
    default_since,
    may_recover,
    missed,
    recover_missed,
)

from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .webhooks import endpoint_or_404, managed_bot


class SinceForm(NoLabelSuffix, forms.Form):
    since = forms.DateTimeField(
        label=_("Messages stored since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MINUTE_FORMAT),
    )

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
    back = reverse("console:webhook", args=[bot.pk, endpoint.pk]) + "#actions"
    data = request.POST if request.method == "POST" else request.GET
    form = SinceForm(data if "since" in data else None)
    since = form.cleaned_data["since"] if form.is_valid() else default_since(endpoint)
    if request.method == "POST" and form.is_valid() and may_recover(endpoint):
        count = recover_missed(request.user, endpoint, since)
        if count:
            messages.success(request, recovered_text(count))
        else:
            messages.info(request, _("This endpoint missed no message in this period."))
        return redirect(back)
    if not form.is_bound or not form.is_valid():
        form = SinceForm(initial={"since": timezone.localtime(since)})
    found = missed(endpoint, since) if may_recover(endpoint) else None
    context = {
        "bot": bot,
        "endpoint": endpoint,
        "form": form,
        "found": found,
        "since_value": found.since.isoformat() if found else "",
        "at_most": RECOVER_AT_MOST,
        "days": RECOVER_DAYS,
        "full": found is not None and found.count >= RECOVER_AT_MOST,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "console/webhooks/recover.html", context, status=status)


def recovered_text(count: int) -> str:
    return ngettext(
        "%(n)d missed message queued for this endpoint: it shows in the deliveries below.",
        "%(n)d missed messages queued for this endpoint: they show in the deliveries below.",
        count,
    ) % {"n": count}
