"""Helpers for the gateway's tests: a database that cannot take messages, a send posted
to the gateway as the delivery worker posts it."""

import threading
from contextlib import contextmanager

from django.db import connection, transaction

from botadmin import http
from conversations import connections
from conversations.models import BotConnection
from messaging.models import Message

MESSAGES = connection.ops.quote_name(Message._meta.db_table)
MESSAGES_AWAY = connection.ops.quote_name("messaging_message_away")
CONNECTIONS = connection.ops.quote_name(BotConnection._meta.db_table)
CONNECTIONS_AWAY = connection.ops.quote_name("conversations_botconnection_away")


def rename(old: str, new: str, if_exists: bool = False) -> None:
    """Rename a table (from any thread: each has its own connection)."""
    with connection.cursor() as cursor:
        if not if_exists or old.strip('"`') in connection.introspection.table_names(cursor):
            cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")
    if threading.current_thread() is not threading.main_thread():
        connection.close()


@contextmanager
def table_away(table: str, away: str):
    """As during a migration or an outage: every query of `table` fails until the block ends."""
    rename(table, away)
    try:
        yield
    finally:
        rename(away, table, if_exists=True)


def messages_refused():
    """Every message insert fails until the block ends."""
    return table_away(MESSAGES, MESSAGES_AWAY)


def connection_states_refused():
    """Every read or write of the bots' connection states and leases fails until the block
    ends."""
    return table_away(CONNECTIONS, CONNECTIONS_AWAY)


@contextmanager
def messages_locked():
    """As behind a long transaction: every message insert waits until the block ends. On
    SQLite the transaction holds the database's write lock (botadmin opens it IMMEDIATE), so
    a database cache waits too."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {MESSAGES} IN EXCLUSIVE MODE")
        yield


@contextmanager
def connection_states_locked():
    """As behind a long transaction: every write of the bots' connection states and leases
    waits until the block ends (on SQLite, every write: see `messages_locked`)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {CONNECTIONS} IN EXCLUSIVE MODE")
        yield


def post_to_gateway(
    bot, body: dict, *, authorization: str | None = "", **request_fields
) -> http.HttpResponse:
    """POST /send to the gateway holding `bot`, as connectors/wecom_aibot.py does: to
    group wrGroupA unless `request_fields` say otherwise (`chatid`, `reply_to`, …), with the
    lease's token unless `authorization` says otherwise (None: no header)."""
    connection = connections.live(bot)
    request = {"bot_id": bot.pk, "message_id": "m1", "reply_to": "", "chatid": "wrGroupA",
               "chat_type": "group", "body": body, **request_fields}  # fmt: skip
    if authorization == "":
        authorization = f"Bearer {connection.endpoint_token}"
    return http.request(
        "POST",
        connection.endpoint.rstrip("/") + "/send",
        json=request,
        headers={"Authorization": authorization} if authorization is not None else {},
        allow_private=True,
    )
