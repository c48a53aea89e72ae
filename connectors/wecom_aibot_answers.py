"""What WeCom's refusal of an AI bot's push means, in words an operator acts on
(shared/spec/wecom-aibot.md; docs/connectors.md section 6).

WeCom's AI bot pushes (`aibot_send_msg`) only to a chat that has talked to it: a member
who sent it a message, a group chat it is in and was @-mentioned in. What WeCom answers
a push to any other chat is documented nowhere (integrations report the rule, none the
errcode), so no errcode is assumed: a push WeCom refuses with an errcode whose meaning is
not known (`KNOWN_ERRCODES`) is worded with that likely cause, WeCom's errcode and errmsg
kept verbatim in it (and the attempt keeps the errcode) for whoever reads further. A
reply answers a chat that just talked to the bot, so a refused reply keeps WeCom's words
alone, as does a push refused with an errcode that says something else.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

from .base import CARD_TASK_ID_ERRCODE
from .wecom_answers import AIBOT

PUSH_COMMAND = "aibot_send_msg"
# Errcodes a push is refused with that say why (wecom-aibot.md, WeCom's global table):
# tried again (busy, too fast, an unknown media_id), msgtype not allowed (40008), an
# invalid or empty field (40035, 40058, 44004), a card's task_id used before (42014),
# and a reply's req_id gone (846605, 846608; a reply, never a push, but harmless here).
KNOWN_ERRCODES = AIBOT.retry | {40008, 40035, 40058, 44004, CARD_TASK_ID_ERRCODE, 846605, 846608}

NOT_TALKED_TO = gettext_noop(
    "WeCom refused to push to this chat (%(answer)s): most likely the member has not "
    "sent the bot a message yet (WeCom's AI bot pushes only to chats that talked to it "
    "first). Ask them to message the bot, then send again."
)
NOT_IN_GROUP = gettext_noop(
    "WeCom refused to push to this group chat (%(answer)s): most likely the bot is not "
    "in the group chat, or nobody there has @-mentioned it yet (WeCom's AI bot pushes "
    "only to chats that talked to it first). Add the bot to the group chat and @-mention "
    "it once, then send again."
)


def push_refusal(via: str, errcode: int, errmsg: str, group: bool) -> Reason | None:
    """Why WeCom refused the frame `via` (the command the gateway wrote) with `errcode`
    (≠ 0) and `errmsg`, for a push to a group chat (`group`) or a member; None when
    WeCom's own words say it (a reply, a known errcode)."""
    if via != PUSH_COMMAND or errcode in KNOWN_ERRCODES:
        return None
    answer = f"{errcode} {errmsg}".strip()
    return Reason(NOT_IN_GROUP if group else NOT_TALKED_TO, answer=answer)
