"""The timeline's bubbles, drawn once and kept in the shared cache.

Drawing 50 bubbles with Django templates is most of a history page's time, and
an open timeline asks for the same bubbles again and again (opening, scrolling,
polling, several operators). Each drawn bubble is kept in Django's cache (shared
by every web process, `CACHE_URL`) under everything it shows that can change:
the message's id, `updated_at`, status and attempt count, its operator's name,
its badge as it reads now (a "waiting until 00:00 tomorrow" becomes "00:00" at
midnight, ends, and gains its seconds, with time alone), the names of the users it mentions and of a sender who came without a
name (the bot's synced contacts, which a sync renames without touching the message),
the bot's name, the conversation's URL, the viewer's language, time zone and year,
whether it is highlighted and whether it is an out-of-band update, and the version of
the drawing itself (`DRAWING`). The names cost one query for the page, none when it
mentions nobody and names every sender. A page reads
its bubbles with one `get_many` and draws only the missing ones. Every write in
messaging/ sets `updated_at`, so a changed body or sender is a new key.

With the database cache (the default of a one-machine install) only markdown
bubbles are kept, in a table of their own (the `bubbles` cache, settings.py):
drawing one takes milliseconds (console/markdown.py; a page of 50 reports missed
the page budget on every view), more than the three queries that keep it. Any
other bubble is drawn each time, which costs less than keeping it there, and the
default table (300 entries, a third culled when full) keeps the rate-limit counts
and the dashboard's.
"""

import hashlib
import json

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.template.loader import get_template
from django.utils import timezone, translation

from botadmin.cache import BestEffortCache
from conversations.contact_names import contact_names
from messaging import status_labels

from .markdown import MARKDOWN_MSGTYPES
from .senders import name_senders, unnamed_senders
from .templatetags.console import MENTION_RE

TEMPLATE = "console/history/_bubble.html"
KEEP_FOR = 24 * 3600  # seconds; a bubble not shown for a day is drawn again
# A bubble larger than this (a huge raw body is cut to 2,000 characters, so only
# unusual ones) is drawn each time rather than pushing out many small ones.
LARGEST_KEPT = 20_000
# Raised when the template or its filters draw an unchanged message differently, so
# that bubbles drawn before are not shown for another day (2: markdown is rendered;
# 3: a link written without a scheme opens http:// + it; 4: an archived image has its size;
# 5: a queued message waiting for a later attempt says until when, and why;
# 6: a scheduled time of another year shows the year; 7: pictures on other sites are
# named, not loaded; 8: long messages collapse; 9: a markdown table's column alignment
# is a class, not a style="" the Content-Security-Policy refuses; 10: a paused bot's
# queued message says so; 11: a sender who came without a name is named after the bot's
# synced contact, with the ID as its title; 12: a waiting message's reason starts with a
# capital in English; 13: a scheduled API message's "Created …" title says its time through
# clock_time, as the console's other times do; 14: clock_time says a time of another day
# with its day, "明天 00:00", not a bare "00:00" for anything within a day of now).
DRAWING = 14


def _key(m, shared: str, focus: bool, oob: bool, names: dict[str, str], now) -> str:
    operator = m.author_name
    mentioned = json.dumps([[who, names.get(who, "")] for who in sorted(_mentioned_ids(m))])
    # The badge as it reads now: "waiting until 09:13" ends when the time comes, and
    # shows its seconds once the time is near, whether or not the message moved; pausing
    # the bot changes no message either.
    badge = status_labels.message_status(m, now)[1]
    # A scheduled API message's title says when it was made as clock_time does now: with its
    # seconds within the hour, without its day today, then with it ("昨天 10:00", "12-05 …").
    created = status_labels.clock_time(m.created_at, now) if _marked_scheduled(m) else ""
    changes = (
        f"{m.updated_at.isoformat()}|{m.status}|{m.attempt_count}|{operator}|{shared}|{mentioned}"
        f"|{m.contact_name}|{badge}|{created}"
    )
    digest = hashlib.sha1(changes.encode(), usedforsecurity=False).hexdigest()
    return f"console:bubble:{DRAWING}:{m.pk}:{int(focus)}{int(oob)}:{digest}"


def _marked_scheduled(m) -> bool:
    """Whether the bubble has the "scheduled" badge (an API message sent later)."""
    return m.direction == "out" and m.source == "api" and m.scheduled_at is not None


def _mentioned_ids(message) -> set[str]:
    part = message.body.get(message.msgtype) if isinstance(message.body, dict) else None
    if not isinstance(part, dict):
        return set()
    ids = {m.group(1) for m in MENTION_RE.finditer(str(part.get("content") or "")) if m.group(1)}
    listed = part.get("mentioned_list")
    if isinstance(listed, list):
        ids |= {who for who in listed if isinstance(who, str) and who != "@all"}
    return ids


def _mention_ids(items) -> set[str]:
    ids = set()
    for item in items:
        ids |= {who for who in _mentioned_ids(item) if len(who) <= 64}
    return ids


def _names_of(bot, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {user_id: name for (_bot, user_id), name in contact_names({bot.pk: ids}).items()}


def mention_names(bot, items) -> dict[str, str]:
    """{userid: name} of the bot's synced contacts these messages or announcements
    mention by ID: one query, none when they mention nobody."""
    return _names_of(bot, _mention_ids(items))


def contact_names_shown(bot, messages) -> dict[str, str]:
    """{userid: name} of the bot's synced contacts these messages show: the users they
    mention by ID and the senders of those that came without a name
    (console/senders.py). One query, none when they mention nobody and name every
    sender."""
    ids = _mention_ids(messages) | unnamed_senders(messages).get(bot.pk, set())
    return _names_of(bot, ids)


def draw(messages, *, bot, base_url: str, pending_statuses, focus_id=None, oob=False) -> list:
    """[(message, html)] for `messages`, in their order."""
    # The year too: a time of this year is drawn without it (`month_day_time`).
    shared = "|".join(
        [
            bot.name,
            base_url,
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
            str(timezone.localtime().year),
        ]
    )
    for m in messages:
        m.bot = bot  # their bot, already read: whether it is paused costs no query
    names = contact_names_shown(bot, messages)
    name_senders(messages, {(bot.pk, user_id): name for user_id, name in names.items()})
    now = timezone.now()
    keys = {m.pk: _key(m, shared, m.pk == focus_id, oob, names, now) for m in messages}
    alias = "bubbles" if "bubbles" in settings.CACHES else "default"
    keeps_all = not isinstance(caches[alias], DatabaseCache)
    keepable = {
        m.pk
        for m in messages
        if keeps_all or (alias == "bubbles" and m.msgtype in MARKDOWN_MSGTYPES)
    }
    cache = BestEffortCache(alias)
    kept = cache.get_many([keys[pk] for pk in keepable]) if keepable else {}
    missing = [m for m in messages if keys[m.pk] not in kept]
    if missing:
        from .history import attach_media

        attach_media(missing)  # the images and files a bubble shows: one query
    template = get_template(TEMPLATE)
    context = {
        "bot": bot,
        "base_url": base_url,
        "pending_statuses": pending_statuses,
        "oob": oob,
        "names": names,
    }
    drawn, fresh = [], {}
    for m in messages:
        html = kept.get(keys[m.pk])
        if html is None:
            html = template.render({**context, "m": m, "focus": m.pk == focus_id})
            if m.pk in keepable and len(html) <= LARGEST_KEPT:
                fresh[keys[m.pk]] = html
        drawn.append((m, html))
    if fresh:
        cache.set_many(fresh, KEEP_FOR)
    return drawn
