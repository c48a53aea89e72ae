"""An admin list is filtered only by the filters it shows.

Django's changelist turns any query-string parameter naming a field of the
model into a filter (`?secret__regex=^ab`), and `ModelAdmin.lookup_allowed`
lets every lookup on the model's own fields through. A list that shows a row
only when a guess about one of its secrets is right hands the secret out a
character at a time, to people who may not see it (a bot's operator without
`administer_bot`, and for robot keys everyone), and a bad regex is a 500.

Here a parameter is accepted only when one of the admin's `list_filter`
entries or its `date_hierarchy` takes it: whatever filter Django built from
those consumed it. Anything left over is refused as Django refuses a
relation lookup it does not allow: DisallowedModelAdminLookup, a 400, before
any query runs. Searching (`q`), ordering (`o`) and paging are not filters and
go on as before; what they reach is limited by `search_fields` and
`list_display`, which name no secret.
"""

from __future__ import annotations

from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList


class DeclaredFiltersChangeList(ChangeList):
    def get_filters(self, request):
        # PostgreSQL refuses a NUL in a text parameter (a DataError: a 500), in a
        # filter's value and in a search alike.
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            raise IncorrectLookupParameters("a NUL character in the query string")
        asked = set(self.get_filters_params())
        try:
            filters = super().get_filters(request)
        except OverflowError as error:  # a date hierarchy's year past C's long: a 500
            raise IncorrectLookupParameters(error) from error
        # The filters pop the parameters they take; the date hierarchy's drill-down
        # (year, month, day) comes back as its own __gte/__lt, which nobody asked for.
        left_over = asked & set(filters[2])
        if left_over:
            raise DisallowedModelAdminLookup(f"Filtering by {sorted(left_over)[0]} not allowed")
        return filters


class DeclaredFiltersOnlyAdminMixin:
    """For every ModelAdmin of the project (tests/botadmin/test_admin_lookups.py
    checks the registry): its list is filtered only by its own list filters."""

    def get_changelist(self, request, **kwargs):
        return DeclaredFiltersChangeList
