"""`{{ message.last_error|reason }}`: a stored failure reason in the reader's language
(botadmin/reasons.py); a plain text as it is. `|reason_sentence` where it stands on its
own (a line, a table cell, a tooltip): in English it starts with a capital, which `|reason`
leaves lowercase to read on after a colon ("Waiting until 09:30: {{ why }}")."""

from django import template

from botadmin.reasons import Reason, sentence, translate

register = template.Library()


@register.filter
def reason(text):
    return translate(text)


@register.filter
def reason_sentence(text):
    return sentence(text)


@register.filter
def reason_detail(text) -> str:
    """A stored reason's technical detail (an exception's text) its wording leaves out:
    the `detail` parameter its msgid does not name; "" when it has none."""
    if isinstance(text, Reason) and "%(detail)" not in text.msgid:
        return text.params.get("detail", "")
    return ""
