"""Message types in words for operators ("图片", not "image"). The API and the
protocol keep the codes; pages show these."""

from django.utils.translation import gettext_lazy as _

NAMES = {
    "text": _("Text"),
    "markdown": _("Markdown"),
    "markdown_v2": _("Markdown v2"),
    "link": _("Link card"),
    "image": _("Image"),
    "news": _("News card"),
    "miniprogram": _("Mini program"),
    "file": _("File"),
    "voice": _("Voice"),
    "video": _("Video"),
    "event": _("Event"),
    "mixed": _("Mixed text and images"),
    "template_card": _("Template card"),
}


def msgtype_name(code: str) -> str:
    """The type's words, or the code itself for a type not listed."""
    return str(NAMES.get(code, code))
