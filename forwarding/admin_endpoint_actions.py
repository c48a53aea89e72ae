"""The admin's actions on selected webhook endpoints: re-enable them, and forward them the
messages they missed (the console's "Forward the messages it missed", from when each one's
forwarding stopped: forwarding/recovery.py)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_changes import atomic_action

from .endpoints import reenable_endpoint, resumed_text
from .recovery import default_since, may_recover, recover_missed


@admin.action(description=_("Re-enable the selected endpoints"), permissions=["change"])
@atomic_action
def reenable(modeladmin, request, queryset):
    resumed = 0
    for endpoint in queryset.exclude(disabled_at=None):
        resumed += reenable_endpoint(endpoint, actor=request.user)
    messages.success(request, resumed_text(resumed))


@admin.action(
    description=_("Forward the messages the selected endpoints missed"), permissions=["change"]
)
@atomic_action  # the runs' first batches and audit entries; their tasks leave on commit
def forward_missed(modeladmin, request, queryset):
    runs = [
        recover_missed(request.user, endpoint, default_since(endpoint))
        for endpoint in queryset.select_related("bot")
        if may_recover(endpoint)
    ]
    found = sum(run.found for run in runs if run)
    if not found:
        messages.info(
            request,
            _("No message was missed by the selected endpoints that forward: nothing was queued."),
        )
        return
    messages.success(
        request,
        ngettext(
            "%(n)d missed message is being forwarded: each endpoint's page in the console "
            "shows how far.",
            "%(n)d missed messages are being forwarded: each endpoint's page in the console "
            "shows how far.",
            found,
        )
        % {"n": found},
    )
