"""What every form of ours shares: labels without a suffix.

Django puts its translated ":" after each label (`label_tag`), and its zh-Hans
catalogue translates it as a half-width ":" ("说明:"). The console lays labels
out above their fields and writes its hand-made labels without one, so our
forms put none, in either language. The admin's own ModelAdmin forms keep
Django's default, as every other admin page does.
"""


class NoLabelSuffix:
    """First base of a form class: no suffix after its labels."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
