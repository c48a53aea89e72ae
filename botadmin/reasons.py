"""Failure reasons stored in English and shown in the reader's language.

A reason (a message's last error, a delivery attempt's error, a webhook
delivery's error, why an endpoint was disabled) is written by a worker, in
English, long before an operator reads it, maybe in Chinese. So it is kept as
its English msgid, marked with `gettext_noop` so makemessages collects it into
the owning app's catalogue, plus its parameters, and translated when shown:

    SendResult(Outcome.RETRY, Reason(gettext_noop("agent unreachable: %(error)s"), error=name))

    {% load reasons %}{{ message.last_error|reason }}

The other side's own words (WeCom's errmsg, an agent's answer, an exception's
text, an HTTP status line) are parameters and stay verbatim; a parameter may be
a Reason itself ("gave up after 5 attempts: agent unreachable: …"). Nesting is for
composing a few reasons, not for lists: a reason nested deeper than MAX_DEPTH is shown
and stored as its English text (each level is a call, and a chain built in a loop,
thousands deep, would exhaust the stack where it is shown).

A reason that counts something has a singular and a plural, marked with
`ngettext_noop` (makemessages collects both, botadmin/management/commands/makemessages.py)
and told which parameter is the count; the form is picked by it in English and in the
reader's language alike:

    KEYS_ANSWER = ngettext_noop("%(count)s key answers", "%(count)s keys answer", "count")
    Reason(KEYS_ANSWER, count=3)

A Reason is a `str` whose value is the English text, so logs, API answers
(English, as WeCom's) and code that reads the column see what they saw before.
A `ReasonField` stores one as JSON and gives it back; a plain text (a row
written before reasons, a raw answer) is stored and shown as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.db import models
from django.utils import translation
from django.utils.translation import gettext, gettext_noop, ngettext

# What a stored reason starts with; a plain text that happens to start so is
# stored as a reason that shows it verbatim (`_verbatim`), so nothing is misread.
_PREFIX = '{"reason":'
_VERBATIM = "%(text)s"
# Levels of reasons inside a reason that are translated, shortened and stored as reasons;
# a deeper one is kept as its English text (a plain str, shown verbatim).
MAX_DEPTH = 16


@dataclass(frozen=True)
class Plural:
    """A msgid with its plural form; `number` names the parameter holding the count."""

    singular: str
    plural: str
    number: str

    def english(self, params: dict) -> str:
        return self.singular if params[self.number] == 1 else self.plural


def ngettext_noop(singular: str, plural: str, number: str) -> Plural:
    """Marks a reason's two English forms for makemessages (as `gettext_noop` marks one);
    `number`: the name of the parameter that picks the form."""
    return Plural(singular, plural, number)


class Reason(str):
    """An English msgid (marked with gettext_noop, or a `Plural` marked with
    ngettext_noop) and its parameters; its value is the English text."""

    msgid: str
    params: dict
    plural: Plural | None

    def __new__(cls, msgid: str | Plural, /, **params) -> Reason:
        plural = msgid if isinstance(msgid, Plural) else None
        text = plural.english(params) if plural else msgid
        self = super().__new__(cls, text % params if params else text)
        self.msgid, self.params, self.plural = text, params, plural
        return self

    def translated(self) -> str:
        """The text in the active language; the parameters stay verbatim, a Reason among
        them is translated too."""
        return _translated(self, MAX_DEPTH)

    def shortened(self, limit: int) -> Reason:
        """The same reason with each text parameter cut to `limit` characters."""
        return _shortened(self, limit, MAX_DEPTH)


# Each level of a reason is one call: `depth` is how many more levels below this one
# stay reasons; a reason past them is its English text (a plain str).


def _translated(reason: Reason, depth: int) -> str:
    if reason.plural:
        plural = reason.plural
        text = ngettext(plural.singular, plural.plural, reason.params[plural.number])
    else:
        text = gettext(reason.msgid) if reason.msgid else ""
    if not reason.params:
        return text
    return text % {name: _translate(value, depth - 1) for name, value in reason.params.items()}


def _translate(value, depth: int):
    if not isinstance(value, Reason):
        return value
    return _translated(value, depth) if depth >= 0 else str(value)


def _shortened(reason: Reason, limit: int, depth: int) -> Reason:
    params = {name: _shorten(value, limit, depth - 1) for name, value in reason.params.items()}
    return Reason(reason.plural or reason.msgid, **params)


def _shorten(value, limit: int, depth: int):
    if isinstance(value, Reason) and depth >= 0:
        return _shortened(value, limit, depth)
    return value[:limit] if isinstance(value, str) else value


def label(lazy) -> Reason:
    """A lazily translated word of ours (a choice's label, a connector's label) as a
    Reason: its English text is its msgid, so it reads in the reader's language where
    it is shown, whichever app's catalogue translates it."""
    with translation.override("en"):
        return Reason(str(lazy))


