from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit import actions as audit_actions
from audit.export import entries
from audit.models import OperatorAction
from audit.services import record_action
from conversations.services import bots_visible_to

from ..export import csv_lines, operator_action_lines
from ..forms import AuditFilterForm
from ..login_required import login_required
from ..queries import audit_rows, page_by_id, page_by_id_both_ways, searches_by_sender
from .scoping import int_param

# Operator actions on a page; older and newer pages continue by id (keyset), with the
# same cost deep in the log as on its first page. An id is given as the action is
# recorded, so id order is time order: the primary key's index serves it for any set of
# bots, where (bot, time) cannot serve several bots at once (SQLite then sorted every
# action of the operator's bots for each page).
ACTIONS_PER_PAGE = 50


def _filtered(request):
    bots = bots_visible_to(request.user).order_by("name")
    form = AuditFilterForm(request.GET, bots=bots)
    data = form.cleaned_data if form.is_valid() else {}
    return form, data, audit_rows(bots, data), bots


@login_required
def outbound_log(request):
    form, data, rows, bots = _filtered(request)
    page = None
    if form.is_valid():
        before = int_param(request, "before")
        page = page_by_id(rows, before, bots, by_sender=searches_by_sender(data))
    export_query = request.GET.copy()
    export_query.pop("before", None)
    return render(
        request,
        "console/audit/outbound.html",
        {
            "form": form,
            "page": page,
            "export_query": export_query.urlencode(),
            # Filters that contradict each other list nothing: there is nothing to export.
            "exportable": form.is_valid(),
            # An empty log with no filter is not "nothing matches these filters".
            "filtered": any(export_query.values()),
        },
    )


@login_required
def outbound_csv(request):
    form, data, rows, _bots = _filtered(request)
    if not form.is_valid():
        # Without its filters the export would be the whole log, where the page lists nothing.
        return HttpResponseBadRequest(
            " ".join(form.non_field_errors()), content_type="text/plain; charset=utf-8"
        )
    filters = {name: str(value) for name, value in data.items() if value}
    record_action(
        request.user,
        "messages.export",
        bot=data.get("bot"),
        summary="Exported the outbound messages as CSV in the console.",
        details={"filters": filters, "via": "console"},
    )
    filename = f"botadmin-outbound-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _operator_actions(request):
    """The entries `request.user` may read, filtered as the page's form says."""
    bots = bots_visible_to(request.user)
    actions = OperatorAction.objects.select_related("actor", "bot")
    if not request.user.is_superuser:
        # Actions about one of the user's bots; bot-less actions are for superusers. As a
        # list of ids: a subquery is joined, where the ids are looked up.
        actions = actions.filter(bot__in=list(bots.values_list("pk", flat=True)))
    bot_id = int_param(request, "bot")
    choices = audit_actions.choices(request.user)
    # An earlier code (a link kept from before) is found by the entry it is filed under.
    action = audit_actions.filed_under(request.GET.get("action", ""))
    if action not in dict(choices):
        action = ""
    return entries(actions, bot_id=bot_id, action=action), bots, bot_id, action, choices


@login_required
def operator_actions(request):
    actions, bots, bot_id, action, choices = _operator_actions(request)
    page = page_by_id_both_ways(
        actions,
        before=int_param(request, "before"),
        after=int_param(request, "after"),
        size=ACTIONS_PER_PAGE,
    )
    export_query = request.GET.copy()
    for paging in ("before", "after"):
        export_query.pop(paging, None)
    return render(
        request,
        "console/audit/actions.html",
        {
            "page": page,
            "bots": bots.order_by("name"),
            "selected_bot": bot_id,
            "action": action,
            "action_choices": choices,
            "export_query": export_query.urlencode(),
            # An empty log is not "nothing matches these filters".
            "filtered": bool(bot_id or action),
        },
    )


@login_required
def operator_actions_csv(request):
    actions, bots, bot_id, action, _choices = _operator_actions(request)
    bot = bots.filter(pk=bot_id).first() if bot_id else None  # never another's bot
    record_action(
        request.user,
        "audit.export",
        bot=bot,
        summary="Exported the operator actions as CSV in the console.",
        details={
            "filters": {"bot": bot.name if bot else "", "action": action},
            "via": "console",
        },
    )
    filename = f"botadmin-operator-actions-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(
        operator_action_lines(actions.order_by()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
