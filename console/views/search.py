from django.shortcuts import render

from conversations.services import bots_visible_to

from ..forms import MessageFilterForm
from ..login_required import login_required
from ..queries import page_by_id, search_results, searches_by_sender
from ..senders import name_senders
from .scoping import int_param


@login_required
def search(request):
    bots = bots_visible_to(request.user).order_by("name")
    form = MessageFilterForm(request.GET or None, bots=bots)
    page = None
    if form.is_bound and form.is_valid() and not form.is_blank():
        data = form.cleaned_data
        before = int_param(request, "before")
        page = page_by_id(
            search_results(bots, data), before, bots, by_sender=searches_by_sender(data)
        )
        name_senders(page.rows)
    return render(request, "console/search.html", {"form": form, "page": page})
