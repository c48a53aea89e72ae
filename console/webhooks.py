"""A bot's webhook endpoints in the console: who may manage them, the endpoint form,
and what the pages show (health, deliveries with their attempts, a page at a time).

The work is forwarding's (endpoints.add_endpoint / change_endpoint,
replay.replay_deliveries / replay_failed / run_test_event); the admin
calls the same functions.
"""

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.db.models import Count, Min, Prefetch
from django.utils.translation import gettext_lazy as _

from botadmin.edited_meanwhile import ChangedOnThePage
from botadmin.forms import NoLabelSuffix, WebhookURLField
from botadmin.logging import mask_path
from botadmin.masked_urls import mask_url, mask_url_fields
from botadmin.msgtype_names import NAMES
from botadmin.url_spelling import normalized_url
from conversations.roles import is_bot_admin
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from messaging.inbound import OBJECT_MODELS

from .queries import ResultPage, page_by_id_both_ways

DELIVERIES_PAGE = 20


def may_manage_webhooks(user, bot) -> bool:
    """Bot admins add, change, test and replay endpoints; operators only look."""
    return is_bot_admin(user, bot)


def shared_urls(endpoints: list[WebhookEndpoint]) -> set[str]:
    """The URLs more than one of a bot's endpoints forward to (`HTTPS://H/in` is
    `https://h/in`: botadmin.url_spelling), as each of them stores it: each message
    reaches them twice. No endpoint is given such a URL any more
    (forwarding.endpoints.claim_url); endpoints made before that rule may still share one,
    until an operator changes one."""
    counts = Counter(normalized_url(endpoint.url) for endpoint in endpoints)
    return {e.url for e in endpoints if counts[normalized_url(e.url)] > 1}


def deliveries_page(
    endpoint: WebhookEndpoint,
    status: str = "",
    *,
    before: int | None = None,
    after: int | None = None,
) -> ResultPage:
    """The endpoint's deliveries (one status, or all), newest first, each with its
    attempts: the latest page, or the one below the delivery `before` or above `after`.

    A cursor that is not one of this endpoint's deliveries (another endpoint's, another
    bot's, or deleted since) is ignored: the latest page."""
    cursor = after if after is not None else before
    if cursor is not None and not endpoint.deliveries.filter(pk=cursor).exists():
        before = after = None
    deliveries = endpoint.deliveries.select_related("message").prefetch_related(
        Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("number"))
    )
    if status in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    return page_by_id_both_ways(deliveries, before=before, after=after, size=DELIVERIES_PAGE)


def _host_and_path(url: str) -> tuple[str, str]:
    """The URL's host (and port) and path, never its user part, which may hold a password,
    nor a token in the path (masked); a URL that does not split (a port that is no number)
    is all host, masked as pages show it."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return mask_url(url), ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return (f"{host}:{port}" if port else host), mask_path(parts.path, host)


def endpoint_names(endpoints: list[WebhookEndpoint]) -> list[str]:
    """What to call each of a bot's endpoints where its URL does not fit (the dashboard):
    its description, else its host, with the path when another endpoint without a
    description has the same host (two receivers on one server)."""
    split = [_host_and_path(e.url) for e in endpoints]
    unnamed = Counter(
        host for e, (host, _) in zip(endpoints, split, strict=True) if not e.description
    )
    return [
        e.description or (host if unnamed[host] == 1 else host + path)
        for e, (host, path) in zip(endpoints, split, strict=True)
    ]


@dataclass(frozen=True)
class RetryWait:
    """The endpoint's deliveries that failed an attempt and wait for the next one."""

    count: int
    next_attempt_at: datetime | None  # the earliest of their next attempts


def retry_wait(endpoint: WebhookEndpoint) -> RetryWait:
    """While an endpoint fails, its deliveries are pending, not failed, for days (the retry
    schedule): "nothing failed" is then the wrong thing to say about it."""
    waiting = endpoint.deliveries.filter(
        status=WebhookDelivery.Status.PENDING, attempt_count__gt=0
    ).aggregate(count=Count("pk"), next_attempt_at=Min("next_attempt_at"))
    return RetryWait(**waiting)


# A msgtype code as WeCom writes them (text, template_card).
MSGTYPE_CODE = re.compile(r"[a-z0-9_]+")


