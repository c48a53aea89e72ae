"""Bots: creating them, finding them by secret, rotating secrets, scoping."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from botadmin.rows import LARGEST_ID, ModelColumns
from connectors.registry import connector_for

from .models import Bot, Conversation
from .secrets import generate_api_secret, is_valid_api_secret, secrets_match

_BOT = ModelColumns(Bot, "b")
_CONVERSATION = ModelColumns(Conversation, "c")
_OPERATORS_FIELD = Bot._meta.get_field("operators")
_OPERATORS = _OPERATORS_FIELD.remote_field.through._meta.db_table
_OPERATOR_BOT = _OPERATORS_FIELD.m2m_column_name()
_OPERATOR_USER = _OPERATORS_FIELD.m2m_reverse_name()
# Either the current secret, or the previous one within its grace period. Both
# columns are indexed; written as SQL because these run on every API request
# (see botadmin/rows.py for why).
_SECRET_MATCHES = (
    "(b.secret = %s OR (b.previous_secret = %s AND b.previous_secret_expires_at > %s))"
)


def bot_for_secret(secret: str | None) -> Bot | None:
    """The bot this API secret belongs to, or None.

    The database finds the candidate through the unique index; the final
    comparison is constant-time so the answer's timing does not depend on how
    much of the secret was right. A rotated-out secret works until its grace
    period ends.
    """
    if not secret or not is_valid_api_secret(secret):
        return None
    now = timezone.now()
    sql = (
        f"SELECT {_BOT.select_list(connection)} FROM {_BOT.table(connection)} "
        f"WHERE {_SECRET_MATCHES} LIMIT 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _secret_params(secret, now))
        rows = cursor.fetchall()
    for row in rows:
        bot = _BOT.instance(row, connection)
        if _secret_matches(bot, secret, now):
            return bot
    return None


def conversation_for_secret(secret: str | None, conversation_id: str) -> Conversation | None:
    """The conversation `conversation_id` of the bot this secret belongs to, bot included.

    One query for the send API's hot path; None when the secret or the
    conversation is wrong (ask `bot_for_secret` to tell which).
    """
    if not secret or not is_valid_api_secret(secret) or not conversation_id:
        return None
    now = timezone.now()
    sql = (
        f"SELECT {_CONVERSATION.select_list(connection)}, {_BOT.select_list(connection)} "
        f"FROM {_CONVERSATION.table(connection)} JOIN {_BOT.table(connection)} ON b.id = c.bot_id "
        f"WHERE c.conversation_id = %s AND {_SECRET_MATCHES} LIMIT 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [conversation_id, *_secret_params(secret, now)])
        rows = cursor.fetchall()
    split = len(_CONVERSATION)
    for row in rows:
        bot = _BOT.instance(row[split:], connection)
        if _secret_matches(bot, secret, now):
            conversation = _CONVERSATION.instance(row[:split], connection)
            conversation.bot = bot
            return conversation
    return None


def _secret_params(secret: str, now) -> list:
    return [secret, secret, connection.ops.adapt_datetimefield_value(now)]


def _secret_matches(bot: Bot, secret: str, now) -> bool:
    """Constant-time check of the current secret, or of the previous one within its grace."""
    if secrets_match(secret, bot.secret):
        return True
    return bool(
        bot.previous_secret_expires_at
        and bot.previous_secret_expires_at > now
        and secrets_match(secret, bot.previous_secret)
    )


def rotate_secret(bot: Bot, grace: timedelta | None = None, *, actor=None, via: str = "") -> Bot:
    """Issue a new API secret; the old one keeps working for `grace`.

    The rotation is recorded in the audit log with `actor` (None from the command line).
    """
    from audit.services import record_action

    if grace is None:
        grace = timedelta(hours=settings.BOTADMIN_SECRET_GRACE_HOURS)
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        bot.previous_secret = bot.secret if grace > timedelta(0) else ""
        bot.previous_secret_expires_at = timezone.now() + grace if grace > timedelta(0) else None
        bot.secret = generate_api_secret()
        bot.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )
        summary = f"Rotated the API secret (grace {grace.total_seconds() / 3600:g} h)"
        record_action(actor, "secret.rotate", bot=bot, target=bot, summary=summary + via + ".")
    return bot


def bots_visible_to(user) -> QuerySet[Bot]:
    """Superusers see every bot; staff operators only the bots they are assigned to."""
    if not user.is_authenticated or not user.is_active:
        return Bot.objects.none()
    if user.is_superuser:
        return Bot.objects.all()
    return Bot.objects.filter(operators=user)


def visible_conversation(user, bot_id: int, pk: int) -> Conversation | None:
    """Conversation `pk` of bot `bot_id`, bot included, if the bot is one of
    `bots_visible_to(user)`; else None.

    Written as SQL: every request of an open timeline (the page, its polling,
    each trace) starts here, and the ORM took longer to build this query than
    the database to answer it (see botadmin/rows.py).
    """
    found = visible_conversation_with(user, bot_id, pk, "NULL", [])
    return found[0] if found is not None else None


def visible_conversation_with(
    user, bot_id: int, pk: int, expression: str, params: list
) -> tuple[Conversation, object] | None:
    """`visible_conversation()`, and the value of one more SQL `expression` over its
    row `c`, read by the same SELECT: the history page reads its messages this way,
    in one round trip with the conversation (console/history.py)."""
    if not user.is_authenticated or not user.is_active:
        return None
    if not (0 < pk <= LARGEST_ID and 0 < bot_id <= LARGEST_ID):
        return None  # no such row; SQLite cannot even bind a larger int
    sql = (
        f"SELECT {_CONVERSATION.select_list(connection)}, {_BOT.select_list(connection)}, "
        f"{expression} "
        f"FROM {_CONVERSATION.table(connection)} JOIN {_BOT.table(connection)} ON b.id = c.bot_id "
        "WHERE c.id = %s AND c.bot_id = %s"
    )
    params = [*params, pk, bot_id]
    if not user.is_superuser:
        quote = connection.ops.quote_name
        sql += (
            f" AND EXISTS (SELECT 1 FROM {quote(_OPERATORS)} o"
            f" WHERE o.{quote(_OPERATOR_BOT)} = b.id AND o.{quote(_OPERATOR_USER)} = %s)"
        )
        params.append(user.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        db = cursor.db  # the connection itself, not the per-thread proxy
    if row is None:
        return None
    split, end = len(_CONVERSATION), len(_CONVERSATION) + len(_BOT)
    conversation = _CONVERSATION.instance(row[:split], db)
    conversation.bot = _BOT.instance(row[split:end], db)
    return conversation, row[end]


def refresh_connector_state(bot: Bot) -> str:
    """Ask the bot's connector what the other side says about itself and keep it on the bot.

    Returns a short description for the operator ("" when the connector has
    nothing to ask); raises ConnectorError when asking failed, keeping what
    was learned before.
    """
    learned = connector_for(bot).learn()
    if learned is None:
        return ""
    learned = {**learned, "checked_at": timezone.now().isoformat()}
    Bot.objects.filter(pk=bot.pk).update(connector_state=learned)
    bot.connector_state = learned
    msgtypes = learned.get("msgtypes")
    return f"sends {', '.join(msgtypes)}" if isinstance(msgtypes, list) else ""
