"""How long a rotated-out secret keeps working, as a bot admin chooses it on the
console's rotate pages and the admin's (a bot's API secret, a webhook endpoint's
signing secret): the same choices, from none (after an
operator was removed, their copy stops working now) to a week, each shown with
the moment it ends in the bot's time zone.

None breaks every caller still using the old secret at once, so the console and the
admin ask the same question first (`API_SECRET_NO_GRACE_QUESTION`,
`SIGNING_SECRET_NO_GRACE_QUESTION`: who fails differs) and rotate without a grace only
when the post says it was answered (`no_grace=confirmed`): the console asks in
the browser and fills that in, a page without JavaScript and the admin ask with
a page of their own, and a script that posts none is asked instead of obeyed."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from botadmin.forms import NoLabelSuffix

from .models import Bot
from .secrets import AlreadyRotated, fingerprint

GRACE_CHOICES = [
    ("0", _("None: the old secret stops working now")),
    ("1", _("1 hour")),
    ("24", _("24 hours")),
    ("72", _("3 days")),
    ("168", _("7 days")),
]


# Webhook receivers verify a signature made with their endpoint's own secret; only one
# that reads the body's "secret" (its endpoint's "Send the API secret" on) holds the API
# secret, and the body carries the new one from the rotation on (forwarding's
# body_secret), whatever the grace.
API_SECRET_NO_GRACE_QUESTION = _(
    "Stop the old API secret now? Every API caller still using it fails from this moment "
    'until it is given the new one, and so does a webhook receiver that checks the "secret" '
    "field of the bodies forwarded to it. Receivers that verify the webhook-signature are "
    "not affected: each endpoint signs with a secret of its own."
)
SIGNING_SECRET_NO_GRACE_QUESTION = _(
    "Stop signing with the old secret now? A receiver still verifying with it refuses "
    "every delivery from this moment until it is given the new one (refused deliveries "
    "are retried on their schedule)."
)
CONFIRMED = "confirmed"


class GraceForm(NoLabelSuffix, forms.Form):
    grace_hours = forms.TypedChoiceField(
        label=_("The old secret keeps working for"),
        choices=GRACE_CHOICES,
        coerce=int,
        initial="24",
        widget=forms.RadioSelect,
    )
    # "confirmed" once the question was answered yes; only read without a grace.
    no_grace = forms.CharField(required=False, widget=forms.HiddenInput)
    # The fingerprint of the secret the page was drawn for (secrets.fingerprint): posted
    # again after it rotated (a double click), the page rotates nothing more.
    replacing = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, now, zone, secret: str = "", **kwargs):
        """`secret`: the one the page rotates."""
        super().__init__(*args, **kwargs)
        self.initial["replacing"] = fingerprint(secret) if secret else ""
        choices = []
        for value, label in GRACE_CHOICES:
            if value != "0":
                until = timezone.localtime(now + timedelta(hours=int(value)), zone)
                label = _("%(grace)s (until %(when)s)") % {
                    "grace": label,
                    "when": f"{until:%Y-%m-%d %H:%M} {until.tzname()}",
                }
            choices.append((value, label))
        self.fields["grace_hours"].choices = choices

    def grace(self) -> timedelta:
        return timedelta(hours=self.cleaned_data["grace_hours"])

    def replaced_secret(self) -> str:
        """The fingerprint of the secret the post rotates ("" for whichever is current)."""
        return self.cleaned_data["replacing"]

    def rotate(self, request, rotation, target, *, via: str):
        """`rotation(target, grace, …)` (conversations.services.rotate_secret,
        forwarding.signing_secrets.rotate_signing_secret) of the secret the page showed, by
        the request's user: the target as rotated, or None when that secret was rotated
        already (the page posted twice), which the user is told."""
        try:
            return rotation(
                target,
                self.grace(),
                actor=request.user,
                via=via,
                replacing=self.replaced_secret(),
            )
        except AlreadyRotated:
            messages.info(request, ALREADY_ROTATED)
            return None

    def confirmed(self) -> bool:
        """Whether a valid form may rotate: with a grace, or with none confirmed."""
        return bool(self.grace()) or self.cleaned_data["no_grace"] == CONFIRMED

    def rotates(self) -> bool:
        """Whether the post says to rotate now: valid, and confirmed."""
        return self.is_valid() and self.confirmed()

    def asks_again(self) -> bool:
        """Whether the post chose no grace without answering the question (no
        JavaScript, a script): the page asks it instead of rotating."""
        return self.is_valid() and not self.confirmed()


def grace_context(form: GraceForm, zone, no_grace_question) -> dict:
    """What a rotate page's grace choice needs (console/_rotate_grace.html,
    admin/_rotate_grace.html): the form, the zone its times are in, the question asked
    before rotating without a grace, and whether to ask it on a page of its own."""
    return {
        "form": form,
        "zone": zone,
        "confirming": form.asks_again(),
        "no_grace_question": no_grace_question,
        "confirmed": CONFIRMED,
    }


ALREADY_ROTATED = _(
    "This secret was already rotated from this page (posted twice?): it was not rotated again."
)


def rotated_text(bot: Bot, zone) -> str:
    """What rotating the bot's API secret did, for the person who asked for it."""
    return _rotated(gettext("A new API secret was issued"), bot.previous_secret_expires_at, zone)


def signing_secret_rotated_text(expires, zone) -> str:
    """What rotating a webhook endpoint's signing secret did (`expires`: when the old one
    stops signing), for the person who asked for it."""
    return _rotated(gettext("A new webhook signing secret was issued"), expires, zone)


def _rotated(issued: str, expires, zone) -> str:
    if not expires:
        return gettext("%(issued)s; the old one no longer works.") % {"issued": issued}
    until = timezone.localtime(expires, zone)
    return gettext("%(issued)s; the old one works until %(when)s.") % {
        "issued": issued,
        "when": f"{until:%Y-%m-%d %H:%M} {until.tzname()}",
    }
