"""Forms the admin and the console share."""

from datetime import UTC

from django import forms
from django.utils.translation import gettext_lazy as _


class ReplayFailedForm(forms.Form):
    start = forms.DateTimeField(
        label=_("from"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label=_("until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            try:
                if data.get(name):
                    data[name].astimezone(UTC)  # how the database gets it
            except OverflowError:  # 0001-01-01 east of UTC
                self.add_error(name, forms.DateTimeField.default_error_messages["invalid"])
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise forms.ValidationError(_("The start must be before the end."))
        return data
