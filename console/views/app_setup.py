"""The setup page of a bot whose connector receives WeCom callbacks (a self-built app).

What an operator pastes into WeCom's 接收消息 page (callback URL, token,
EncodingAESKey), whether WeCom's last URL check and last callback got
through, a test message to a member, app chats, and — when WeCom refused this
server's IP (60020) — the IP to add to 企业可信IP. Only bot admins see it;
the token and key are secrets, masked until revealed (console:bot_reveal, audited).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from botadmin import reasons
from botadmin.errors import ApiError
from botadmin.forms import SentOncePerPage
from botadmin.reasons import translate
from connectors.registry import connector_class
from connectors.setup_checklist import public_url
from conversations.group_chats import GroupChatError, GroupChatForm
from conversations.models import Conversation
from conversations.roles import is_bot_admin
from messaging.models import Message
from messaging.sending import accept_outbound

from ..login_required import login_required
from .scoping import visible_bot_or_404


class TestMessageForm(SentOncePerPage):
    userid = forms.CharField(label=gettext_lazy("Your WeCom user ID"), max_length=255)


def _setup_bot(request, bot_id: int):
    bot = visible_bot_or_404(request.user, bot_id)
    connector = connector_class(bot.connector)
    if not getattr(connector, "setup_page", False):
        raise Http404
    if not is_bot_admin(request.user, bot):
        raise PermissionDenied
    return bot, connector


@login_required
def app_setup(request, bot_id: int):
    bot, connector = _setup_bot(request, bot_id)
    test_form, chat_form = TestMessageForm(), GroupChatForm()
    if request.method == "POST":
        if request.POST.get("action") == "test":
            test_form = TestMessageForm(request.POST)
            if test_form.is_valid() and _send_test(request, bot, test_form):
                return redirect(request.path)
        elif request.POST.get("action") == "chat":
            chat_form = GroupChatForm(request.POST)
            if chat_form.is_valid() and _create_chat(request, bot, chat_form):
                return redirect(request.path)
    values = bot.connector_settings or {}
    status = connector.setup_status(bot)
    return render(
        request,
        "console/app_setup.html",
        {
            "bot": bot,
            "is_bot_admin": True,  # _setup_bot let no one else in
            "callback_url": public_url(connector.callback_path(bot)),
            "token": values.get("callback_token", ""),
            "key": values.get("encoding_aes_key", ""),
            "corp_id": values.get("corp_id", ""),
            "agent_id": values.get("agent_id", ""),
            "url_check": status.get("url_check"),
            "last_callback": status.get("callback"),
            "trusted_ip_hint": bot.paused_reason if "60020" in bot.paused_reason else "",
            "test_form": test_form,
            "chat_form": chat_form,
            "chats": bot.conversations.filter(kind=Conversation.Kind.GROUP).order_by(
                "name_sort_key", "pk"
            ),
        },
    )


def _send_test(request, bot, form: TestMessageForm) -> bool:
    userid = form.cleaned_data["userid"]
    body = {
        "msgtype": "text",
        "text": {"content": _("botadmin test message: the app can reach you.")},
    }
    try:
        accept_outbound(
            bot=bot,
            conversation_id=userid,
            body=body,
            source=Message.Source.CONSOLE,
            created_by=request.user,
            idempotency_key=form.idempotency_key("test-message"),
        )
    except ApiError as error:
        messages.error(request, _("Not sent: %(errmsg)s") % {"errmsg": error.errmsg})
        return False
    messages.success(request, _("Test message queued for %(user)s.") % {"user": userid})
    return True


def _create_chat(request, bot, form: GroupChatForm) -> bool:
    try:
        chat = form.create(bot, request.user)
    except GroupChatError as error:
        messages.error(
            request,
            _("The chat was not created: %(reason)s") % {"reason": translate(reasons.of(error))},
        )
        return False
    messages.success(
        request,
        form.done(chat),
    )
    return True


def setup_url(bot) -> str:
    """The setup page of the bot, or "" when its connector has none."""
    if not getattr(connector_class(bot.connector), "setup_page", False):
        return ""
    return reverse("console:app_setup", args=[bot.pk])