# Two parts of a list (`listing`): "图片、链接卡片" in Chinese.
LIST_PAIR = gettext_noop("%(first)s, %(second)s")


def listing(items: list) -> str:
    """`items` (Reasons or words) as one list in the reader's language: halves joined by
    LIST_PAIR, so a list of n items nests log2(n) levels deep, never n."""
    if len(items) <= 1:
        return items[0] if items else ""
    middle = len(items) // 2
    return Reason(LIST_PAIR, first=listing(items[:middle]), second=listing(items[middle:]))


def translate(text) -> str:
    """A stored reason in the active language; any other value as it is."""
    return text.translated() if isinstance(text, Reason) else text


# A reason's English starts lowercase, to read on after a colon ("gave up after 5
# attempts: agent unreachable: …"); shown on its own it starts with a capital. Not one
# starting with a parameter (a host name), a name ("botadmin") or a code ("image.base64").
_PLAIN_FIRST_WORD = re.compile(r"[a-z]+(?=[\s,:;(]|$)")
_KEPT_LOWERCASE = {"botadmin", "msgtype", "msgid", "errcode"}


def sentence(text) -> str:
    """A stored reason shown on its own (a line, a table cell, a tooltip) in the active
    language, starting with a capital in English; any other value (an endpoint's or an
    agent's own answer) as it is."""
    if not isinstance(text, Reason):
        return text
    shown = text.translated()
    first = _PLAIN_FIRST_WORD.match(text.msgid)
    if first is None or first.group() in _KEPT_LOWERCASE or not shown[:1].islower():
        return shown
    return shown[:1].upper() + shown[1:]


def of(error: BaseException) -> str:
    """An exception's text, kept a Reason when it was raised with one."""
    first = error.args[0] if error.args else None
    return first if isinstance(first, Reason) else str(error)


def shorten(text, limit: int):
    """Cut a plain text to `limit` characters; a Reason keeps its wording (its
    parameters are cut), so it still translates."""
    return _shorten(text, limit, MAX_DEPTH)


def _encode(value, depth: int = MAX_DEPTH) -> object:
    if not isinstance(value, Reason):
        return value
    if depth < 0:
        return str(value)
    params = {k: _encode(v, depth - 1) for k, v in value.params.items()}
    if value.plural:
        plural = value.plural
        return {
            "reason": plural.singular,
            "plural": plural.plural,
            "number": plural.number,
            "params": params,
        }
    return {"reason": value.msgid, "params": params}


def _decode(value, depth: int = MAX_DEPTH) -> object:
    if not isinstance(value, dict):
        return value
    if depth < 0:
        raise ValueError("reasons nested deeper than MAX_DEPTH")
    params = {k: _decode(v, depth - 1) for k, v in value["params"].items()}
    if "plural" in value:
        return Reason(Plural(value["reason"], value["plural"], value["number"]), **params)
    return Reason(value["reason"], **params)


def as_json(text: str) -> object:
    """A reason as JSON data, to hand it to another process (the AI bot gateway's answer):
    `{"reason": msgid, "params": {...}}`, or the plain text as it is."""
    return _encode(text)


def from_json(data, default: str = "") -> str:
    """What `as_json` gave: a Reason, a plain text, or `default` for anything else."""
    if isinstance(data, str):
        return data
    try:
        reason = _decode(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return default
    return reason if isinstance(reason, Reason) else default


def dumps(text: str) -> str:
    """What a ReasonField stores for this text."""
    if not isinstance(text, Reason):
        if not text.startswith(_PREFIX):
            return text
        text = Reason(_VERBATIM, text=text)
    return json.dumps(_encode(text), ensure_ascii=False)


def stored_start(msgid: str) -> str:
    """How what a ReasonField stores for a Reason worded `msgid` (not a counted one)
    begins, whatever its parameters: a query finds those rows with `__startswith`."""
    return json.dumps({"reason": msgid}, ensure_ascii=False)[:-1] + ", "


def loads(stored: str) -> str:
    """The text a ReasonField stored: a Reason, or the plain text."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return _decode(json.loads(stored))
    except (ValueError, KeyError, TypeError, AttributeError):
        return stored  # not one of ours after all


class ReasonField(models.TextField):
    """A text column holding a plain text or a Reason (stored as JSON, read back as one)."""

    def from_db_value(self, value, expression, connection):
        return loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return dumps(value) if isinstance(value, str) else value


def admin_display(name: str, description):
    """A ModelAdmin (or inline) method showing the reason field `name` in the reader's
    language, on its own in its cell (`sentence`): list it in `fields`/`readonly_fields`
    instead of the field, which the admin would show in English.

        last_error_shown = admin_display("last_error", _("last error"))
    """

    def show(model_admin, obj) -> str:
        return sentence(getattr(obj, name))

    show.short_description = description
    return show
