"""Forms edited on a page while someone else may change the same row: another tab,
another operator, a worker. Optimistic concurrency field by field, with no version
column: the page posts each value as it showed it too (Django's `show_hidden_initial`,
initial-NAME), so what the page changed is told apart from what changed under it.

Every form that edits a bot or a webhook endpoint uses it: the admin's bot and endpoint
forms (conversations/admin_bot_form.py, forwarding/admin.py, their rows read under the
row's lock by conversations/admin_locking.py), the console's sending and endpoint forms
(`ChangedOnThePage`) and its connector settings form (a plain form, refused by the view
with `refuse_changes_made_meanwhile`).
"""

from django import forms
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from .masked_urls import MaskedHiddenInput, mask_url


class ChangedOnThePage:
    """A form whose page posts each value as it showed it too (initial-NAME): optimistic
    concurrency, field by field, for a row another tab or operator may change while the
    page is open.

    A field counts as changed when the operator changed it there, not when another tab or
    operator changed the row since: a field left as the page showed it is neither saved
    nor put into the instance, so the newer value stays (`_post_clean`, `_save_m2m`). A
    field the page changed whose stored value is no longer the one the page showed, and is
    not the page's either, refuses the whole form, naming it and its value now
    (`refuse_changes_made_meanwhile`), and each such field; the same change posted again
    is saved.
    Call `show_shown_values()` in `__init__` for the fields to track; the instance is the
    row as stored now (read under its lock where it is saved in the same transaction)."""

    def show_shown_values(self, names=None) -> None:
        for name, field in self.fields.items():
            if names is None or name in names:
                field.show_hidden_initial = True
                if issubclass(field.hidden_widget, forms.MultipleHiddenInput):
                    field.hidden_widget = ShownChoicesInput

    @cached_property
    def changed_data(self) -> list[str]:
        return changed_on_the_page(self)

    def _post_clean(self):
        # After every clean(), before the model's checks: a refused form checks no further.
        if refuse_changes_made_meanwhile(self):
            return
        # A field left as the page showed it keeps the instance's value, the row's now.
        kept = {name: self.cleaned_data.pop(name) for name in self.left_as_shown()}
        super()._post_clean()
        self.cleaned_data.update(kept)

    def _save_m2m(self):
        # Nor are its many-to-many fields (a bot's operators) set to what the page showed.
        kept = {name: self.cleaned_data.pop(name) for name in self.left_as_shown()}
        try:
            super()._save_m2m()
        finally:
            self.cleaned_data.update(kept)

    def left_as_shown(self) -> list[str]:
        """The tracked fields this page posted as it showed them (valid ones)."""
        if getattr(self.instance, "pk", None) is None:
            return []
        return [
            name
            for name, bound in self._bound_items()
            if bound.field.show_hidden_initial
            and bound.html_initial_name in self.data
            and name not in self.changed_data
            and name in self.cleaned_data
        ]


class ShownChoicesInput(forms.MultipleHiddenInput):
    """The choices a page showed chosen (a bot's operators), posted even when it showed
    none, as one empty value: "none shown" is told from "not posted" (a script's post)."""

    def format_value(self, value):
        return super().format_value(value) or [""]

    def value_from_datadict(self, data, files, name):
        return [value for value in super().value_from_datadict(data, files, name) if value]


def changed_on_the_page(form: forms.BaseForm) -> list[str]:
    """What the page changed (ChangedOnThePage) that the row does not hold already (a
    value another tab saved too changes nothing: no warning, no audit); against the row as
    stored for a post without the page's shown values (a script's)."""
    return [
        name
        for name, bound in form._bound_items()
        if bound.field.has_changed(bound.initial, bound.data)
        and (
            bound._has_changed()
            if bound.field.show_hidden_initial and bound.html_initial_name in form.data
            else True
        )
    ]


CHANGED_MEANWHILE = _(
    "Not saved: after this page was opened, another tab or user changed what this page "
    "changes too. %(fields)s. Save again to replace their values with this page's, or set "
    "them back to keep theirs."
)


CHANGED_MEANWHILE_HERE = _(
    "Another tab or user changed this after this page was opened: it is now “%(value)s”."
)


