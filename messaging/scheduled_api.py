"""`POST /api/messages/<msgid>/cancel?secret=…`: cancel a message scheduled through /api/send."""

from django.http import HttpRequest
from ninja import Router

from .scheduled import cancel_scheduled_message

router = Router(tags=["messages"])


@router.post("/{msgid}/cancel", summary="Cancel a scheduled message")
def cancel_message(request: HttpRequest, msgid: str):
    message = cancel_scheduled_message(request.auth, msgid)
    return {"errcode": 0, "errmsg": "ok", "msgid": message.msgid, "status": message.status}
