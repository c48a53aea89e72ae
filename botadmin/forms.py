"""What every form of ours shares: labels without a suffix.

Django puts its translated ":" after each label (`label_tag`), and its zh-Hans
catalogue translates it as a half-width ":" ("说明:"). The console lays labels
out above their fields and writes its hand-made labels without one, so our
forms put none, in either language. The admin's own ModelAdmin forms keep
Django's default, as every other admin page does.

A hint after a help text (`with_hint`) is joined as the next sentence, with the
language's own full stop when the help text has none ("Secret" is no sentence).
"""

from django.utils.translation import gettext_lazy as _


class NoLabelSuffix:
    """First base of a form class: no suffix after its labels."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# What leaving a field empty does, after its help text (`with_hint`).
KEEP_CURRENT = _("Leave empty to keep the current value.")
GENERATED = _("Generated when left empty.")

_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")


def with_hint(help_text, hint) -> str:
    """A field's help text followed by a hint, as sentences in the active language:
    "Secret. Leave empty to keep the current value.", "密钥。留空则保留当前值。"."""
    text = str(help_text).strip()
    if not text:
        return str(hint)
    if text.endswith(_SENTENCE_ENDS):
        return _("%(help)s %(hint)s") % {"help": text, "hint": hint}
    return _("%(help)s. %(hint)s") % {"help": text, "hint": hint}
