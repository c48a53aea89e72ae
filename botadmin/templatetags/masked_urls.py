"""`{{ endpoint.url|mask_url }}`: a URL with its user part (before `@`) and secret-looking query
values masked, as the logs and the audit log show it (botadmin/masked_urls.py)."""

from django import template

from botadmin import masked_urls

register = template.Library()


@register.filter
def mask_url(value) -> str:
    return masked_urls.mask_url(value)
