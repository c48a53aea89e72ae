"""Group chats botadmin creates itself (a WeCom app's `appchat`): created, audited, usable at once.

WeCom lists no app chats: the ones botadmin created are the app's groups, so
each becomes a group conversation the moment it exists (the console, /api/groups
and /api/send see it before its first message).

A form posted twice (a double click, a reload) creates one chat: when the person gives
no chatid, the page's id (SentOncePerPage) makes one, so the second post asks for the
same chatid and WeCom's "already exists" means "created by the first post".
"""

from __future__ import annotations

import hashlib

from django import forms
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from audit.services import record_action
from botadmin import reasons
from botadmin.forms import SentOncePerPage
from botadmin.reasons import Reason
from connectors.base import ChatIdTaken, ConnectorError
from connectors.registry import connector_for

from .active_counts import forget_active_counts
from .models import Bot, Conversation

MEMBERS_MIN, MEMBERS_MAX = 2, 2000


class GroupChatError(Exception):
    pass


class GroupChatForm(SentOncePerPage):
    """What a person gives for a new chat (the console's setup page, the admin action)."""

    name = forms.CharField(label=_("Chat name"), max_length=50)
    owner = forms.CharField(label=_("Owner (user ID)"), max_length=64)
    members = forms.CharField(label=_("Members (user IDs, comma-separated)"), widget=forms.Textarea)

    def create(self, bot: Bot, actor) -> Conversation:
        """The chat from the valid form's data; raises GroupChatError."""
        data = self.cleaned_data
        members = data["members"].replace("\n", ",").split(",")
        self.created_now = True
        chatid = page_chatid(bot, data["submission"])
        return create_group_chat(
            bot,
            name=data["name"],
            owner=data["owner"],
            members=members,
            actor=actor,
            chatid=chatid,
            once=self,
        )

    def done(self, chat: Conversation) -> str:
        """What the person is told once `create` returned `chat`."""
        if self.created_now:
            text = gettext("Chat %(name)s created; it shows in WeCom after its first message.")
        else:
            text = gettext("Chat %(name)s was already created from this page: it was created once.")
        return text % {"name": chat.name}


def page_chatid(bot: Bot, submission: str) -> str:
    """The chatid a page posted twice asks for both times ("" for a post from elsewhere):
    32 letters and digits, as appchat/create allows."""
    if not submission:
        return ""
    return hashlib.sha256(f"group-chat:{bot.pk}:{submission}".encode()).hexdigest()[:32]


def create_group_chat(
    bot: Bot,
    *,
    name: str,
    owner: str,
    members: list[str],
    actor=None,
    chatid: str = "",
    once: GroupChatForm | None = None,
) -> Conversation:
    """Create the chat through the bot's connector and record it; raises GroupChatError.

    `once`: the chatid is the page's (page_chatid), so a chat already recorded or known
    to WeCom under it was created by an earlier post of that page; `once.created_now`
    tells which."""
    connector = connector_for(bot)
    if not connector.creates_groups:
        cannot = gettext_noop("%(connector)s cannot create group chats")
        raise GroupChatError(Reason(cannot, connector=reasons.label(connector.label)))
    members = list(dict.fromkeys(m.strip() for m in members if m.strip()))
    if owner and owner not in members:
        members.insert(0, owner)
    if not MEMBERS_MIN <= len(members) <= MEMBERS_MAX:
        needs = gettext_noop("a group chat needs %(min)s to %(max)s members")
        raise GroupChatError(Reason(needs, min=MEMBERS_MIN, max=MEMBERS_MAX))
    if once and chatid:
        recorded = Conversation.objects.filter(bot=bot, conversation_id=chatid).first()
        if recorded is not None:
            once.created_now = False
            return recorded
    try:
        created_id = connector.create_group(name, owner, members, chatid)
    except ChatIdTaken as error:
        if not once:
            raise GroupChatError(reasons.of(error)) from None
        once.created_now, created_id = False, chatid  # recorded below if it is not yet
    except ConnectorError as error:
        raise GroupChatError(reasons.of(error)) from None
    now = timezone.now()
    with transaction.atomic():
        conversation, _created = Conversation.objects.update_or_create(
            bot=bot,
            conversation_id=created_id,
            defaults={
                "kind": Conversation.Kind.GROUP,
                "name": name[:255],
                "member_count": len(members),
                "extra": {"owner": owner, "created_by_botadmin": True},
                "is_active": True,
                "last_synced_at": now,
            },
        )
        forget_active_counts(bot)
        if once and not once.created_now:
            return conversation  # the post WeCom created it for audits it
        record_action(
            actor,
            "group_chat.create",
            bot=bot,
            target=conversation,
            summary=f"Group chat {name!r} created with {len(members)} members.",
            details={"chatid": created_id, "owner": owner, "members": members},
        )
    return conversation
