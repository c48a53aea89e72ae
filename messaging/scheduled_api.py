"""`POST /api/messages/<msgid>/cancel?secret=…`: cancel a message scheduled through /api/send."""

from django.http import HttpRequest
from ninja import Router

from botadmin.errors import Err
from conversations.services import bot_for_secret

from .scheduled import cancel_scheduled_message

router = Router(tags=["messages"])


@router.post("/{msgid}/cancel", summary="Cancel a scheduled message")
def cancel_message(request: HttpRequest, msgid: str, secret: str = ""):
    bot = bot_for_secret(secret)
    if bot is None:
        raise Err.INVALID_SECRET.error()
    message = cancel_scheduled_message(bot, msgid)
    return {"errcode": 0, "errmsg": "ok", "msgid": message.msgid, "status": message.status}
