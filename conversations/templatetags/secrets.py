"""`{{ bot.secret|mask }}`: a secret as the console and the admin show it (secrets.mask)."""

from django import template

from conversations.secrets import mask as mask_secret

register = template.Library()


@register.filter
def mask(value) -> str:
    return mask_secret(str(value or ""))
