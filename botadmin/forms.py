"""What every form of ours shares: labels without a suffix, a URL field for what
botadmin.http can request (one that also runs a check of botadmin.http), and its
checks' refusals as a field's errors.

Django puts its translated ":" after each label (`label_tag`), and its zh-Hans
catalogue translates it as a half-width ":" ("说明:"). The console lays labels
out above their fields and writes its hand-made labels without one, so our
forms put none, in either language. The admin's own ModelAdmin forms keep
Django's default, as every other admin page does.

A hint after a help text (`with_hint`) is joined as the next sentence, with the
language's own full stop when the help text has none ("Secret" is no sentence).
"""

import re
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from django import forms
from django.contrib.admin import helpers
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import http, reasons
from .internal_urls import HttpURLValidator, InternalURLValidator
from .url_spelling import normalized_url


class NoLabelSuffix:
    """First base of a form class: no suffix after its labels, and each label
    capitalised as the admin shows it ("Agent URL" from the field's "agent URL")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if field.label:
                field.label = capfirst(field.label)


def own_minimum(model_field) -> dict:
    """A number field's formfield() arguments for the minimum its model field's own
    validators set (MinValueValidator(1)), which a PositiveIntegerField's form field
    would put at 0: -5 and 0 are then refused with the same "≥ 1"."""
    limits = [v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)]
    if not isinstance(model_field, models.IntegerField) or not limits:
        return {}
    return {"min_value": max(limits)}


def formfield_with_own_minimum(model_field, **kwargs):
    """A ModelForm's `formfield_callback`: each number field with its own minimum."""
    return model_field.formfield(**{**own_minimum(model_field), **kwargs})


class TextareaField(forms.CharField):
    """A textarea's text with its line breaks as LF. Browsers submit them as CRLF
    (HTML's form encoding), which would be stored, counted against the byte limits
    and sent to WeCom as two characters where the API stores the one a caller sent."""

    widget = forms.Textarea

    def to_python(self, value):
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n") if text else text


class SubmissionField(forms.CharField):
    """A hidden id of the page a form was sent from, made when the page is drawn
    (`new_submission`): the same page posted twice (a double click, a reload) is told
    apart from a second page. Cleaned to "" when it is not one (a post from elsewhere):
    then nothing is told apart."""

    widget = forms.HiddenInput
    PATTERN = re.compile(r"[0-9a-f]{32}")

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value) or ""
        return value if self.PATTERN.fullmatch(value) else ""


def new_submission() -> str:
    """A SubmissionField's value for a page being drawn."""
    return uuid.uuid4().hex


def posted_submission(data) -> str:
    """The page id a post without a form class of its own carries in its `submission`
    field (a button's form: `<input type="hidden" name="submission" value="…">` with
    `new_submission()`); "" when it carries none, or not one."""
    try:
        return SubmissionField().clean(data.get("submission"))
    except forms.ValidationError:
        return ""


class SentOncePerPage(NoLabelSuffix, forms.Form):
    """A form base class whose page, posted twice (a double click, Enter pressed again while it
    was sending), sends one message: its `submission` is the idempotency key
    messaging.sending.accept_outbound stores the message with."""

    submission = SubmissionField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("submission", new_submission())

    def idempotency_key(self, what: str) -> str:
        """`what` (the form's own prefix) and the page's id; "" for a post from elsewhere."""
        submission = self.cleaned_data["submission"]
        return f"console-{what}:{submission}" if submission else ""


class OncePerPageActionForm(helpers.ActionForm):
    """The admin's action bar (a ModelAdmin's `action_form`) with the list page's id: an
    action posted twice from one page (a double-clicked "Go") reads the same
    `posted_submission` both times and can act once."""

    submission = SubmissionField(label="")  # no label: the bar draws one for each labelled field

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("submission", new_submission())


