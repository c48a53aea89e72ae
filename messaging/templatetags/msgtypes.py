"""`{{ codes|msgtype_list }}`: message types in the reader's words ("图片、链接卡片"), for
pages outside the console's own tags (a connector's setup guide)."""

from django import template
from django.utils.translation import pgettext

from botadmin.msgtype_names import msgtype_name

register = template.Library()


@register.filter
def msgtype_list(codes) -> str:
    """The types' words joined as a list in the active language; an unknown type as its code."""
    # Translators: between the names of a list: 、 in Chinese.
    return pgettext("list separator", ", ").join(msgtype_name(str(code)) for code in codes or ())
