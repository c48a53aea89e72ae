"""The setup checklist of an AI bot (shared/spec/wecom-aibot.md; docs/bots.md, "WeCom AI
bot"): create it in API mode with a long connection, copy its BotID and Secret here, give
it a visible range and groups, run the gateway, and what botadmin saw of each: the long
connection's state and why it failed (`aibot_failures`), the last message received.

The long connection needs no callback URL and no trusted IP: there is nothing to paste
into WeCom, and no contact list to sync (conversations appear as messages arrive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Max
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from botadmin.reasons import translate

from .setup_checklist import DONE, FAILED, TODO, Step, Value

if TYPE_CHECKING:
    from conversations.models import Bot


def steps(bot: Bot, bot_id: str, secret: str, ws_url: str) -> list[Step]:
    from conversations import connections

    state = connections.status(bot)
    return [
        _create(bot, bot_id, secret, ws_url, state),
        Step(
            key="scope",
            title=_("Set who may use the bot and add it to its groups"),
            where="智能机器人 → 可见范围；群聊 → 群设置 → 添加机器人",
            docs="in-wecoms-admin-console-1",
            status=_(
                "It receives direct messages and group messages that @-mention it, in the "
                "groups it was added to."
            ),
        ),
        _connection(state),
        _first_message(bot),
    ]


def _create(bot: Bot, bot_id: str, secret: str, ws_url: str, state: dict) -> Step:
    own_url = (bot.connector_settings or {}).get("ws_url")
    ws_note = "" if own_url else server_ws_url_note()
    step = Step(
        key="create",
        title=_("Create the AI bot in API mode with a long connection, and fill in its IDs here"),
        where="管理后台 → 安全与管理 → 管理工具 → 智能机器人 → 创建机器人 → API 模式 → 长连接",
        docs="in-wecoms-admin-console-1",
        values=[
            Value(capfirst(_("bot ID")), bot_id),
            Value(capfirst(_("bot secret")), secret, secret="bot_secret"),
            Value(capfirst(_("long connection URL")), ws_url, note=ws_note),
        ],
        warning=_(
            "Choose 长连接 (long connection), not 回调 URL (callback URL): the two exclude each "
            "other. A long connection needs no public URL and no trusted IP."
        ),
    )
    if not (bot_id and secret):
        step.state = TODO
        step.status = _("Missing: fill in the BotID and Secret in the settings below.")
    elif state["state"] == "refused":
        step.state, step.at = FAILED, state.get("last_error_at")
        step.status = _("WeCom refused the BotID or Secret: %(reason)s") % {
            "reason": translate(state.get("last_error") or "")
        }
    else:
        step.state = DONE
        step.status = _("Filled in.")
    return step


def server_ws_url_note() -> str:
    """Where the long connection's address comes from when the bot sets none."""
    return _("the server's WECOM_AIBOT_WS_URL")


def _connection(state: dict) -> Step:
    step = Step(
        key="connection",
        title=_("Run the gateway: it holds the bot's long connection"),
        where="manage.py aibot_gateway",
        docs="the-gateway",
    )
    error = translate(state.get("last_error") or "")
    if state["state"] == "connected":
        from conversations.models import gateway_process

        step.state, step.at = DONE, state.get("connected_since")
        holder = translate(gateway_process(state.get("holder", "")))
        step.status = _("Connected, held by %(holder)s.") % {"holder": holder}
    elif state["state"] == "taken_over":
        step.state, step.at = FAILED, state.get("taken_over_at")
        step.status = _(
            "Another client subscribed with this bot and took the connection over: stop it, "
            "then use the admin's Reconnect action."
        )
    elif state["state"] == "refused":
        step.state, step.at = FAILED, state.get("last_error_at")
        step.status = _("Stopped: WeCom refused the credentials.")
    elif state["held"]:  # connecting or reconnecting
        step.state, step.at = TODO, state.get("last_error_at")
        step.status = (
            _("Reconnecting after: %(error)s") % {"error": error} if error else _("Connecting…")
        )
    else:
        step.state, step.at = TODO, state.get("last_error_at")
        step.status = _(
            "No gateway holds this bot's connection: start manage.py aibot_gateway "
            "(make run starts it)."
        )
        if error:
            step.status += " " + _("Last error: %(error)s") % {"error": error}
    return step


def _first_message(bot: Bot) -> Step:
    step = Step(
        key="received",
        title=_("Message the bot in WeCom"),
        where="企业微信 → 智能机器人",
        docs="receiving-1",
    )
    last = bot.conversations.aggregate(last=Max("last_inbound_at"))["last"]
    if last is None:
        step.state = TODO
        step.status = _(
            "No message received yet. WeCom lists no contacts for an AI bot: its "
            "conversations appear as messages arrive."
        )
    else:
        step.state, step.at = DONE, last
        step.status = _("Last message received.")
    return step
