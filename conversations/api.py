"""`GET /api/users` and `GET /api/groups`: the seed's section 2.

Each answers the bot's conversations of one kind, sorted by name, as
`{"errcode": 0, "errmsg": "ok", "data": [{"name", "conversation_id", …}]}`
(docs/api-lists.md says why). The list is one query on the
`conv_list_idx` index, read as tuples and written as JSON directly: the
pydantic schemas below describe the answer in /api/openapi.json but are not
run per row, so 50,000 groups stay fast.
"""

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from botadmin.api import COMPACT_JSON, answers, given_twice_differently
from botadmin.errors import Err

from .models import Bot, Conversation

router = Router(tags=["contacts"])

Q_DESCRIPTION = "Only conversations whose name contains this text (case-insensitive)."
INACTIVE_DESCRIPTION = (
    "1: also list conversations a sync no longer sees (left groups, deleted contacts)."
)


class User(Schema):
    name: str = Field(..., examples=["张伟"])
    conversation_id: str = Field(..., examples=["wmDemoUser0001"])
    avatar: str = Field("", description="Avatar URL, empty when unknown.")
    is_active: bool = Field(True, description="False only with include_inactive=1.")


class Group(Schema):
    name: str = Field(..., examples=["销售部通知群"])
    conversation_id: str = Field(..., examples=["wrDemoGroup0001"])
    avatar: str = Field("", description="Avatar URL, empty when unknown.")
    member_count: int | None = Field(None, description="Members, when the agent says.")
    is_active: bool = Field(True, description="False only with include_inactive=1.")


class UserList(Schema):
    errcode: int = Field(0, examples=[0])
    errmsg: str = Field("ok", examples=["ok"])
    data: list[User]


class GroupList(Schema):
    errcode: int = Field(0, examples=[0])
    errmsg: str = Field("ok", examples=["ok"])
    data: list[Group]


def _list_route(
    path: str,
    kind: str,
    answer: type[Schema],
    *,
    summary: str,
    description: str,
    extra: tuple[str, ...] = (),
) -> None:
    """Route `GET <path>` to one handler: the bot's conversations of `kind`.

    Each item is name, conversation_id, avatar, the `extra` fields, is_active:
    the order of `answer`'s item schema.
    """
    keys = ("name", "conversation_id", "avatar", *extra, "is_active")
    fields = ("avatar_url", *extra, "is_active")  # after name and conversation_id

    @router.get(
        path,
        response=answers(answer, 403),
        summary=summary,
        description=description,
        operation_id=f"conversations_api_list_{path.lstrip('/')}",
    )
    def list_conversations(
        request: HttpRequest,
        q: str = Query("", max_length=100, description=Q_DESCRIPTION),
        include_inactive: bool = Query(False, description=INACTIVE_DESCRIPTION),
    ):
        # Two different values would otherwise be one silently (Django keeps the last).
        for name in ("q", "include_inactive"):
            if given_twice_differently(request, name):
                raise Err.INVALID_PARAMETER.error(
                    f"invalid parameter: {name} is given twice with different values"
                )
        if "\x00" in q:
            raise Err.INVALID_PARAMETER.error("invalid parameter: q contains a NUL character")
        rows = _rows(_active(request.auth), kind, q, include_inactive, *fields)
        # SQLite answers is_active as 0/1.
        return _answer(
            {**dict(zip(keys, row, strict=True)), "is_active": bool(row[-1])} for row in rows
        )


_list_route(
    "/users",
    Conversation.Kind.USER,
    UserList,
    summary="List the bot's users",
    description="The users this bot can message, sorted by name (seed section 2.1).",
)
_list_route(
    "/groups",
    Conversation.Kind.GROUP,
    GroupList,
    summary="List the bot's groups",
    description="The groups this bot can message, sorted by name (seed section 2.2).",
    extra=("member_count",),
)


def _active(bot: Bot) -> Bot:
    if not bot.is_active:
        raise Err.BOT_INACTIVE.error(f"bot {bot.name} is inactive")
    return bot


def _rows(bot: Bot, kind: str, q: str, include_inactive: bool, *fields: str):
    """One query on conv_list_idx (bot, kind, is_active, name), in the index's order."""
    # A conversation being deleted is no longer one to send to (/api/send refuses it).
    rows = Conversation.objects.filter(bot=bot, kind=kind, deletion_requested_at__isnull=True)
    if not include_inactive:
        # `is_active IN (true)`, not Django's bare `WHERE is_active`: SQLite uses an
        # index column only for a comparison, and would then sort every row by name.
        rows = rows.filter(is_active__in=[True])
    if q:
        rows = rows.filter(name__icontains=q)
    query = rows.order_by("name").values_list("name", "conversation_id", *fields).query
    # The ORM builds the query; the rows come straight from the cursor, because
    # Django's per-row conversion costs more than the query itself at 50,000 rows.
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _answer(items) -> HttpResponse:
    body = json.dumps({"errcode": 0, "errmsg": "ok", "data": list(items)}, **COMPACT_JSON)
    response = HttpResponse(body, content_type="application/json")
    response.errcode = 0  # counted by botadmin.metrics.ApiRequestsMiddleware, as envelope's
    return response
