"""Rendering the timeline's messages: the console's hot path, so Jinja2 instead of
Django templates (the same 50 bubbles render an order of magnitude faster).

The template, console/jinja2/console/timeline.html, gets its texts from
`LABELS` and `attempts_label` below, so `makemessages` finds them here.
"""

from functools import cache
from pathlib import Path

import jinja2
from django.conf import settings
from django.utils import dateformat, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from markupsafe import Markup

from messaging.models import Message

from .templatetags.console import chat_text, part, pretty_json, web_url

LABELS = {
    "unknown_sender": _("Unknown sender"),
    "everyone": _("everyone"),
    "image": _("Image"),
    "mini_program": _("Mini program"),
    "details": _("Details"),
    "show_details": _("Show details"),
    "raw": _("Message type “%(t)s” shown as raw JSON"),
}


def attempts_label(n: int) -> str:
    return ngettext("%(n)s attempt", "%(n)s attempts", n) % {"n": n}


def _local(value, fmt: str) -> str:
    return dateformat.format(timezone.localtime(value), fmt) if value else ""


def _clock(value, tz) -> tuple[str, str, str]:
    """(local day, local time, ISO timestamp): strftime is far cheaper than dateformat."""
    local = value.astimezone(tz)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M"), local.isoformat()


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "jinja2"),
        autoescape=True,
        auto_reload=settings.DEBUG,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(
        date=_local,
        chat_text=chat_text,
        part=part,
        web_url=web_url,
        as_list=lambda v: v if isinstance(v, list) else [],
        pretty_json=pretty_json,
    )
    return env


def render_messages(
    messages, *, bot, base_url: str, pending_statuses, focus_id=None, oob: bool = False
) -> Markup:
    template = _environment().get_template("console/timeline.html")
    return Markup(
        template.render(
            messages=messages,
            bot=bot,
            base_url=base_url,
            pending_statuses=frozenset(str(s) for s in pending_statuses),
            focus_id=focus_id,
            oob=oob,
            # Translated once per render, not once per message.
            labels={key: str(label) for key, label in LABELS.items()},
            attempts_label=cache(attempts_label),
            status_labels={v: str(label) for v, label in Message.Status.choices},
            source_labels={v: str(label) for v, label in Message.Source.choices},
            tz=timezone.get_current_timezone(),
            clock=_clock,
        )
    )
