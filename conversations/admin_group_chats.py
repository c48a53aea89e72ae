"""Creating a group chat from the bot admin (a WeCom app's appchat): an action with a form.

The same service as `manage.py create_app_chat` and the console's setup page
(conversations/group_chats.py), which creates the chat, makes it a group
conversation and records it in the audit log. Bot admins only: a chat is
created in the company's WeCom under the app's name.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from botadmin import reasons
from botadmin.reasons import translate
from connectors.registry import CONNECTORS

from .group_chats import GroupChatError, GroupChatForm
from .roles import is_bot_admin


class GroupChatBotAdminMixin:
    """Added to BotAdmin: the "create a group chat" action and its form page."""

    @admin.action(
        description=gettext_lazy("Create a group chat through the selected bot"),
        permissions=["administer"],
    )
    def create_group_chat(self, request, queryset):
        bots = list(queryset[:2])
        if len(bots) != 1:
            messages.error(request, _("Select one bot to create a group chat through."))
            return None
        bot = bots[0]
        connector = CONNECTORS.get(bot.connector)
        if connector is None or not connector.creates_groups:
            messages.error(
                request,
                _("%(bot)s cannot create group chats: its connector has none.") % {"bot": bot.name},
            )
            return None
        if not is_bot_admin(request.user, bot):
            messages.error(
                request, _("Only a bot admin of %(bot)s may create its chats.") % {"bot": bot.name}
            )
            return None
        form = GroupChatForm(request.POST if "create" in request.POST else None)
        if form.is_valid():
            try:
                chat = form.create(bot, request.user)
            except GroupChatError as error:
                form.add_error(
                    None,
                    _("The chat was not created: %(reason)s")
                    % {"reason": translate(reasons.of(error))},
                )
            else:
                messages.success(
                    request,
                    form.done(chat),
                )
                return None  # back to the list
        context = {
            **self.admin_site.each_context(request),
            "title": _("Create a group chat through %(bot)s") % {"bot": bot.name},
            "bot": bot,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/conversations/bot/create_group_chat.html", context)
