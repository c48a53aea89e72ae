from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import pgettext_lazy

from conversations.models import Conversation
from conversations.roles import is_bot_admin, may_create_bots
from conversations.services import bots_visible_to, named
from deletions import services as deletion_services

from ..bot_contacts import empty_reason, none_of_this_kind
from ..conversation_list import (
    ConversationsByActivity,
    attach_newest_messages,
    conversations_of_page,
    most_recently_active_bot,
)
from ..deletion_state import deletion_context
from ..login_required import login_required
from ..paging import numbered_page
from .app_setup import setup_url
from .scoping import visible_bot_or_404

PER_PAGE = 50
# Plural, unlike the kinds' names ("Group 3" read as one group): 群聊 / 用户 as elsewhere.
TAB_LABELS = {
    Conversation.Kind.GROUP: pgettext_lazy("conversation list tab", "Groups"),
    Conversation.Kind.USER: pgettext_lazy("conversation list tab", "Users"),
}


@login_required
def index(request):
    """The console's home: the conversations of the user's most recently active bot
    (or the empty state)."""
    bot = most_recently_active_bot(request.user)
    if bot is None:
        return render(
            request, "console/no_bots.html", {"may_create": may_create_bots(request.user)}
        )
    return redirect("console:conversations", bot_id=bot.pk)


@login_required
def conversation_list(request, bot_id: int):
    bot = visible_bot_or_404(request.user, bot_id)
    name = request.GET.get("q", "").replace("\x00", "")  # no name holds one
    # `kind` is a tab chosen (its link); `tab` the one a search was typed on, left for a
    # tab with matches when it has none: a name looked for among the groups may be a user's.
    kind = request.GET.get("kind")
    chosen = kind in Conversation.Kind.values
    if not chosen:
        kind = request.GET.get("tab")
        if kind not in Conversation.Kind.values:
            kind = Conversation.Kind.GROUP
    # The other tab keeps the search, and each tab counts what it finds.
    tabs = [
        {
            "kind": value,
            "label": label,
            "url": reverse("console:conversations", args=[bot.pk])
            + "?"
            + urlencode({"kind": value, "q": name} if name else {"kind": value}),
            "count": named(Conversation.objects.filter(bot=bot, kind=value), name).count(),
        }
        for value, label in TAB_LABELS.items()
    ]
    with_matches = [tab for tab in tabs if tab["count"]]
    switched_from = ""
    if name and not chosen and with_matches and kind not in [t["kind"] for t in with_matches]:
        switched_from, kind = kind, with_matches[0]["kind"]
    page = numbered_page(
        ConversationsByActivity(bot, kind, name), PER_PAGE, request.GET.get("page")
    )
    page.object_list = conversations_of_page(page.object_list)
    attach_newest_messages(page.object_list)
    deletions = deletion_services.deletions_of(bot)
    for conversation in page.object_list:
        conversation.deletion_job = deletions.conversations.get(conversation.pk)
    return render(
        request,
        "console/conversation_list.html",
        {
            "bot": bot,
            "bots": bots_visible_to(request.user).order_by("name"),
            "kind": kind,
            "q": name,
            "page": page,
            "tabs": tabs,
            "switched_from": switched_from,
            # An empty tab of a search points to the one with matches.
            "other_tab": next((t for t in with_matches if t["kind"] != kind), None),
            "setup_url": setup_url(bot) if is_bot_admin(request.user, bot) else "",
            "empty_reason": "" if page.object_list or name else empty_reason(bot),
            "none_of_this_kind": "" if page.object_list or name else none_of_this_kind(bot),
            **deletion_context(bot, deletions=deletions),
        },
    )
