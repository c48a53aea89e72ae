"""The Jinja2 environment of the console's timeline templates (console/jinja2/).

The conversation history is the page operators keep open all day and the one
bench/history.py measures: its page, its scroll and polling fragments and its
bubbles are Jinja2, which draws them several times faster than Django
templates. Every other page stays a Django template.

Its layout, console/jinja2/layout.html, shares the header and flash messages
with templates/base.html (which includes them with the `{% jinja %}` tag);
tests/console/test_jinja_layout.py compares both pages.
Texts are `_("…")` calls, which `makemessages` finds in templates; plurals are
formatted in Python.
"""

import threading
from functools import lru_cache

import jinja2
from cachetools import LRUCache
from django.conf import settings
from django.template import engines
from django.template.backends.utils import csrf_input
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language, gettext, ngettext
from markupsafe import Markup, escape

from .templatetags.console import chat_text, part, pretty_json, web_url


@lru_cache(maxsize=1024)
def _reverse(name: str, args: tuple, prefix: str, urlconf) -> str:
    return reverse(name, args=args or None, urlconf=urlconf)


def url(name: str, *args) -> str:
    """reverse(), remembered: the page's navigation asks for the same few URLs."""
    return _reverse(name, args, get_script_prefix(), get_urlconf())


def csrf(request) -> dict:
    """A context processor: one CSRF field per page, for all its forms (the
    backend's own `csrf_input` masks a new token each time it is printed)."""
    return {"csrf_input": SimpleLazyObject(lambda: csrf_input(request))}


# Drawn headers, each about 2,000 characters: one per language, section and user.
_topbars = LRUCache(maxsize=1024)
_topbars_lock = threading.Lock()
# Filled in per request; a username or path holding these is escaped, so never matches.
_CSRF_SLOT, _NEXT_SLOT = Markup("<csrf-slot>"), Markup("<next-slot>")


def topbar(request, csrf_field) -> Markup:
    """The header of every console page (_topbar.html), drawn once per language,
    section and user and remembered: it cost a logged-in page more than its
    session and user queries. The CSRF field and the current path, which the
    language switch returns to, are filled in each time."""
    user = request.user
    match = request.resolver_match
    values = {
        "user": user,
        "section": match.url_name if match else None,
        "in_announcements": "/console/announcements/" in request.path,
        "LANGUAGES": settings.LANGUAGES,
        "LANGUAGE_CODE": get_language(),
    }
    key = (
        values["section"],
        values["in_announcements"],
        values["LANGUAGE_CODE"],
        user.is_authenticated,
        user.is_staff,
        user.get_username(),
        get_script_prefix(),
        get_urlconf(),
    )
    with _topbars_lock:
        html = _topbars.get(key)
    if html is None:
        template = engines["jinja2"].env.get_template("_topbar.html")
        html = template.render(values, csrf_input=_CSRF_SLOT, next_path=_NEXT_SLOT)
        with _topbars_lock:
            _topbars[key] = html
    path = str(escape(request.get_full_path()))
    return Markup(html.replace(_CSRF_SLOT, str(csrf_field)).replace(_NEXT_SLOT, path))


def clear_topbars() -> None:
    with _topbars_lock:
        _topbars.clear()


@jinja2.pass_context
def _topbar_here(context) -> Markup:
    return topbar(context["request"], context["csrf_input"])


def environment(**options) -> jinja2.Environment:
    options.update(
        trim_blocks=True,
        lstrip_blocks=True,
        # Message bodies come from outside: a missing key is empty, never an error.
        undefined=jinja2.ChainableUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env = jinja2.Environment(**options)
    env.install_gettext_callables(gettext, ngettext, newstyle=False)
    env.globals.update(url=url, static=static, topbar=_topbar_here)
    env.filters.update(
        chat_text=chat_text,
        part=part,
        web_url=web_url,
        as_list=lambda v: v if isinstance(v, list) else [],
        pretty_json=pretty_json,
    )
    return env
