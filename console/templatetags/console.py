import html
import json
import re
from urllib.parse import urlsplit

from django import template
from django.utils import dateformat, timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext

from announcements.schedule import in_words
from audit import actions as audit_actions
from audit import targets as audit_targets
from botadmin import links
from botadmin.msgtype_names import msgtype_name
from console import action_summaries, excerpts, markdown
from console.dashboard import COUNT_CAP
from console.edit_changes import edit_changes as _edit_changes
from console.webhooks import is_known_msgtype
from conversations import refusals
from messaging import status_labels

register = template.Library()

# `<@userid>` (a mention by id, shown by name where known) or a plain `@name` (group 2).
MENTION_RE = re.compile(rf"{markdown.MENTION_TAG.pattern}|(@[^\s@<>]{{1,64}})")
# A raw body longer than this is cut in the timeline, with a link to all of it.
RAW_PREVIEW_CHARS = 2000
# The largest box a timeline image is drawn in (.chat-image in static/botadmin/app.css).
CHAT_IMAGE_BOX = 240
# A text or markdown message longer than this may be taller than a collapsed bubble (12
# lines, .collapsible in app.css): at 390 px a line holds about 14 Chinese characters.
LONG_TEXT_CHARS = 150
LONG_TEXT_LINES = 10


@register.filter
def chat_text(value, names=None) -> str:
    """Escaped text with its line breaks kept and @mentions highlighted; a `<@userid>`
    mention shows the user's name when `names` ({userid: name}) knows it."""
    text, names = str(value or ""), names or {}
    parts, last = [], 0
    for match in MENTION_RE.finditer(text):
        parts.append(escape(text[last : match.start()]))
        if user_id := match.group(1):
            parts.append(
                format_html(
                    '<span class="mention" title="{}">@{}</span>',
                    user_id,
                    names.get(user_id) or user_id,
                )
            )
        else:
            parts.append(format_html('<span class="mention">{}</span>', match.group(2)))
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts).replace("\n", "<br>"))


@register.simple_tag
def wecom_markdown(content, msgtype, names=None) -> str:
    """A markdown message's content as the chat shows it (console/markdown.py)."""
    return markdown.render(content, msgtype, names)


@register.filter
def mention_name(user_id, names=None) -> str:
    """A mentioned user's name where known, else their id."""
    return (names or {}).get(user_id) or user_id


@register.filter
def highlight(value, words) -> str:
    """Escaped text with each of the searched words (case-insensitive) in <mark>."""
    text = str(value or "")
    terms = [w for w in str(words or "").split() if w]
    if not terms:
        return escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in terms), re.IGNORECASE)
    parts, last = [], 0
    for match in pattern.finditer(text):
        parts += [escape(text[last : match.start()]), f"<mark>{escape(match.group())}</mark>"]
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))


@register.filter
def search_excerpt(message, query) -> str:
    """A search result's words: plain text (a markdown message without its markup),
    around the first match, the searched words in <mark>, all escaped."""
    plain = markdown.plain_text(message.search_text, message.msgtype)
    return highlight(excerpts.excerpt(plain, excerpts.terms_of(query)), query)


@register.filter
def part(body, msgtype):
    """The object named after the msgtype in a message body ({} when missing)."""
    value = body.get(msgtype) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else {}


@register.filter
def as_list(value) -> list:
    """A list from a message body as it is, else nothing to loop over."""
    return value if isinstance(value, list) else []


def _json_text(value) -> str:
    try:
        compact = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return "…"
    if len(compact) > RAW_PREVIEW_CHARS:
        # Indenting a deeply nested body grows it quadratically (a 32 KB callback
        # once drew 25 MB): a large body is shown as it is stored.
        return compact
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)


@register.filter
def json_text(value) -> str:
    """A stored body as JSON: indented when small, compact when large."""
    return _json_text(value)


@register.filter
def json_preview(value) -> dict:
    """The start of a stored body as JSON, and whether there is more ("show all")."""
    text = _json_text(value)
    if len(text) <= RAW_PREVIEW_CHARS:
        return {"text": text, "truncated": False}
    return {"text": text[:RAW_PREVIEW_CHARS] + "…", "truncated": True}


@register.simple_tag
def chat_image_size(stored) -> str:
    """`width` and `height` attributes of an archived image as the timeline draws it (its
    own proportions, shrunk into CHAT_IMAGE_BOX, never enlarged), from the size read when
    it was stored. With them the page is laid out before the lazy thumbnails arrive, and
    a history opened at its end stays there; without (an image Pillow could not read),
    nothing: app.css gives a fixed box."""
    if not stored.width or not stored.height:
        return ""
    scale = min(1, CHAT_IMAGE_BOX / stored.width, CHAT_IMAGE_BOX / stored.height)
    width = max(1, round(stored.width * scale))
    height = max(1, round(stored.height * scale))
    return format_html(' width="{}" height="{}"', width, height)


@register.filter
def web_url(value) -> str:
    """Only http(s) URLs become links or images; anything else is dropped."""
    value = str(value or "")
    return value if value.startswith(("https://", "http://")) else ""


