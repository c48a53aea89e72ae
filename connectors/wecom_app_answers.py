"""What WeCom's answers mean for a self-built app bot, in words operators act on
(shared/spec/wecom-app.md, "Errcodes to classify").

A send's answer (`classify`): WeCom's errcodes as every WeCom connector reads them
(`wecom_answers.APP`), recipients WeCom did not reach (`invaliduser`, `unlicenseduser`),
and the errcodes that stop every send until an operator acts (trusted IP, missing
permission, a wrong AgentId, a disabled app: `account_problem`), with which the bot
pauses. A refused access token (`token_refusal`) and a refused read call
(`call_refusal`) are worded alike; a read call (the connection test, the contact sync,
the fetch of a received file) refused for a reason that stops every send carries it as
its `account_problem` (`read_failure`, `settings_problem`), which the bot's pages show
until a call succeeds or the settings change (conversations/refusals.py). The words say
what to fix and where, not to resume: the pause banner they are shown in says that sending
is paused and offers Resume sending (console/_paused_banner.html).
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_noop

from botadmin import http
from botadmin.reasons import Reason

from . import wecom_app_api as api
from .base import ConnectorError, Outcome, SendResult
from .wecom_answers import APP, unexpected_answer, without_errcode

# appchat/get of a chat WeCom no longer knows.
APPCHAT_GONE_ERRCODE = 86003
# appchat/create given a chatid that already names a chat (WeCom's global errcodes:
# 86215 会话ID已经存在; shared/spec/wecom-app.md gives no errcode for it).
CHATID_EXISTS_ERRCODE = 86215
PERMISSION_ERRCODES = api.PERMISSION_ERRCODES
# message/send names the recipients it did not reach: unknown or outside the app's
# visible range, or without an account license (接口许可).
UNREACHED_FIELDS = ("invaliduser", "unlicenseduser")
NOBODY_REACHED = gettext_noop(
    "WeCom reached no recipient (%(answer)s): the member has left, is outside the app's "
    "visible range or has no account license"
)
TRUSTED_IP_ERRCODE = 60020
# The bot's AgentId is not the app whose secret it has (or no app at all).
AGENT_ID_ERRCODE = 40056
# The app is disabled (停用) in WeCom's admin console: it may call no API until enabled.
APP_DISABLED_ERRCODE = 50003
# gettoken answers meaning the settings themselves are wrong (WeCom's global errcodes:
# invalid secret, invalid corp ID, secret bound to other IPs, no corp ID, no secret). Any
# other errcode says nothing about them: the send is tried again, showing it.
CREDENTIAL_ERRCODES = frozenset({40001, 40013, 40091, 41002, 41004})
NO_TOKEN = gettext_noop("WeCom gives the app no access token: %(detail)s")
# The reasons as they read before they named the console's Resume sending: pauses and
# refusals stored then keep translating. Their English stays as it was stored.
EARLIER_WORDINGS = (
    gettext_noop(
        "WeCom refuses the corp ID or app secret (%(detail)s): correct the bot's settings, "
        "then resume it."
    ),
    gettext_noop(
        "WeCom refuses the app: %(what)s. Grant it in WeCom's admin console, then resume the bot."
    ),
    gettext_noop(
        "botadmin does not call WeCom for the bot (%(reason)s): correct the bot's settings, "
        "then resume it."
    ),
    gettext_noop(
        "WeCom refuses agent ID %(agent)s (40056 %(errmsg)s): it is not the AgentId of the app "
        "whose secret the bot has. Correct the bot's settings, then resume it."
    ),
    gettext_noop(
        "WeCom says the app (agent %(agent)s) is disabled (%(answer)s): enable it (启用) in "
        "WeCom's admin console, then resume the bot."
    ),
    gettext_noop(
        "WeCom refuses calls from %(ip)s (60020): add it to the app's 企业可信IP (trusted IPs) in "
        "WeCom's admin console, then resume the bot."
    ),
)
# As they read while they named the console's Resume sending, which the pause banner they
# are shown in offers already: pauses and refusals stored then keep translating.
RESUME_WORDINGS = (
    gettext_noop(
        "WeCom refuses the corp ID or app secret (%(detail)s): correct them in the bot's "
        "connector settings, then, if its sending is paused, press Resume sending on "
        "the bot's page."
    ),
    gettext_noop(
        "WeCom refuses the app: %(what)s. Grant it in WeCom's admin console, then press "
        "Resume sending on the bot's page."
    ),
    gettext_noop(
        "botadmin does not call WeCom for the bot (%(reason)s): correct the bot's "
        "connector settings, then, if its sending is paused, press Resume sending on the "
        "bot's page."
    ),
    gettext_noop(
        "WeCom refuses agent ID %(agent)s (40056 %(errmsg)s): it is not the AgentId of the "
        "app whose secret the bot has. Correct it in the bot's connector settings, then, if "
        "its sending is paused, press Resume sending on the bot's page."
    ),
    gettext_noop(
        "WeCom says the app (agent %(agent)s) is disabled (%(answer)s): enable it (启用) "
        "in WeCom's admin console, then, if the bot's sending is paused, press Resume "
        "sending on the bot's page."
    ),
    gettext_noop(
        "WeCom refuses calls from %(ip)s (60020): add it to the app's 企业可信IP (trusted IPs) "
        "in WeCom's admin console, then, if the bot's sending is paused, press Resume "
        "sending on the bot's page."
    ),
)
_IP_RE = re.compile(r"from ip:\s*([0-9a-fA-F:.]+)")
# Stored in pause reasons (botadmin.reasons), translated where they are read.
PERMISSIONS = {
    48002: gettext_noop("the app may not call this API (48002: API forbidden)"),
    60011: gettext_noop(
        "the app has no privilege for this member or chat (60011): its visible range "
        "must include them (app chats need the root department)"
    ),
}


def classify(
    response: http.HttpResponse, answer: dict | None, agent_id: int, touser: str = ""
) -> SendResult:
    """WeCom's answer to a call of the app (agent `agent_id`) to `touser`, if it names
    members (`wecom_answers`: what its errcodes mean); the ones that stop every send pause
    the bot (`account_problem`)."""
    if answer is None or "errcode" not in answer:
        return without_errcode(response)
    try:
        errcode = int(answer["errcode"])
    except (TypeError, ValueError):
        return SendResult(Outcome.UNCERTAIN, unexpected_answer(response))
    errmsg = str(answer.get("errmsg", ""))
    if errcode != 0:
        result = APP.refused(errcode, errmsg, http_status=response.status)
        if problem := account_problem(errcode, errmsg, agent_id):
            result.outcome = Outcome.RETRY  # nothing was sent; it waits for the resume
            result.account_problem = problem
        return result
    result = SendResult(Outcome.SENT, errmsg, http_status=response.status, errcode=errcode)
    result.upstream_msgid = str(answer.get("msgid") or "")
    unreached = _unreached(answer)
    # Some recipients were unknown: the others got it. The attempt keeps who.
    result.detail = "; ".join(f"{field}: {ids}" for field, ids in unreached.items())
    if touser and _nobody_reached(touser, unreached):
        # WeCom may answer 0 when its only recipient is invalid or unlicensed.
        result.outcome = Outcome.FAILED
        result.detail = Reason(NOBODY_REACHED, answer=result.detail)
    return result


def media_errcode(answer: dict | None) -> int:
    """media/get's errcode, 0 for bytes (a JSON file without an errcode is bytes too)."""
    try:
        return int((answer or {}).get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _unreached(answer: dict) -> dict[str, str]:
    """WeCom's `invaliduser` / `unlicenseduser` ("a|b"), where the answer names someone."""
    unreached = {}
    for field in UNREACHED_FIELDS:
        value = answer.get(field)
        ids = "|".join(map(str, value)) if isinstance(value, list) else str(value or "")
        if ids.strip("|"):
            unreached[field] = ids
    return unreached


def _nobody_reached(touser: str, unreached: dict[str, str]) -> bool:
    """Whether every member of `touser` is named unreached (WeCom lowercases the ids)."""
    if touser == "@all" or not unreached:
        return False
    named = {user.strip().lower() for ids in unreached.values() for user in ids.split("|")}
    return all(user.strip().lower() in named for user in touser.split("|"))


def token_refusal(error: api.TokenError, agent_id: int) -> Reason | None:
    """Why WeCom gives the app no access token, worded for the operator; None when
    asking again may help (WeCom busy or unreachable)."""
    if error.refused:
        return refused_connection(error.detail)
    if not error.reached:
        return None
    if error.errcode == TRUSTED_IP_ERRCODE:
        return trusted_ip_reason(error.detail)
    if error.errcode == APP_DISABLED_ERRCODE:
        return app_disabled_reason(agent_id, error.detail)
    if error.errcode in CREDENTIAL_ERRCODES:
        return Reason(
            gettext_noop(
                "WeCom refuses the corp ID or app secret (%(detail)s): correct them in the bot's "
                "connector settings."
            ),
            detail=error.detail,
        )
    return None


def token_failure(error: api.TokenError, agent_id: int) -> str:
    """What a message waiting for a token, or a read call, says about it: the refusal worded
    for the operator, or WeCom's answer with its errcode (`TokenError.detail`) when asking
    again may help: WeCom busy or unreachable, or an errcode the spec does not name as the
    settings' (nothing says they are wrong, so the bot is not shown refused for it)."""
    refused = token_refusal(error, agent_id)
    if refused is not None:
        return refused
    if error.reached and error.errcode is not None:
        return Reason(NO_TOKEN, detail=error.detail)
    return error.detail


def read_failure(error: api.TokenError, agent_id: int) -> ConnectorError:
    """A read call's error for a refused access token: WeCom's refusal is its
    `account_problem` too, as it pauses a send; not botadmin's own refusal of the bot's
    proxy, nor WeCom busy or unreachable (asking again may help)."""
    refused = token_refusal(error, agent_id)
    problem = refused if refused is not None and not error.refused else ""
    return ConnectorError(token_failure(error, agent_id), account_problem=problem)


def settings_problem(errcode: int, errmsg: str, agent_id: int) -> Reason | None:
    """Why no call of the app's, sends included, can work until an operator acts, when a
    read call's `errcode` says so: a wrong AgentId, a disabled app, an untrusted IP. A
    missing permission (48002, 60011) is not: it may concern that call alone."""
    if errcode in PERMISSION_ERRCODES:
        return None
    return account_problem(errcode, errmsg, agent_id)


def account_problem(errcode: int, errmsg: str, agent_id: int) -> Reason | None:
    """Why no send of the app's can work until an operator acts, when WeCom's `errcode`
    says so (the bot pauses with it); None for an errcode about this message only."""
    if errcode == TRUSTED_IP_ERRCODE:
        return trusted_ip_reason(errmsg)
    if errcode == AGENT_ID_ERRCODE:  # no message can go out until the settings change
        return agent_id_reason(agent_id, errmsg)
    if errcode == APP_DISABLED_ERRCODE:
        return app_disabled_reason(agent_id, f"{errcode} {errmsg}")
    if errcode in PERMISSION_ERRCODES:
        return Reason(
            gettext_noop("WeCom refuses the app: %(what)s. Grant it in WeCom's admin console."),
            what=Reason(PERMISSIONS[errcode]),
        )
    return None


def call_refusal(path: str, errcode: int, errmsg: str, agent_id: int) -> str:
    """A read call refused (errcode ≠ 0), in words: the settings' own problems and a
    missing permission as a send words them, any other as WeCom's answer."""
    if errcode == AGENT_ID_ERRCODE:
        return agent_id_reason(agent_id, errmsg)
    if errcode == APP_DISABLED_ERRCODE:
        return app_disabled_reason(agent_id, f"{errcode} {errmsg}")
    if errcode == TRUSTED_IP_ERRCODE:
        return trusted_ip_reason(errmsg)
    if errcode in PERMISSION_ERRCODES:
        return Reason(
            gettext_noop(
                "WeCom refuses the app %(call)s: %(what)s. Grant it in WeCom's admin console, then try again."
            ),
            call=path,
            what=Reason(PERMISSIONS[errcode]),
        )
    return f"{path}: {errcode} {errmsg}"[:500]


def refused_connection(reason: str) -> Reason:
    """Why botadmin does not connect for the app as the bot is set up (its outbound proxy
    is refused), worded for the operator."""
    return Reason(
        gettext_noop(
            "botadmin does not call WeCom for the bot (%(reason)s): correct the bot's "
            "connector settings."
        ),
        reason=reason,
    )


def agent_id_reason(agent_id: int, errmsg: str) -> Reason:
    return Reason(
        gettext_noop(
            "WeCom refuses agent ID %(agent)s (40056 %(errmsg)s): it is not the AgentId of the "
            "app whose secret the bot has. Correct it in the bot's connector settings."
        ),
        agent=agent_id,
        errmsg=errmsg,
    )


def app_disabled_reason(agent_id: int, answer: str) -> Reason:
    """`answer`: WeCom's errcode and errmsg as it gave them."""
    return Reason(
        gettext_noop(
            "WeCom says the app (agent %(agent)s) is disabled (%(answer)s): enable it (启用) "
            "in WeCom's admin console."
        ),
        agent=agent_id,
        answer=answer,
    )


def trusted_ip_reason(errmsg: str) -> Reason:
    match = _IP_RE.search(errmsg or "")
    ip = match.group(1) if match else Reason(gettext_noop("this server's outbound IP"))
    return Reason(
        gettext_noop(
            "WeCom refuses calls from %(ip)s (60020): add it to the app's 企业可信IP (trusted IPs) "
            "in WeCom's admin console."
        ),
        ip=ip,
    )
