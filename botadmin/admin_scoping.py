"""Admin pieces shared by the apps: operators see only the bots they run."""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import BadRequest, ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.utils.translation import gettext_lazy as _

from botadmin import jsontext
from botadmin.admin_lookups import DeclaredFiltersOnlyAdminMixin
from botadmin.errors import errmsg_value
from botadmin.jsontext import unstorable
from conversations.services import bots_visible_to


def validate_storable_json(value) -> None:
    """NUL, lone surrogates, NaN and Infinity: Python's json reads them, no database stores them."""
    if unstorable(value, "value") is not None:
        raise ValidationError(forms.JSONField.default_error_messages["invalid"], code="invalid")


# More than any field an operator edits by hand needs.
MAX_JSON_INPUT_CHARS = 100_000


def _refuse_unreadable(text) -> None:
    """Too long or too deeply nested to decode safely: Django's decoder would
    recurse until Python's limit and answer a 500. An object naming a key twice too:
    Django's decoder would keep the last one silently, as the send API does not
    (`botadmin.api.json_body`)."""
    if not isinstance(text, str):
        return
    if len(text) > MAX_JSON_INPUT_CHARS:
        raise ValidationError(
            _("JSON longer than %(limit)s characters."),
            code="too_long",
            params={"limit": MAX_JSON_INPUT_CHARS},
        )
    try:
        jsontext.loads(text, unique_keys=True)
    except jsontext.TooDeep as error:
        raise ValidationError(
            _("JSON nested deeper than %(limit)s levels."),
            code="too_deep",
            params={"limit": error.limit},
        ) from None
    except jsontext.DuplicateKey as error:
        raise ValidationError(
            _("The key %(path)s is given twice in the JSON."),
            code="duplicate_key",
            params={"path": errmsg_value(error.path)},
        ) from None
    except ValueError:
        pass  # Django's own decoding says what is wrong


class StorableJSONField(forms.JSONField):
    """The admin's JSON field: what no database stores is refused like invalid JSON,
    and shown back as typed (a lone surrogate cannot even be rendered); JSON too
    long or too deeply nested, or naming a key twice, is refused before Django
    decodes it."""

    default_validators = [validate_storable_json]

    def to_python(self, value):
        if not self.disabled:
            _refuse_unreadable(value)
        return super().to_python(value)

    def bound_data(self, data, initial):
        if not self.disabled:
            try:
                _refuse_unreadable(data)
            except ValidationError:
                return InvalidJSONInput(data)
        value = super().bound_data(data, initial)
        if unstorable(value, "value") is not None:
            return InvalidJSONInput(data)
        return value


# For a ModelAdmin's formfield_overrides.
STORABLE_JSON = {models.JSONField: {"form_class": StorableJSONField}}


def _possible_pk(model, value) -> bool:
    """Whether some row of `model` could have this pk (a number within the database's
    range): Django's admin puts the others in an IN query, which fails (SQLite
    cannot even bind them)."""
    try:
        model._meta.pk.clean(value, None)
    except ValidationError:
        return False
    return True


class PossibleIdsMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Ids no row can have are invalid choices, not a 500."""

    def _check_values(self, value):
        for item in value:
            if not _possible_pk(self.queryset.model, item):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": item},
                )
        return super()._check_values(value)


class BotScopedAdminMixin(DeclaredFiltersOnlyAdminMixin):
    """Limits a ModelAdmin to rows of the bots the user may see.

    `bot_lookup` is the path from the model to its Bot ("" for Bot itself).
    Rows of other bots are absent from lists and answer 404 on their pages, and
    lists are filtered only by their own list filters (botadmin/admin_lookups.py).
    """

    bot_lookup = "bot"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        visible = bots_visible_to(request.user)
        if not self.bot_lookup:
            return queryset.filter(pk__in=visible.values("pk"))
        return queryset.filter(**{f"{self.bot_lookup}__in": visible.values("pk")})

    def response_action(self, request, queryset):
        """A selection that names no possible row (not a number, out of range) is a
        bad request: Django's admin would put it in a query and answer 500."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(_possible_pk(self.model, value) for value in selected):
            raise BadRequest("invalid selection")
        return super().response_action(request, queryset)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", PossibleIdsMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "bot" and not request.user.is_superuser:
            kwargs["queryset"] = bots_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class VisibleRelatedFilter(admin.RelatedFieldListFilter):
    """A list filter on a bot, or on a row that has a bot (a webhook endpoint), that
    offers only the user's bots and their rows: Django's lists every row, which shows
    a scoped operator every bot's name and every endpoint's URL."""

    def field_choices(self, field, request, model_admin):
        visible = bots_visible_to(request.user)
        model = field.related_model
        rows = (
            visible
            if model is visible.model
            else model._default_manager.filter(bot__in=visible.values("pk"))
        )
        ordering = self.field_admin_ordering(field, request, model_admin)
        return [(row.pk, str(row)) for row in rows.order_by(*(ordering or ("pk",)))]


class VisibleValuesFilter(admin.AllValuesFieldListFilter):
    """A list filter on a value of a related row with a bot (`message__msgtype`) that
    offers only the values of the user's bots: Django's reads every row of the
    related table, which shows a scoped operator what other bots received."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if not request.user.is_superuser:
            visible = bots_visible_to(request.user).values("pk")
            rows = field.model._default_manager.filter(bot__in=visible)
            self.lookup_choices = (
                rows.distinct().order_by(field.name).values_list(field.name, flat=True)
            )


class ReadOnlyAdminMixin:
    """History is never edited: view-only, no add, no delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