@register.filter
def url_host(value) -> str:
    """The host name of an http(s) URL, as a picture that is not loaded names it ("" when
    there is none)."""
    value = web_url(value)
    try:
        return urlsplit(value).hostname or ""
    except ValueError:
        return ""


@register.filter
def is_long(value) -> bool:
    """Whether a text or markdown message may be taller than a collapsed bubble
    (LONG_TEXT_CHARS or LONG_TEXT_LINES); the page's script measures the ones that are
    and collapses them (console/static/console/long-messages.js)."""
    text = str(value or "")
    return len(text) > LONG_TEXT_CHARS or text.count("\n") >= LONG_TEXT_LINES


@register.filter
def link_url(value) -> str:
    """Where a click on a link or news article goes: its http(s) URL, or `http://` + a
    host[/path] written without a scheme (`www.qq.com`, as WeCom's robot takes it);
    "" for anything else (`javascript:`), which is then no link."""
    return links.web_link(value)


@register.filter
def capped(count: int) -> str:
    """A count the dashboard stopped at (`console.dashboard.capped_count`): "999+"."""
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


@register.filter
def ago(value) -> str:
    """How long ago a time was, by Django's `timesince` ("3 hours, 5 minutes ago"),
    and "just now" under a minute rather than "0 minutes ago"."""
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return gettext("just now")
    return gettext("%(t)s ago") % {"t": timesince(value)}


@register.filter
def month_day_time(value) -> str:
    """A time as "m-d H:i" in the current time zone, with the year ("Y-m-d H:i") when it is
    not this year's: on 2026-12-05, a message scheduled for "01-05 09:00" of 2027 read as
    a month ago. (console/bubbles.py keeps drawn bubbles per year for it.)"""
    if not value:
        return ""
    local = timezone.localtime(value)
    this_year = timezone.localtime().year
    return dateformat.format(local, "m-d H:i" if local.year == this_year else "Y-m-d H:i")


@register.filter
def under_a_minute_ago(value) -> bool:
    """Whether a past time is less than a minute ago, where `timesince` would say
    "0 minutes" ("自 0 分钟 前起")."""
    return bool(value) and (timezone.now() - value).total_seconds() < 60


@register.filter
def status_label(message) -> str:
    """A message's delivery state in words; "waiting to retry" for a queued one already
    tried, "waiting until 00:00" for one whose next attempt is to come."""
    return status_labels.message_status(message)[1]


@register.filter
def status_key(message) -> str:
    """The badge class going with `status_label`."""
    return status_labels.message_status(message)[0]


@register.filter
def waiting(message):
    """A queued message's wait for a later attempt (until, reason), or None
    (messaging.status_labels.waiting)."""
    return status_labels.waiting(message)


@register.filter
def retry_plan(message):
    """A message waiting to retry: its attempt of how many, and when it is given up at
    the latest (messaging.status_labels.retry_plan), or None."""
    return status_labels.retry_plan(message)


@register.filter
def clock_time(moment) -> str:
    """A time in the reader's time zone, dated unless it is today (status_labels.clock_time)."""
    return status_labels.clock_time(moment) if moment else ""


@register.filter
def action_words(code: str) -> str:
    """An operator-action code (`message.retry`) in words."""
    return audit_actions.words(code)


@register.filter
def target_words(action) -> str:
    """What an operator action was about, in words: "消息 #12"."""
    if not action.target_type:
        return ""
    return f"{audit_targets.target_type_words(action)} #{action.target_id}"


@register.filter
def target_name(action) -> str:
    """The target's name in the reader's language and time zone ("发出 文本 …")."""
    return audit_targets.target_name(action)


@register.filter
def action_summary(action) -> str:
    """What an operator action did, in the reader's language (console.action_summaries)."""
    return action_summaries.summary(action)


@register.filter
def edit_changes(action) -> list:
    """What an announcement's edit changed: (field, before, after) (console.edit_changes)."""
    return _edit_changes(action)


@register.filter
def schedule_words(announcement) -> str:
    """When an announcement runs, in words ("每月最后一天 09:30")."""
    return in_words(announcement)


@register.filter
def msgtype_words(code) -> str:
    """A msgtype in words ("图片" for image)."""
    return msgtype_name(str(code or ""))


@register.filter
def known_msgtype(code) -> bool:
    """Whether a message botadmin knows of can have this type (an endpoint filter may
    name others)."""
    return is_known_msgtype(str(code or ""))


@register.simple_tag
def select_options(choices, chosen) -> str:
    """The <option>s of a long select (the ~600 time zones) written at once: Django's
    select widget renders a template per option, most of the compose page's time."""
    chosen = "" if chosen is None else str(chosen)

    def options(pairs) -> str:
        return "".join(
            f'<optgroup label="{html.escape(str(value))}">{options(label)}</optgroup>'
            if isinstance(label, list | tuple)  # a group: its name, then its choices
            else f'<option value="{html.escape(str(value))}"'
            f"{' selected' if str(value) == chosen else ''}>{html.escape(str(label))}</option>"
            for value, label in pairs
        )

    return mark_safe(options(choices))  # every value and label is escaped


@register.filter
def credentials_refusal(bot) -> dict | None:
    """The refusal of the bot's credentials its latest call to the other side met, with what
    to check (conversations.refusals), or None."""
    return refusals.refusal(bot)
