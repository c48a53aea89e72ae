"""The compose form: bot, audience, message fields per msgtype, and when.

Message fields are named `<msgtype>__<key>` so that the body is built from
the fields of the chosen msgtype and an existing body fills them back in.
The body itself is validated by `messaging.validation.validate_outbound`,
like every other send path.
"""

import re

from django import forms
from django.conf import settings
from django.core import signing
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botadmin.errors import ApiError
from botadmin.forms import HttpURLField, SubmissionField, TextareaField, new_submission
from botadmin.msgtype_names import NAMES as MSGTYPE_NAMES
from botadmin.timezones import grouped_zone_choices, zone_choices, zone_filter_attrs
from connectors import conversions
from connectors.images import FORMAT_NAMES
from connectors.registry import connector_for
from conversations.models import Bot
from messaging.validation import validate_outbound

from .audience import Audience, AudienceForm, rule_members
from .editing import checked_schedule
from .mentions import resolved_mentions
from .models import Announcement
from .schedule import LAST_DAY, WEEKDAY_NAMES, ScheduleError
from .staged_images import IMAGE_ACCEPT, STAGED_NAME, STAGED_SALT, stored

# The msgtypes an announcement can be, in the compose page's order, with their words.
MSGTYPE_LABELS = {
    t: MSGTYPE_NAMES[t]
    for t in ("text", "markdown", "markdown_v2", "link", "news", "image", "miniprogram")
}
# Body keys per msgtype, in form order.
BODY_FIELDS = {
    "text": ["content", "mentioned_list"],
    "markdown": ["content"],
    "markdown_v2": ["content"],
    "link": ["title", "url", "image_url", "desc"],
    "news": ["title", "url", "description", "picurl"],
    "image": ["url"],
    "miniprogram": ["appid", "title", "page_path", "appname", "appicon"],
}
# The fields that say when (`schedule`), in the "When" section.
SCHEDULE_FIELDS = ("kind", "at", "time", "weekdays", "month_day", "cron", "until", "timezone")
WEEKDAY_CHOICES = list(enumerate(WEEKDAY_NAMES))
# announcements.editing.edited_version(): 32 hexadecimal digits.
EDITED_VERSION = re.compile(r"[0-9a-f]{32}")
MONTH_DAY_CHOICES = [
    ("", "—"),
    *((str(day), str(day)) for day in range(1, 32)),
    (LAST_DAY, _("Last day of the month")),
]


def msgtypes_for(bot: Bot | None) -> list[str]:
    """The msgtypes the bot's connector sends, natively or converted (the API's set)."""
    if bot is None:
        return ["text"]
    connector = connector_for(bot)
    native = connector.msgtypes()
    return [m for m in MSGTYPE_LABELS if conversions.route(type(connector), m, native)]