def refuse_changes_made_meanwhile(form: forms.BaseForm) -> bool:
    """Refuse `form` when another tab or user changed, since its page was drawn, a field
    the page changes too (`changed_meanwhile`): an error at the form's top naming each and
    its value now, and one on each such field, which is drawn as refused. Whether it was
    refused. The form shown again is drawn for the values now."""
    names = changed_meanwhile(form)
    if not names:
        return False
    now = {name: _now_value(form, name) for name in names}
    for name in names:
        _show_as_stored(form, name)
    separator = pgettext("between the sentences of a list", "; ")
    fields = separator.join(_now_text(form, name, now[name]) for name in names)
    form.add_error(
        None,
        forms.ValidationError(
            CHANGED_MEANWHILE, code="changed_meanwhile", params={"fields": fields}
        ),
    )
    for name in names:
        form.add_error(
            name,
            forms.ValidationError(
                CHANGED_MEANWHILE_HERE, code="changed_meanwhile", params={"value": now[name]}
            ),
        )
    return True


def changed_meanwhile(form: forms.BaseForm) -> list[str]:
    """The fields `form`'s page changed (ChangedOnThePage) whose stored value is no longer
    the one the page showed, and not the one it posts: saving would override, unseen, what
    another tab or operator saved since. A field already refused for its own reason, or
    posted without the value the page showed (a script), is not one."""
    names = []
    for name in form.changed_data:
        bound = form[name]
        field = bound.field
        if field.disabled or not field.show_hidden_initial or name in form.errors:
            continue
        if bound.html_initial_name not in form.data:
            continue
        stored = bound.initial
        shown = form._widget_data_value(field.hidden_widget(), bound.html_initial_name)
        try:
            if not field.has_changed(_as_shown(field, stored), shown):
                continue  # as the page showed it
            if not field.has_changed(stored, bound.data):
                continue  # the page's value is the stored one: nothing overridden
        except forms.ValidationError:
            continue  # not a value the page showed: a post from elsewhere
        names.append(name)
    return names


def _as_shown(field: forms.Field, value):
    """A stored value as the page shows it in its hidden input (a URL masked)."""
    return mask_url(value) if issubclass(field.hidden_widget, MaskedHiddenInput) else value


def _show_as_stored(form: forms.BaseForm, name: str) -> None:
    """The page's record of what it showed for `name` becomes the value stored now: shown
    again, the same change posted again is saved."""
    bound = form[name]
    value = _as_shown(bound.field, bound.field.prepare_value(bound.initial))
    form.data = form.data.copy()
    key = bound.html_initial_name
    if isinstance(value, (list, tuple)):
        values = [str(item) for item in value]
        if hasattr(form.data, "setlist"):
            form.data.setlist(key, values)
        else:
            form.data[key] = values
    else:
        form.data[key] = "" if value is None else str(value)


def _now_text(form: forms.BaseForm, name: str, value: str) -> str:
    """`Label is now “value”`: a field and its stored value (`_now_value`)."""
    label = form[name].label or capfirst(name)
    return _("%(field)s is now “%(value)s”") % {"field": label, "value": value}


def _now_value(form: forms.BaseForm, name: str) -> str:
    """A field's stored value in the reader's words (a switch on or off, a choice's
    label, a URL masked)."""
    bound = form[name]
    field, value = bound.field, bound.initial
    if isinstance(field, forms.BooleanField):
        shown = pgettext("a switch", "on") if value else pgettext("a switch", "off")
    elif isinstance(field, forms.ModelMultipleChoiceField):
        chosen = field.queryset.filter(pk__in=[getattr(v, "pk", v) for v in value or []])
        shown = ", ".join(field.label_from_instance(item) for item in chosen)
    elif isinstance(field, forms.ModelChoiceField):
        item = field.queryset.filter(pk=getattr(value, "pk", value)).first()
        shown = field.label_from_instance(item) if item is not None else ""
    elif isinstance(field, forms.ChoiceField):
        choices = {}
        for key, label in field.choices:
            choices.update(dict(label) if isinstance(label, (list, tuple)) else {key: label})
        shown = str(choices.get(value, value if value is not None else ""))
    else:
        prepared = field.prepare_value(value)
        shown = str(_as_shown(field, prepared) if prepared not in (None, "") else "")
    if shown == "":
        shown = pgettext("a field's value", "empty")
    return shown


def refused_as_changed_meanwhile(
    form: forms.BaseForm, shown: str, now: str, message, code: str, params=None
) -> forms.ValidationError:
    """The error refusing a change made on a page drawn before someone else changed the
    value (another tab, another user), which the change would silently undo. The page's
    record of what it was drawn for (the posted `shown`: a hidden field) becomes `now`,
    the value stored now, so the form shown again is drawn for it: the same change posted
    again is saved. Refused once, then."""
    form.data = form.data.copy()
    form.data[shown] = now
    return forms.ValidationError(message, code=code, params=params)
