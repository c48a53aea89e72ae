"""The compose page's audience picker: its state as the form stands, and its pages (htmx)."""

from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from announcements import audience
from announcements.audience import (
    RECEIVES,
    AudienceForm,
    AudienceSearchForm,
    kind_counts,
    results_page,
)
from announcements.forms import ComposeForm
from announcements.models import Announcement
from botadmin.ids import id_or_none
from conversations.services import bots_visible_to

from ..login_required import login_required


def _picker(form: ComposeForm) -> dict:
    """The audience picker as the compose form stands: its first page, the count of
    each choice and of the chosen conversations."""
    values = {name: form[name].value() for name in AudienceForm.base_fields}
    # Editing or duplicating, the list starts with the recipients it has.
    values["only_chosen"] = (
        form.data.get("only_chosen") if form.is_bound else bool(values["audience_base"])
    )
    picker = AudienceSearchForm(values, bot=form.bot)
    counts = kind_counts(form.bot)
    results = chosen = None
    if picker.is_valid():
        results = results_page(picker, counts)
        counts["matching"] = results.matching
        chosen = picker.chosen().filter(RECEIVES).count()
    counts["listed"] = chosen or 0
    return {
        "picker": picker,
        "results": results,
        "audience_counts": counts,
        "audience_choices": [
            (choice, counts.get(choice.data["value"])) for choice in form["audience"]
        ],
        "only_chosen": values["only_chosen"],
        "audience_mode": values["audience"] or Announcement.Audience.LISTED,
    }


def _posted_picker(request) -> AudienceSearchForm:
    """The picker as its page posts it (its search, kind and selection), for a bot the
    operator sees."""
    bot_id = id_or_none(request.POST.get("bot"))
    if bot_id is None:
        raise Http404
    bot = get_object_or_404(bots_visible_to(request.user), pk=bot_id)
    return AudienceSearchForm(request.POST, bot=bot)


@login_required
@require_POST
def audience_results(request):
    """A page of the compose page's audience picker (htmx): the bot's conversations
    matching the search, each checked when in the audience as it stands."""
    picker = _posted_picker(request)
    if not picker.is_valid():
        return HttpResponseBadRequest(_("Reload the page: the search was not understood."))
    # A first page without a search counts its matches as the compose page does, from the
    # shared cache: counting a bot's 100,000 conversations reads all of them (SQLite).
    return render(
        request,
        "console/announcements/_audience_results.html",
        {"picker": picker, "results": results_page(picker, kind_counts(picker.bot)), "oob": True},
    )


@login_required
@require_POST
def select_all_matching(request):
    """The picker's "Select all N matching" (announcements.audience.select_all_matching):
    the fields the selection now posts, how many it sends to, and what the page says."""
    picker = _posted_picker(request)
    if not picker.is_valid():
        return HttpResponseBadRequest(_("Reload the page: the search was not understood."))
    try:
        selection = audience.select_all_matching(picker)
    except audience.TooManyToKeep:
        text = _(
            "Not chosen: more than %(max)d conversations chosen before do not match this "
            "search. Clear the recipients first, or send to all matching the search."
        ) % {"max": audience.MAX_PICKED}
        return JsonResponse({"error": text}, status=409)
    matched = selection.count - len(selection.conversations)
    return JsonResponse(
        {
            "audience_base": selection.audience_base,
            "conversations": ",".join(str(pk) for pk in selection.conversations),
            "count": selection.count,
            "status": ngettext(
                "All %(n)d conversation matching this search is chosen.",
                "All %(n)d conversations matching this search are chosen.",
                matched,
            )
            % {"n": matched},
        }
    )
