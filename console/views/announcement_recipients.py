"""An announcement's recipients as they stand, before it goes out: the conversations a
run starting now would send to (its chosen list's active ones, or its rule's), by name,
a page at a time. What each run sent is on the announcement's page (its runs)."""

from django.shortcuts import render

from announcements.audience import count_now, recipients_by_name

from ..login_required import login_required
from .announcements import _visible_announcement
from .scoping import int_param

# Conversations on a page; "Next" continues (keyset on name and id).
PER_PAGE = 100


@login_required
def recipients(request, pk: int):
    announcement = _visible_announcement(request.user, pk)
    after = int_param(request, "after")
    rows, next_after = recipients_by_name(announcement, after, PER_PAGE)
    return render(
        request,
        "console/announcements/recipients.html",
        {
            "announcement": announcement,
            "rows": rows,
            "next_after": next_after,
            "first_page": after is None,
            "recipient_count": count_now(announcement),
        },
    )
