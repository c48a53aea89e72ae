"""Forms the admin and the console share, and what their Replay buttons do."""

from datetime import UTC, timedelta

from django import forms
from django.contrib import messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botadmin.forms import NoLabelSuffix, posted_submission

from .models import WebhookDelivery, WebhookEndpoint
from .replay import AlreadyReplayed, replay_deliveries

MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # a datetime-local input's value


class ReplayFailedForm(NoLabelSuffix, forms.Form):
    start = forms.DateTimeField(
        label=_("from"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label=_("until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            try:
                if data.get(name):
                    data[name].astimezone(UTC)  # how the database gets it
            except OverflowError:  # 0001-01-01 east of UTC
                self.add_error(name, forms.DateTimeField.default_error_messages["invalid"])
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise forms.ValidationError(_("The start must be before the end."))
        return data


def proposed_period(endpoint: WebhookEndpoint) -> dict[str, str]:
    """The replay form's first values: every failed delivery of the endpoint.

    From the oldest one's creation (a delivery fails once its whole schedule
    did, about 28 hours after it was created: "the last day" held none of them)
    to the minute after now (the form counts in minutes, and a delivery refused
    for its URL fails at once)."""
    now = timezone.localtime()
    oldest = (
        endpoint.deliveries.filter(status=WebhookDelivery.Status.FAILED)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    start = timezone.localtime(oldest) if oldest else now - timedelta(days=1)
    end = now + timedelta(minutes=1)
    return {"start": start.strftime(MINUTE_FORMAT), "end": end.strftime(MINUTE_FORMAT)}


def replay_posted(request, delivery: WebhookDelivery) -> None:
    """A delivery's Replay button (console or admin) pressed: replay it once per page (the
    post's `submission`), and tell the user what happened."""
    try:
        replayed = replay_deliveries(
            request.user,
            WebhookDelivery.objects.filter(pk=delivery.pk),
            submission=posted_submission(request.POST),
        )
    except AlreadyReplayed as already:
        messages.info(request, already.message)
        return
    if replayed:
        messages.success(request, _("The delivery was queued again with the same webhook-id."))
    else:
        messages.warning(request, _("The delivery is being attempted right now; try again later."))
