"""Drawing the timeline's messages: the console's hot path.

Each message is one bubble, drawn by Jinja2 (console/jinja2/console/bubble.html;
Django templates drew the same bubbles an order of magnitude slower) and kept
in a per-process cache under everything that changes it: the message's id,
`updated_at`, status, attempt count, operator and time, the bot's name and the
viewer's language and time zone. A page reads those values first
(`history.MessageStamp`) and the whole message only for bubbles not drawn
yet, so a page that was shown before costs one narrow indexed query and no
drawing. Messages are never edited without a new `updated_at` (every write in
messaging/ sets it), and status and attempts are in the key as well, so a
cached bubble is never out of date. New bubbles are drawn by one macro per
page (calling it costs less than a template render per message).

The template gets its texts from `LABELS` and `attempts_label` below, so
`makemessages` finds them here.
"""

import threading
from functools import cache

from cachetools import LRUCache
from django.template import engines
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from markupsafe import Markup, escape

from messaging.models import Message

from . import history

LABELS = {
    "unknown_sender": _("Unknown sender"),
    "everyone": _("everyone"),
    "image": _("Image"),
    "mini_program": _("Mini program"),
    "details": _("Details"),
    "show_details": _("Show details"),
    "raw": _("Message type “%(t)s” shown as raw JSON"),
}

# Bounded by the characters of HTML kept (a bubble is about 1,000): about 4,000
# bubbles, 80 pages of 50, per web process.
BUBBLE_CACHE_CHARS = 4_000_000
# A larger bubble (a huge raw body) is drawn each time instead of pushing out hundreds.
LARGEST_CACHED_BUBBLE = 40_000

_bubbles = LRUCache(maxsize=BUBBLE_CACHE_CHARS, getsizeof=len)
_bubbles_lock = threading.Lock()


def attempts_label(n: int) -> str:
    return ngettext("%(n)s attempt", "%(n)s attempts", n) % {"n": n}


def _local(value, fmt: str) -> str:
    return dateformat.format(timezone.localtime(value), fmt) if value else ""


def _clock(value, tz) -> tuple[str, str]:
    """(local time, ISO timestamp): strftime is far cheaper than dateformat."""
    local = value.astimezone(tz)
    return local.strftime("%H:%M"), local.isoformat()


def _environment():
    return engines["jinja2"].env  # console/jinja.py


def clear_cache() -> None:
    """Forget every drawn bubble (tests and benchmarks measure the first drawing)."""
    with _bubbles_lock:
        _bubbles.clear()


def _key(m, focus_id, shared: tuple) -> tuple:
    # MessageStamp and TimelineMessage share these fields.
    changes = (m.version, m.status, m.attempt_count, m.created_by, m.created_at)
    return (m.pk, *changes, m.pk == focus_id, *shared)


def render_messages(
    conversation,
    stamps: list[history.MessageStamp],
    *,
    bot,
    base_url: str,
    pending_statuses,
    focus_id=None,
    oob: bool = False,
) -> Markup:
    """The bubbles of `stamps` (oldest first), with a divider where the local day
    changes (not in out-of-band updates, which replace bubbles in place)."""
    tz = timezone.get_current_timezone()
    # Everything a bubble depends on beyond its message's own values.
    shared = (translation.get_language(), str(tz), bot.name, base_url, oob)
    with _bubbles_lock:
        drawn = {m.pk: html for m in stamps if (html := _bubbles.get(_key(m, focus_id, shared)))}
    if len(drawn) < len(stamps):
        missing = [m.pk for m in stamps if m.pk not in drawn]
        template = _environment().get_template("console/bubble.html")
        bubble = template.make_module(_context(bot, base_url, pending_statuses, oob, tz)).bubble
        fresh = {}
        for m in history.messages_by_id(conversation, missing).values():
            html = str(bubble(m, m.pk == focus_id))
            # Under the values just read: newer than the stamp if the message changed since.
            fresh[_key(m, focus_id, shared)] = drawn[m.pk] = html
        with _bubbles_lock:
            _bubbles.update((k, v) for k, v in fresh.items() if len(v) <= LARGEST_CACHED_BUBBLE)
    parts, day = [], None
    for m in stamps:
        html = drawn.get(m.pk)
        if html is None:  # deleted between the two reads
            continue
        if not oob and (local_day := m.created_at.astimezone(tz).date()) != day:
            day = local_day
            divider = escape(_local(m.created_at, "Y-m-d l"))
            parts.append(f'<div class="day-divider"><span>{divider}</span></div>\n')
        parts.append(html)
    return Markup("".join(parts))


def _context(bot, base_url: str, pending_statuses, oob: bool, tz) -> dict:
    return {
        "bot": bot,
        "base_url": base_url,
        "pending_statuses": frozenset(str(s) for s in pending_statuses),
        "oob": oob,
        # Translated once per drawing, not once per message.
        "labels": {key: str(label) for key, label in LABELS.items()},
        "attempts_label": cache(attempts_label),
        "status_labels": {v: str(label) for v, label in Message.Status.choices},
        "source_labels": {v: str(label) for v, label in Message.Source.choices},
        "tz": tz,
        "clock": _clock,
    }
