"""The two baseline views bench/send.py measures `/api/send` against.

Mounted under /bench/send/ (see benchviews/__init__.py): they store whatever they
are sent, without a secret.

* `/bench/send/parse` parses the JSON body and answers: the cost of the server,
  Django and JSON alone.
* `/bench/send/insert?bot=ID&conversation=ID` also inserts one message row in one
  transaction: the cost floor of durable acceptance.
"""

import json

from django.db import transaction
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from botadmin.api import envelope
from messaging.models import Message


@csrf_exempt
@require_POST
def parse_and_answer(request):
    body = json.loads(request.body)
    return envelope(0, "ok", {"msgtype": body.get("msgtype")})


@csrf_exempt
@require_POST
def parse_and_insert(request):
    body = json.loads(request.body)
    with transaction.atomic():
        message = Message.objects.create(
            bot_id=int(request.GET["bot"]),
            conversation_id=int(request.GET["conversation"]),
            direction=Message.Direction.OUT,
            msgtype=body["msgtype"],
            body=body,
            status=Message.Status.QUEUED,
            source=Message.Source.API,
        )
    return envelope(0, "ok", {"msgid": message.msgid})


urlpatterns = [
    path("parse", parse_and_answer),
    path("insert", parse_and_insert),
]
