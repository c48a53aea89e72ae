import json
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from markupsafe import Markup
from markupsafe import escape as markup_escape

register = template.Library()

MENTION_RE = re.compile(r"(@[^\s@]{1,64})")


@register.simple_tag(takes_context=True)
def jinja(context, template_name: str) -> str:
    """A Jinja2 template of console/jinja2/ with this request, so Django pages and the
    Jinja2 history page share one header (console/jinja.py)."""
    from django.template import engines

    html = engines["jinja2"].get_template(template_name).render(request=context.get("request"))
    return mark_safe(html)  # Jinja2 escaped it


@register.simple_tag(takes_context=True)
def topbar(context) -> str:
    """The console's header (console/jinja2/_topbar.html, drawn by console.jinja)."""
    from django.template.backends.utils import csrf_input

    from ..jinja import topbar as draw

    request = context["request"]
    return draw(request, csrf_input(request))


@register.filter
def chat_text(value) -> Markup:
    """Escaped text with its line breaks kept and @mentions highlighted.

    markupsafe's escape, not Django's: the timeline calls this once per bubble and
    Django's lazy-aware wrapper costs several times the escaping itself."""
    html = MENTION_RE.sub(r'<span class="mention">\1</span>', str(markup_escape(str(value or ""))))
    return Markup(html.replace("\n", "<br>"))


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
def part(body, msgtype):
    """The object named after the msgtype in a message body ({} when missing)."""
    value = body.get(msgtype) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else {}


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


@register.filter
def web_url(value) -> str:
    """Only http(s) URLs become links or images; anything else is dropped."""
    value = str(value or "")
    return value if value.startswith(("https://", "http://")) else ""


@register.filter
def age(delta) -> str:
    """A timedelta as the largest two units, e.g. "3 h 12 min"."""
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days} + (
            " " + _("%(n)d h") % {"n": hours} if hours else ""
        )
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    return _("%(s)d s") % {"s": seconds}


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None and value != "":
            query[key] = value
    return "?" + query.urlencode() if query else "?"
