"""URLs that may carry credentials, shown masked on every page and kept by the forms.

An agent URL, a webhook URL or a proxy URL may hold a password or a token in
its user part (`https://user:password@host/`, `https://TOKEN@host/`: the whole
user part is masked) or a key in its query (`?token=…`). Whoever
sees the bot sees its URLs, so pages show them as the logs and the audit log
do (`botadmin.logging.mask_secrets`): in templates with `{% load masked_urls %}
{{ url|mask_url }}`, in the admin with `masked_url_display`.

An edit form shows the stored URL masked too (`mask_url_fields`), and treats
the masked parts as a secret field treats its empty value: the masked URL sent
back unchanged keeps the stored one. An edited URL still holding the mask is
refused, so a stored password never goes to an address someone typed without
knowing it.
"""

from __future__ import annotations

from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from .logging import MASK, mask_secrets

STILL_MASKED = _(
    "This URL still shows %(mask)s in place of a password or key: type the whole URL, with them."
)


def mask_url(value) -> str:
    """`value` (a URL, or any text) with its credentials masked; "" for None."""
    return mask_secrets(str(value)) if value else ""


class MaskedURLInput(forms.URLInput):
    """A URL field's input showing the stored value masked (`mask_url`); a URL the
    operator just typed comes back as typed when the form is shown again with errors,
    so saving it does not ask them to type its password again."""

    def __init__(self, attrs=None, stored: str = "", bound: bool = False):
        super().__init__(attrs)
        self.stored, self.bound = stored, bound

    def format_value(self, value):
        value = super().format_value(value)
        if not value or (self.bound and value != self.stored):
            return value
        return mask_url(value)


class MaskedHiddenInput(forms.HiddenInput):
    """The URL as the page showed it (a form showing each value it showed,
    botadmin.edited_meanwhile.ChangedOnThePage): masked, never the stored one."""

    def format_value(self, value):
        return mask_url(super().format_value(value))


def _refuse_masked(value) -> None:
    if MASK in str(value):
        raise forms.ValidationError(STILL_MASKED, code="masked", params={"mask": MASK})


def _is_url_field(field: forms.Field) -> bool:
    return isinstance(field, forms.URLField) or any(
        isinstance(validator, URLValidator) for validator in field.validators
    )


def mask_url_fields(form: forms.BaseForm, stored: dict[str, str]) -> None:
    """Show `form`'s URL fields masked; a field whose masked stored value (`stored`,
    by field name) comes back unchanged, or which comes back as the page showed it (a form
    showing each value it showed), gets the stored value. Call before validating."""
    for name, field in form.fields.items():
        if not _is_url_field(field):
            continue
        value = str(stored.get(name) or "")
        field.widget = MaskedURLInput(attrs=field.widget.attrs, stored=value, bound=form.is_bound)
        field.hidden_widget = MaskedHiddenInput
        field.validators = [*field.validators, _refuse_masked]
        key = form.add_prefix(name)
        if not form.is_bound or not value or field.disabled:
            continue
        sent = form.data.get(key)
        shown = form.data.get(form.add_initial_prefix(name)) if field.show_hidden_initial else None
        if isinstance(sent, str) and sent == shown:
            # Sent back as the page showed it, maybe before someone else changed it since:
            # the stored URL, unchanged.
            form.data = form.data.copy()
            form.data[key] = form.data[form.add_initial_prefix(name)] = value
        elif isinstance(sent, str) and sent.strip() == mask_url(value) != value:
            form.data = form.data.copy()
            form.data[key] = value


def masked_url_display(name: str, description, ordering: str | None = None):
    """A ModelAdmin (or inline) method showing the URL field `name` masked: list it in
    `fields`/`readonly_fields`/`list_display` instead of the field.

        url_shown = masked_url_display("url", _("URL"), ordering="url")
    """

    def show(model_admin, obj) -> str | None:
        return mask_url(getattr(obj, name)) or None

    show.short_description = description
    if ordering:
        show.admin_order_field = ordering
    return show
