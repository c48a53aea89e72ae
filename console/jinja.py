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

from functools import lru_cache

import jinja2
from django.template.backends.utils import csrf_input
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext, ngettext

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
    env.globals.update(url=url, static=static)
    env.filters.update(
        chat_text=chat_text,
        part=part,
        web_url=web_url,
        as_list=lambda v: v if isinstance(v, list) else [],
        pretty_json=pretty_json,
    )
    return env
