"""The setup checklist of a self-built app bot (shared/spec/wecom-app.md; docs/bots.md,
"WeCom self-built app"): the IDs to copy from WeCom, the callback URL, Token and
EncodingAESKey to paste into the app's 接收消息 page, the trusted IP, the visible range,
and what botadmin saw of each: WeCom's URL check, the last callback, a 60020 pause, the
last contact sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from botadmin.reasons import translate

from .setup_checklist import (
    DONE,
    FAILED,
    TODO,
    LastTest,
    Step,
    Value,
    parse_time,
    public_url,
)
from .setup_checklist import public_url_problem as url_problem

if TYPE_CHECKING:
    from conversations.models import Bot

TRUSTED_IP_ERRCODE = "60020"


def steps(
    bot: Bot, callback_path: str, status: dict, last_test: LastTest | None = None
) -> list[Step]:
    """`callback_path`: where WeCom posts the bot's callbacks; `status`: the last URL check
    and callback (`wecom_app_callback.last_status`); `last_test`: the last "Test the
    connection", which is what checks the IDs with WeCom."""
    values = bot.connector_settings or {}
    return [
        _app_ids(bot, values, last_test),
        _callback(values, callback_path, status.get("url_check")),
        _first_message(status.get("callback")),
        _trusted_ip(bot),
        _contacts(bot),
    ]


def _app_ids(bot: Bot, values: dict, last_test: LastTest | None) -> Step:
    step = Step(
        key="app",
        title=_("Create the app in WeCom and fill in its IDs here"),
        where="管理后台 → 应用管理 → 应用 → 自建 → 创建应用；企业ID：我的企业 → 企业信息",
        docs="in-wecoms-admin-console",
        values=[
            Value(capfirst(_("corp ID")), str(values.get("corp_id") or "")),
            Value(capfirst(_("agent ID")), str(values.get("agent_id") or "")),
            Value(
                capfirst(_("app secret")), str(values.get("app_secret") or ""), secret="app_secret"
            ),
        ],
    )
    if not all(v.value for v in step.values):
        step.state = TODO
        step.status = _("Missing: fill in the corp ID, AgentId and Secret in the settings below.")
    elif bot.paused_at and TRUSTED_IP_ERRCODE not in bot.paused_reason:
        step.state, step.at = FAILED, bot.paused_at
        step.status = _("WeCom refused the app: %(reason)s") % {
            "reason": translate(bot.paused_reason)
        }
    elif last_test is None:
        step.state = TODO
        step.status = _("Filled in, not checked with WeCom yet: press “Test the connection”.")
    elif last_test.ok:
        step.state, step.at = DONE, last_test.at
        step.status = _("WeCom accepted them at the last connection test.")
    else:
        step.state, step.at = FAILED, last_test.at
        step.status = _("The last connection test failed: %(reason)s") % {
            "reason": translate(last_test.reason)
        }
    return step


def _callback(values: dict, callback_path: str, check: dict | None) -> Step:
    token, key = str(values.get("callback_token") or ""), str(values.get("encoding_aes_key") or "")
    paste = _("paste this one: WeCom's 随机获取 would make another")
    step = Step(
        key="callback",
        title=_("Paste the callback URL, Token and EncodingAESKey into the app and save"),
        where="应用 → 接收消息 → 设置API接收",
        docs="in-wecoms-admin-console",
        values=[
            Value(_("URL"), public_url(callback_path), copy=True),
            Value("Token", token, secret="callback_token", note=paste),
            Value("EncodingAESKey", key, secret="encoding_aes_key", note=paste),
        ],
        warning=url_problem(),
    )
    if not (token and key):
        step.state = TODO
        step.status = _("The bot has no Token or EncodingAESKey: enter them in the settings below.")
    elif check is None:
        step.state = TODO
        step.status = _("Not verified yet: saving the 接收消息 page makes WeCom check the URL.")
    elif check.get("ok"):
        step.state, step.at = DONE, parse_time(check.get("at"))
        step.status = _("WeCom verified the URL.")
    else:
        step.state, step.at = FAILED, parse_time(check.get("at"))
        step.status = _(
            "WeCom's URL check was refused (%(detail)s): paste the three values again."
        ) % {"detail": check.get("detail", "")}
    return step


def _first_message(callback: dict | None) -> Step:
    step = Step(
        key="received",
        title=_("Send the app a message in WeCom"),
        where="企业微信 → 工作台 → 应用",
        docs="receiving",
    )
    if callback is None:
        step.state = TODO
        step.status = _("No callback received yet.")
    elif callback.get("ok"):
        step.state, step.at = DONE, parse_time(callback.get("at"))
        step.status = _("Last callback received and stored.")
    else:
        step.state, step.at = FAILED, parse_time(callback.get("at"))
        step.status = _("The last callback was refused: %(detail)s") % {
            "detail": callback.get("detail", "")
        }
    return step


def _trusted_ip(bot: Bot) -> Step:
    step = Step(
        key="trusted_ip",
        title=_("Add the public IP botadmin calls WeCom from to the app's trusted IPs"),
        where="应用 → 企业可信IP",
        docs="in-wecoms-admin-console",
        status=_(
            "The IP to add is this server's public egress IP: the address its requests to "
            "WeCom come from, not always the one WeCom calls back (a NAT gateway may stand "
            "between). To find it, press “Test the connection”: while the IP is not "
            "trusted, WeCom refuses it (60020) and the result names it; or run "
            "curl https://ifconfig.me on this server. Behind an outbound proxy (the setting "
            "below), add the proxy's public IP instead. Apps created since 2022-06-20 are "
            "refused from any other IP."
        ),
    )
    if TRUSTED_IP_ERRCODE in bot.paused_reason:
        step.state, step.at = FAILED, bot.paused_at
        step.status = translate(bot.paused_reason)
    return step


def _contacts(bot: Bot) -> Step:
    step = Step(
        key="contacts",
        title=_("Set the app's visible range, then sync the contacts"),
        where="应用 → 可见范围",
        docs="contacts",
    )
    run = bot.sync_runs.first()
    if run is None:
        step.state, step.status = TODO, _("No contact sync yet: press “Sync now” below.")
    elif run.is_active:
        step.state, step.at = TODO, run.requested_at
        step.status = _("A contact sync is running.")
    elif run.outcome == run.Outcome.SUCCEEDED:
        step.state, step.at = DONE, run.finished_at
        users = bot.conversations.filter(kind="user", is_active=True).count()
        step.status = ngettext(
            "The last contact sync succeeded: %(n)s member in the visible range.",
            "The last contact sync succeeded: %(n)s members in the visible range.",
            users,
        ) % {"n": users}
    else:
        step.state, step.at = FAILED, run.finished_at
        step.status = _("The last contact sync failed: %(error)s") % {"error": translate(run.error)}
    return step