def is_known_msgtype(code: str) -> bool:
    return code in NAMES or code in OBJECT_MODELS


def _msgtype_choices():
    return [(msgtype, NAMES.get(msgtype, msgtype)) for msgtype in OBJECT_MODELS]


class EndpointForm(NoLabelSuffix, ChangedOnThePage, forms.ModelForm):
    """URL, msgtype filter (the known inbound msgtypes, and any other typed in), description,
    whether the body carries the bot's API secret."""

    msgtype_choice = forms.MultipleChoiceField(
        label=_("Only these message types"),
        required=False,
        choices=_msgtype_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every message is forwarded."),
    )
    other_msgtypes = forms.CharField(
        label=_("Other message types"),
        required=False,
        max_length=200,
        help_text=_("Separated by commas, e.g. voice, file."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "sends_api_secret", "is_active")
        field_classes = {"url": WebhookURLField}  # checked as forwarding checks it

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            known = dict(_msgtype_choices())
            chosen = self.instance.msgtypes or []
            self.initial["msgtype_choice"] = [t for t in chosen if t in known]
            self.initial["other_msgtypes"] = ", ".join(t for t in chosen if t not in known)
            if self.instance.is_primary:
                self.fields["url"].disabled = True
                self.fields["url"].help_text = _("The bot's webhook URL: changed on the bot.")
            # A stale tab would undo another's new URL, description or message types.
            self.show_shown_values()
        else:
            del self.fields["is_active"]
        if not self.fields["url"].disabled and not settings.BOTADMIN_ALLOW_PRIVATE_URLS:
            self.fields["url"].help_text = _(
                "botadmin's server POSTs each message here, so the address must be public: "
                "one in a private, loopback or link-local network is refused unless the "
                "server's BOTADMIN_WEBHOOK_NETWORKS setting lists that network."
            )
        mask_url_fields(self, {"url": self.instance.url})

    def clean_other_msgtypes(self):
        words = [w.strip() for w in self.cleaned_data["other_msgtypes"].split(",")]
        words = [w for w in words if w]
        # Only what a msgtype code can be: str.isalnum() also takes 图片, which then
        # looked like the image type on the pages but matched nothing.
        if any(len(w) > 32 or not MSGTYPE_CODE.fullmatch(w) for w in words):
            raise forms.ValidationError(
                _(
                    "Message types are codes like voice or file: lower-case letters, "
                    "digits and _ only."
                )
            )
        return words

    def unknown_msgtypes(self) -> list[str]:
        """The other types typed that no message botadmin knows of has: kept (WeCom may
        add types), and worth a warning, as a typo forwards nothing."""
        return [t for t in self.cleaned_data.get("other_msgtypes", []) if not is_known_msgtype(t)]

    def msgtypes(self) -> list[str]:
        chosen = self.cleaned_data.get("msgtype_choice", []) + self.cleaned_data.get(
            "other_msgtypes", []
        )
        return list(dict.fromkeys(chosen))

    def endpoint_fields(self) -> dict:
        """What the valid form gives forwarding's add_endpoint / change_endpoint."""
        data = self.cleaned_data
        fields = {
            "url": data["url"],
            "msgtypes": self.msgtypes(),
            "description": data["description"],
            "sends_api_secret": data["sends_api_secret"],
        }
        if "is_active" in self.fields:  # a new endpoint starts active
            fields["is_active"] = data["is_active"]
        if not self.instance.pk:
            return fields
        # A change: only what the page changed, the rest as stored now.
        changed = self.changed_data
        fields = {name: value for name, value in fields.items() if name in changed}
        if "msgtype_choice" in changed or "other_msgtypes" in changed:
            fields["msgtypes"] = self._msgtypes_changed(changed)
        return fields

    def _msgtypes_changed(self, changed: list[str]) -> list[str]:
        """The stored msgtypes with the ticked ones, the typed ones or both replaced."""
        stored = self.instance.msgtypes or []
        known = dict(_msgtype_choices())
        ticked = [t for t in stored if t in known]
        typed = [t for t in stored if t not in known]
        if "msgtype_choice" in changed:
            ticked = self.cleaned_data.get("msgtype_choice", [])
        if "other_msgtypes" in changed:
            typed = self.cleaned_data.get("other_msgtypes", [])
        return list(dict.fromkeys(ticked + typed))
