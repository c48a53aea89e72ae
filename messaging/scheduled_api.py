"""`POST /api/messages/<msgid>/cancel?secret=…`: cancel a message scheduled through /api/send."""

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from botadmin.api import answers, envelope

from .scheduled import cancel_scheduled_message

router = Router(tags=["messages"])


class Cancelled(Schema):
    errcode: Literal[0]
    errmsg: Literal["ok"]
    msgid: str
    status: str


@router.post(
    "/{msgid}/cancel", summary="Cancel a scheduled message", response=answers(Cancelled, 404, 409)
)
def cancel_message(request: HttpRequest, msgid: str):
    message = cancel_scheduled_message(request.auth, msgid)
    return envelope(0, "ok", {"msgid": message.msgid, "status": message.status})
