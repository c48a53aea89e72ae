"""`{{ message.last_error|reason }}`: a stored failure reason in the reader's language
(botadmin/reasons.py); a plain text as it is."""

from django import template

from botadmin.reasons import Reason, translate

register = template.Library()


@register.filter
def reason(text):
    return translate(text)


@register.filter
def reason_detail(text) -> str:
    """A stored reason's technical detail (an exception's text) its wording leaves out:
    the `detail` parameter its msgid does not name; "" when it has none."""
    if isinstance(text, Reason) and "%(detail)" not in text.msgid:
        return text.params.get("detail", "")
    return ""
