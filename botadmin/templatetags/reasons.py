"""`{{ message.last_error|reason }}`: a stored failure reason in the reader's language
(botadmin/reasons.py); a plain text as it is."""

from django import template

from botadmin.reasons import translate

register = template.Library()


@register.filter
def reason(text):
    return translate(text)