class SearchWordsField(forms.CharField):
    """The words an operator searches by (the console's search, audit log, announcement
    list and audience picker), optional and at most 200 characters: longer ones (only
    possible in a URL) are refused in the operator's words, where Django's ("Ensure this
    value has at most 200 characters") spoke of a value."""

    default_error_messages = {
        "max_length": _("Search words can be at most %(limit_value)d characters."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class HttpURLField(forms.URLField):
    """A URL botadmin.http can request: http or https only, another scheme refused as
    such. It replaces URLField's own validator (which also takes ftp) instead of adding
    to it, so a bad URL is told once, not twice."""

    default_validators = [HttpURLValidator()]


class InternalHttpURLField(HttpURLField):
    """An HttpURLField for an address of the bot's own infrastructure (its agent, its
    proxy), whose host may be a single label such as `proxy` (botadmin.internal_urls)."""

    default_validators = [InternalURLValidator()]


# The outcomes of the URL checks made inside `url_checks_remembered`, by what and URL.
_remembered_checks: ContextVar[dict | None] = ContextVar("remembered_url_checks", default=None)


@contextmanager
def url_checks_remembered():
    """Inside it, a form's check of a URL (botadmin.http's: a host lookup, which a slow
    name server makes last up to BOTADMIN_DNS_TIMEOUT) is made once, its outcome
    remembered (`checked_once`). A form checked first as its row is read, unlocked, and
    then again under the row's lock so makes no lookup under the lock, where it would
    hold every other writer of the row (a worker pausing the bot) for as long."""
    if _remembered_checks.get() is not None:  # inside one already: its outcomes
        yield
        return
    token = _remembered_checks.set({})
    try:
        yield
    finally:
        _remembered_checks.reset(token)


def checked_once(key: tuple, check: Callable[[], None]) -> None:
    """`check()`, which raises a ValidationError when the URL is refused, once for `key`
    (what is checked and its URL) inside `url_checks_remembered`, which then gives its
    outcome again; every time outside it."""
    remembered = _remembered_checks.get()
    if remembered is None:
        check()
        return
    if key not in remembered:
        try:
            check()
        except forms.ValidationError as refusal:
            remembered[key] = refusal.error_list
            raise
        remembered[key] = None
    elif remembered[key] is not None:
        raise forms.ValidationError(remembered[key])


class CheckedURLField(HttpURLField):
    """An HttpURLField whose URL must also pass botadmin.http's check for what it is used
    for (`check`, raising a ValidationError), when it is entered rather than when it is
    first requested. A disabled field's value (shown, not entered) is not checked."""

    def check(self, url: str) -> None:
        raise NotImplementedError

    def clean(self, value):
        url = super().clean(value)
        if url and not self.disabled:
            checked_once((type(self).__qualname__, url), lambda: self.check(url))
        return url


def look_up_urls(form: forms.BaseForm) -> None:
    """The checks of `form`'s URLs alone (their hosts looked up), inside
    `url_checks_remembered` before the form is checked under its row's lock: there its
    check, made once, gives their outcomes without a lookup (a refusal is told then)."""
    for name, field in form.fields.items():
        if isinstance(field, CheckedURLField) and not field.disabled:
            try:
                field.clean(form[name].data)
            except forms.ValidationError:
                pass


class WebhookURLField(CheckedURLField):
    """A webhook endpoint's URL (a bot's webhook URL, or another endpoint's), checked as
    forwarding checks it before each delivery (`http.check_url(url, webhook=True)`), so a
    URL forwarding would refuse is refused when it is entered. Every way of setting one
    uses it: the console's endpoint form, the admin's bot and endpoint forms, and
    `createbot --webhook-url`. Its value is the URL normalised (scheme and host in lower
    case, no default port: botadmin.url_spelling), as endpoints' URLs are compared."""

    default_error_messages = {"scheme": _("The webhook URL must start with http:// or https://.")}

    def clean(self, value):
        url = super().clean(value)
        return normalized_url(url) if url else url

    def check(self, url: str) -> None:
        with url_check_errors(
            _("This URL is not allowed: %(reason)s."),
            _("This URL cannot be checked now: %(reason)s. Try again in a moment."),
        ):
            http.check_url(url, webhook=True)


@contextmanager
def url_check_errors(refused: str, unresolved: str, **params):
    """A botadmin.http check inside it that refuses the URL raises the form error
    `refused`, one whose host is not resolved in time `unresolved` (try again later):
    messages with the check's `%(reason)s`, in the reader's language, and `params`."""
    try:
        yield
    except http.UnsafeURLError as error:
        reason = reasons.translate(reasons.of(error))
        raise forms.ValidationError(refused, params={**params, "reason": reason}) from None
    except http.ResolveTimeout as slow:
        reason = reasons.translate(reasons.of(slow))
        raise forms.ValidationError(unresolved, params={**params, "reason": reason}) from None


# What leaving a field empty does, after its help text (`with_hint`).
KEEP_CURRENT = _("Leave empty to keep the current value.")
GENERATED = _("Generated when left empty.")

_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")


def with_hint(help_text, hint) -> str:
    """A field's help text followed by a hint, as sentences in the active language:
    "Secret. Leave empty to keep the current value.", "密钥。留空则保留当前值。"."""
    text = str(help_text).strip()
    if not text:
        return str(hint)
    if text.endswith(_SENTENCE_ENDS):
        return _("%(help)s %(hint)s") % {"help": text, "hint": hint}
    return _("%(help)s. %(hint)s") % {"help": text, "hint": hint}
