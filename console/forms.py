from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from announcements.models import Announcement
from botadmin.forms import NoLabelSuffix, SearchWordsField, SentOncePerPage, TextareaField
from botadmin.msgtype_names import NAMES
from console.queries import STILL_SENDING, UNDELIVERED
from messaging.models import Message

from .markdown import LONGEST_DRAWN, MARKDOWN_MSGTYPES

KNOWN_MSGTYPES = ["text", "markdown", "markdown_v2", "link", "image", "news", "miniprogram", "file"]


ANY = _("Any")


def _blank(choices):
    return [("", ANY), *choices]


class DayField(forms.DateField):
    """A day the pages look up from its local midnight to the next: one whose midnights
    have no UTC time (0001-01-01 east of UTC, 9999-12-31) is invalid, not a 500."""

    def clean(self, value):
        day = super().clean(value)
        if day is not None:
            try:
                for midnight in (day, day + timedelta(days=1)):
                    timezone.make_aware(datetime.combine(midnight, time.min)).astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
        return day


class BotFilterForm(NoLabelSuffix, forms.Form):
    """A filter form with a choice among `bots`, the bots the operator sees: another
    operator's bot is not a valid choice, exactly like one that does not exist."""

    bot = forms.ModelChoiceField(
        label=_("Bot"), queryset=None, required=False, empty_label=_("All my bots")
    )

    def __init__(self, *args, bots, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bot"].queryset = bots


class MessageFilterForm(BotFilterForm):
    """The filters search and the audit log share. All optional.

    A filter the query string gives that cannot be read (a URL edited by hand or kept
    from before: `?since=garbage&bot=abc`, a bot no longer shared with the reader) is
    dropped and named in `ignored` with why, and the others still apply: Django's errors
    alone, run together without their fields' names, told nothing of which was wrong."""

    q = SearchWordsField(label=_("Words"))
    conversation = forms.CharField(
        label=_("Conversation"),
        required=False,
        max_length=255,
        help_text=_("Conversation ID, or part of its name."),
    )
    sender = forms.CharField(label=_("Sender"), required=False, max_length=255)
    direction = forms.ChoiceField(
        label=_("Direction"), required=False, choices=_blank(Message.Direction.choices)
    )
    msgtype = forms.ChoiceField(
        label=_("Message type"),
        required=False,
        choices=_blank([(t, NAMES.get(t, t)) for t in KNOWN_MSGTYPES]),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_blank(Message.Status.choices)
    )
    source = forms.ChoiceField(
        label=_("Source"), required=False, choices=_blank(Message.Source.choices)
    )
    date_from = DayField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = DayField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Named in `ignored` after the filter's label: "Bot: none of your bots is this one."
        self.fields["bot"].error_messages["invalid_choice"] = _("none of your bots is this one.")

    def full_clean(self):
        super().full_clean()
        self.ignored: list[tuple[str, list[str]]] = []
        unreadable = [name for name in self._errors or {} if name in self.fields]
        if not unreadable:
            return
        self.ignored = [(self.fields[name].label, self._errors[name]) for name in unreadable]
        readable = self.data.copy()
        for name in unreadable:
            readable.pop(name, None)
        self.data = readable
        super().full_clean()

    def is_blank(self) -> bool:
        return not any(self.cleaned_data.get(name) for name in self.fields if name != "bot")


class InstantField(forms.DateTimeField):
    """A moment (ISO 8601, with its offset or in the current time zone) the database
    can compare with: one out of the range of UTC times is invalid, not a 500."""

    def clean(self, value):
        moment = super().clean(value)
        if moment is not None:
            try:
                moment.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
        return moment


class AuditFilterForm(MessageFilterForm):
    """The audit log lists outbound messages only: no direction filter. Besides the
    statuses, "failed or uncertain" (what an operator may retry), and `since`, a moment
    the dashboard's "failed (24 h)" links with (console.queries.filter_messages)."""

    since = InstantField(label=_("Accepted since"), required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["direction"]
        statuses = [
            (v, label) for v, label in Message.Status.choices if v != Message.Status.RECEIVED
        ]
        uncertain = [v for v, _label in statuses].index(Message.Status.UNCERTAIN)
        statuses.insert(uncertain + 1, (UNDELIVERED, _("Failed or uncertain")))
        self.fields["status"].choices = _blank(statuses)
        self.fields["source"].choices = _blank(
            [(v, label) for v, label in Message.Source.choices if v != Message.Source.AGENT]
        )


def _announcement_badges() -> list:
    """The badges of the announcement list: a finished one still sending says "sending"."""
    choices = Announcement.Status.choices
    finished = Announcement.Status.values.index(Announcement.Status.FINISHED)
    return [*choices[:finished], (STILL_SENDING, _("Sending")), *choices[finished:]]


class AnnouncementFilterForm(BotFilterForm):
    """The announcement list's bot, search and status filters. All optional."""

    q = SearchWordsField(label=_("Title or text"), widget=forms.TextInput(attrs={"type": "search"}))
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_blank(_announcement_badges())
    )


class ReplyForm(SentOncePerPage):
    """A text reply; `max_bytes` is the bot's connector's text limit (UTF-8 bytes). The
    same reply box posted twice queues one reply (SentOncePerPage)."""

    content = TextareaField(
        label=_("Reply"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("Type a reply…")}),
    )
    # The msgid of the received message this answers (connectors that reply).
    reply_to = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def clean_content(self):
        content = self.cleaned_data["content"]
        if not content.strip():
            raise forms.ValidationError(_("Write something first."))
        size = len(content.encode())
        if size > self.max_bytes:
            raise forms.ValidationError(
                _(
                    "Too long: %(size)s bytes, this bot takes at most %(max)s "
                    "(a Chinese character is 3 bytes). Nothing was sent."
                )
                % {"size": size, "max": self.max_bytes}
            )
        return content


class JumpToDateForm(NoLabelSuffix, forms.Form):
    date = DayField(label=_("Jump to date"), widget=forms.DateInput(attrs={"type": "date"}))


class MarkdownPreviewForm(NoLabelSuffix, forms.Form):
    """A markdown message being composed, for the compose page's preview."""

    msgtype = forms.ChoiceField(choices=[(t, t) for t in MARKDOWN_MSGTYPES])
    content = TextareaField(required=False, strip=False, max_length=LONGEST_DRAWN)