class ComposeForm(AudienceForm):
    # Recipients never see it: it names the announcement in the console and the audit log.
    title = forms.CharField(label=_("Title (internal only)"), max_length=200)
    msgtype = forms.ChoiceField(label=_("Message type"), widget=forms.RadioSelect)
    text__content = TextareaField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    text__mentioned_list = forms.CharField(
        label=_("@mentions"),
        required=False,
        # The compose page's <datalist> of the bot's contacts (announcements.js completes
        # the entry after the last comma).
        widget=forms.TextInput(attrs={"list": "mention-contacts", "autocomplete": "off"}),
        help_text=_(
            "User IDs or contact names, separated by commas; @all mentions everyone. "
            "Checked against the bot's synced contacts."
        ),
    )
    link__title = forms.CharField(label=_("Title"), required=False)
    link__url = HttpURLField(label=_("URL"), required=False, assume_scheme="https")
    link__image_url = HttpURLField(label=_("Image URL"), required=False, assume_scheme="https")
    link__desc = forms.CharField(label=_("Description"), required=False)
    image__url = HttpURLField(label=_("Image URL"), required=False, assume_scheme="https")
    image_file = forms.ImageField(
        label=_("…or upload an image"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT}),
    )
    # An image uploaded with a post that the page shows again (to confirm it, or to correct
    # it), stored and signed (`staged`): a browser does not send a file again.
    staged_image = forms.CharField(required=False, widget=forms.HiddenInput)
    miniprogram__appid = forms.CharField(label=_("AppID"), required=False)
    miniprogram__title = forms.CharField(label=_("Title"), required=False)
    miniprogram__page_path = forms.CharField(label=_("Page path"), required=False)
    miniprogram__appname = forms.CharField(label=_("App name"), required=False)
    miniprogram__appicon = HttpURLField(
        label=_("App icon URL"), required=False, assume_scheme="https"
    )
    markdown__content = TextareaField(
        label=_("Markdown"), widget=forms.Textarea(attrs={"rows": 6}), required=False
    )
    markdown_v2__content = TextareaField(
        label=_("Markdown v2"), widget=forms.Textarea(attrs={"rows": 6}), required=False
    )
    news__title = forms.CharField(label=_("Title"), required=False)
    news__url = HttpURLField(label=_("URL"), required=False, assume_scheme="https")
    news__description = forms.CharField(label=_("Description"), required=False)
    news__picurl = HttpURLField(label=_("Picture URL"), required=False, assume_scheme="https")

    saved_audience = forms.TypedChoiceField(
        label=_("Saved audience"), coerce=int, required=False, empty_value=None
    )
    save_audience_as = forms.CharField(
        label=_("Save these recipients as"), max_length=100, required=False
    )

    kind = forms.ChoiceField(
        label=_("When"),
        choices=Announcement.Kind.choices,
        initial=Announcement.Kind.NOW,
        widget=forms.RadioSelect,
    )
    at = forms.DateTimeField(
        label=_("Date and time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    time = forms.TimeField(
        label=_("At"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days"),
        choices=WEEKDAY_CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    month_day = forms.TypedChoiceField(
        label=_("Day of month"),
        choices=MONTH_DAY_CHOICES,
        coerce=lambda day: day if day == LAST_DAY else int(day),
        required=False,
        empty_value=None,
    )
    cron = forms.CharField(label=_("Cron expression"), required=False, help_text="0 9 * * 1-5")
    until = forms.DateField(
        label=_("Ends on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # The compose page writes its options itself (select_options) and these attributes.
    timezone = forms.ChoiceField(
        label=_("Time zone"), widget=forms.Select(attrs=zone_filter_attrs())
    )
    # Which compose page this is (a random id made when it is opened): posted twice, the
    # same page makes one announcement (announcements.editing.AlreadySaved).
    submission = SubmissionField()
    # An edit page's announcements.editing.edited_version() of what it shows.
    edited_version = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args, bot: Bot, saved_audiences, kept_zone: str = "", as_draft=False, **kwargs
    ):
        """`kept_zone`: the edited or duplicated announcement's zone, offered even when no place
        (one saved before such zones were hidden keeps it). `as_draft`: saved as a draft,
        which may have a time that has passed."""
        super().__init__(*args, bot=bot, **kwargs)
        self.as_draft = as_draft
        self.fields["msgtype"].choices = [(t, MSGTYPE_LABELS[t]) for t in msgtypes_for(bot)]
        self.fields["saved_audience"].choices = [("", "—")] + [
            (a.pk, a.name) for a in saved_audiences
        ]
        zones = zone_choices(kept_zone)
        self.fields["timezone"].choices = grouped_zone_choices(kept_zone)
        self.fields["timezone"].initial = settings.TIME_ZONE
        if self.initial.get("timezone") not in zones:  # one the zoneinfo database dropped
            self.initial["timezone"] = settings.TIME_ZONE
        self.initial.setdefault("submission", new_submission())

    def clean_edited_version(self) -> str:
        """Empty (nothing to check) for what no edit page posts."""
        value = self.cleaned_data["edited_version"]
        return value if EDITED_VERSION.fullmatch(value) else ""

    def message_fieldsets(self):
        """(msgtype, bound fields) for each msgtype this bot can send; the page shows one at a time."""
        sets = []
        for msgtype in msgtypes_for(self.bot):
            fields = [self[f"{msgtype}__{key}"] for key in BODY_FIELDS[msgtype]]
            if msgtype == "image":
                fields.append(self["image_file"])
            sets.append((msgtype, fields))
        return sets

    def clean_staged_image(self) -> str:
        """The storage name of the image staged for this post, or ""."""
        signed = self.cleaned_data.get("staged_image")
        if not signed:
            return ""
        try:
            name = signing.loads(signed, salt=STAGED_SALT)
        except signing.BadSignature:
            name = None
        if not (isinstance(name, str) and STAGED_NAME.fullmatch(name) and stored(name)):
            raise forms.ValidationError(_("Choose the image file again: the upload is gone."))
        return name

    def clean_text__mentioned_list(self) -> list[str]:
        """The user IDs mentioned: names resolved, "@all" as WeCom spells it (mentions.py)."""
        return resolved_mentions(self.bot, self.cleaned_data.get("text__mentioned_list") or "")

    def clean_image_file(self):
        """An image the bot's connector sends, judged by its content (Pillow), not its name."""
        upload = self.cleaned_data.get("image_file")
        if not upload:
            return None
        connector = connector_for(self.bot)
        found = getattr(upload, "image", None)
        found = found.format if found is not None else None
        if found not in connector.image_formats:
            raise forms.ValidationError(
                _("A %(connector)s bot sends only %(formats)s images; this one is %(found)s.")
                % {
                    "connector": connector.label,
                    "formats": "/".join(sorted(FORMAT_NAMES[f] for f in connector.image_formats)),
                    "found": FORMAT_NAMES.get(found, found or "?"),
                }
            )
        limit = min(settings.BOTADMIN_UPLOAD_MAX_BYTES, connector.limits.image)
        if upload.size > limit:
            raise forms.ValidationError(
                _("The image is %(size)s; a %(connector)s bot sends at most %(limit)s.")
                % {
                    "size": filesizeformat(upload.size),
                    "connector": connector.label,
                    "limit": filesizeformat(limit),
                }
            )
        return upload

    def clean(self):
        data = super().clean()
        audience, search = self.rule()
        data["conversation_ids"] = []
        if audience != Audience.LISTED:
            if data.get("save_audience_as"):
                self.add_error(
                    "save_audience_as",
                    _("Only chosen conversations can be saved as an audience, not a rule."),
                )
            if not rule_members(self.bot, audience, search).exists():
                self.add_error("audience", _("No conversation is in this audience now."))
        elif not {"audience_base", "conversations", "removed"} & set(self.errors):
            data["conversation_ids"] = list(self.chosen().values_list("pk", flat=True))
            if not data["conversation_ids"]:
                self.add_error("conversations", _("Choose at least one recipient."))
        data["audience_rule"], data["audience_search"] = audience, search
        # The message and its time are checked with the rest, so that every error shows
        # on the first submit (an empty text was marked only once the title was given).
        self._check_message(data)
        self._check_schedule(data)
        return data

    def _check_message(self, data) -> None:
        """The body as every send path checks it (`validate_outbound`)."""
        msgtype = data.get("msgtype")
        if not msgtype or any(name.startswith(f"{msgtype}__") for name in self.errors):
            return
        uploaded = data.get("image_file") or data.get("staged_image")
        if msgtype == "image" and (uploaded or {"image_file", "staged_image"} & set(self.errors)):
            return  # the upload's own error, or its URL, known once it is stored, checked then
        try:
            validate_outbound(self.bot, self.body())
        except ApiError as error:
            self.add_body_error(error)

    def _check_schedule(self, data) -> None:
        if set(SCHEDULE_FIELDS) & set(self.errors):
            return
        try:
            checked_schedule(
                data["kind"], self.schedule(), data["timezone"], self.as_draft, timezone.now()
            )
        except ScheduleError as error:
            self.add_error("kind", str(error))

    def add_body_error(self, error: ApiError) -> None:
        """A refused body: an empty field is marked on that field in the operator's
        language; anything else is said above the form in the API's words."""
        path = error.empty_field.split(".")  # "news.articles.0.title" is the form's news__title
        name = f"{path[0]}__{path[-1]}" if len(path) > 1 else ""
        if name in self.fields:
            self.add_error(name, forms.Field.default_error_messages["required"])
        else:
            self.add_error(None, error.errmsg)

    def body(self, image_url: str = "") -> dict:
        """The message body the chosen msgtype's fields describe (not yet validated)."""
        msgtype = self.cleaned_data["msgtype"]
        payload = {}
        for key in BODY_FIELDS[msgtype]:
            value = self.cleaned_data.get(f"{msgtype}__{key}")
            if value:
                payload[key] = value
        if msgtype == "image" and image_url:
            payload["url"] = image_url
        if msgtype == "news":
            payload = {"articles": [payload]}
        return {"msgtype": msgtype, msgtype: payload}

    def schedule(self) -> dict:
        data = self.cleaned_data
        spec = {
            "at": data["at"].strftime("%Y-%m-%dT%H:%M") if data.get("at") else None,
            "time": data["time"].strftime("%H:%M") if data.get("time") else None,
            "weekdays": data.get("weekdays") or [],
            "month_day": data.get("month_day"),
            "cron": data.get("cron") or "",
            "until": data["until"].isoformat() if data.get("until") else None,
        }
        return {key: value for key, value in spec.items() if value not in (None, "", [])}
