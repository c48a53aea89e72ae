"""Bots: creating them, finding them by secret, rotating secrets, scoping, testing the
connection."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.ids import LARGEST_ID
from botadmin.msgtype_names import NAMES
from botadmin.reasons import Reason
from connectors.base import ConnectorError, StillConnecting
from connectors.registry import connector_for

from . import refusals
from .deletion_marks import BEING_DELETED
from .key_checks import record_key_checks
from .models import Bot, Conversation
from .secrets import (
    AlreadyRotated,
    check_replacing,
    generate_api_secret,
    is_valid_api_secret,
    secrets_match,
)

logger = logging.getLogger(__name__)

# How the audit log's summary of a connection test starts, by its verdict.
SUMMARY_PREFIXES = {True: "OK: ", False: "Failed: ", None: "Still connecting: "}

# The columns of a conversation read with its bot: `bot.conversation__<attname>`.
CONVERSATION_COLUMN = "conversation__"


def bot_for_secret(
    secret: str | None, conversation_id: str | None = None, *, whole_conversation: bool = False
) -> Bot | None:
    """The bot this API secret belongs to, or None.

    The database finds the candidate through the indexes of the current and the
    previous secret; the final comparison is constant-time so the answer's timing does not depend on how
    much of the secret was right. A rotated-out secret works until its grace
    period ends.

    With `conversation_id`, the same query reads the id of the bot's
    conversation of that name: `bot.conversation_pk` (None when it has none) and
    whether it is being deleted, and with `whole_conversation` every column of it,
    for `addressed_conversation`.
    The APIs' hot path, hence one `raw()` query through the unique indexes:
    building the equivalent ORM query cost more than running it.
    """
    if not secret or not is_valid_api_secret(secret):
        return None
    now = timezone.now()
    quote = connection.ops.quote_name
    columns = f"c.{quote('id')} AS conversation_pk"
    fields = Conversation._meta.concrete_fields if whole_conversation else [BEING_DELETED]
    columns += "".join(
        f", c.{quote(field.column)} AS {quote(CONVERSATION_COLUMN + field.attname)}"
        for field in fields
    )
    bots = Bot.objects.raw(
        f"SELECT b.*, {columns} FROM {quote(Bot._meta.db_table)} b"
        f" LEFT JOIN {quote(Conversation._meta.db_table)} c"
        " ON c.bot_id = b.id AND c.conversation_id = %s"
        " WHERE b.secret = %s OR (b.previous_secret = %s AND b.previous_secret_expires_at > %s)"
        " LIMIT 2",
        [conversation_id, secret, secret, connection.ops.adapt_datetimefield_value(now)],
    )
    for bot in bots:
        if _secret_matches(bot, secret, now):
            return bot
    return None


def addressed_conversation(bot: Bot, conversation_id: str):
    """The conversation `bot_for_secret(secret, conversation_id)` found, or None; no query.

    Whole when the bot was found with `whole_conversation`; else only its `id`,
    `bot`, `conversation_id` and `deletion_requested_at` are loaded (Django reads any
    other field when it is first used, one query each).
    """
    if getattr(bot, "conversation_pk", None) is None:
        return None
    fields = Conversation._meta.concrete_fields
    if hasattr(bot, CONVERSATION_COLUMN + "id"):
        conversation = Conversation.from_db(
            connection.alias,
            [field.attname for field in fields],
            [
                _from_db(field, getattr(bot, CONVERSATION_COLUMN + field.attname))
                for field in fields
            ],
        )
    else:
        conversation = Conversation.from_db(
            connection.alias,
            ["id", "bot_id", "conversation_id", BEING_DELETED.attname],
            [
                bot.conversation_pk,
                bot.pk,
                conversation_id,
                _from_db(BEING_DELETED, getattr(bot, CONVERSATION_COLUMN + BEING_DELETED.attname)),
            ],
        )
    conversation.bot = bot
    return conversation


def _from_db(field, value):
    """A column's value as its field holds it: what the ORM does to a column it selects
    (a `raw()` query converts only its own model's columns)."""
    column = field.get_col(field.model._meta.db_table)
    for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = converter(value, column, connection)
    return value


def _secret_matches(bot: Bot, secret: str, now) -> bool:
    """Constant-time check of the current secret, or of the previous one within its grace."""
    if secrets_match(secret, bot.secret):
        return True
    return bool(
        bot.previous_secret_expires_at
        and bot.previous_secret_expires_at > now
        and secrets_match(secret, bot.previous_secret)
    )


def rotate_secret(
    bot: Bot,
    grace: timedelta | None = None,
    *,
    actor=None,
    via: str = "",
    replacing: str = "",
    submission: str = "",
) -> Bot:
    """Issue a new API secret; the old one keeps working for `grace` (default
    BOTADMIN_SECRET_GRACE_HOURS). A webhook endpoint's signing secret is rotated on its
    own (forwarding/signing_secrets.py).

    `replacing`: the fingerprint of the secret the rotate page showed (secrets.fingerprint).
    Raises AlreadyRotated when that one was rotated since: the page posted twice rotates
    once, and the grace chosen for the old secret is not cut short by a second rotation
    that would drop it. `submission`: the id of a page that rotates without showing the
    secret (the admin's action bar); AlreadyRotated when that page rotated it already.

    The rotation is recorded in the audit log with `actor` (None from the command line).
    """
    from audit.services import record_action, recorded_from_page, via_key

    if grace is None:
        grace = timedelta(hours=settings.BOTADMIN_SECRET_GRACE_HOURS)
    keep = grace > timedelta(0)
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        check_replacing(bot.secret, replacing)
        if recorded_from_page("secret.rotate", bot=bot, target=bot, submission=submission):
            raise AlreadyRotated
        bot.previous_secret = bot.secret if keep else ""
        bot.previous_secret_expires_at = timezone.now() + grace if keep else None
        bot.secret = generate_api_secret()
        bot.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )
        summary = f"Rotated the API secret (grace {grace.total_seconds() / 3600:g} h)"
        record_action(
            actor,
            "secret.rotate",
            bot=bot,
            target=bot,
            summary=summary + via + ".",
            details={
                "grace_hours": grace.total_seconds() / 3600,
                **({"via": via_key(via)} if via else {}),
                **({"submission": submission} if submission else {}),
            },
        )
    return bot


def bots_visible_to(user) -> QuerySet[Bot]:
    """Superusers see every bot; staff operators only the bots they are assigned to."""
    if not user.is_authenticated or not user.is_active:
        return Bot.objects.none()
    if user.is_superuser:
        return Bot.objects.all()
    return Bot.objects.filter(operators=user)


def visible_conversation(user, bot_id: int, pk: int, **annotations) -> Conversation | None:
    """Conversation `pk` of bot `bot_id`, bot included, if the bot is one of
    `bots_visible_to(user)`; else None. `annotations`: what else the page reads of it, in
    the same query."""
    if not (0 < pk <= LARGEST_ID and 0 < bot_id <= LARGEST_ID):
        return None  # from a URL: no such row, and SQLite cannot bind a larger int
    return (
        Conversation.objects.select_related("bot")
        .annotate(**annotations)
        .filter(pk=pk, bot_id=bot_id, bot__in=bots_visible_to(user))
        .first()
    )


def named(conversations: QuerySet[Conversation], name: str) -> QuerySet[Conversation]:
    """Those whose name contains `name`, or whose ID it is (all of them for no name).
    A name longer than a conversation's name or ID can be matches none: SQLite refuses a
    LIKE pattern past 50,000 bytes ("LIKE or GLOB pattern too complex", a 500)."""
    name = name.strip()
    if len(name) > Conversation._meta.get_field("conversation_id").max_length:
        return conversations.none()
    if not name:
        return conversations
    if name.upper() == name.lower():
        # Nothing to fold (客户, 2号): the same rows without PostgreSQL's UPPER() of every
        # name, which costs 2-3x the scan and which its planner cannot estimate, so that a
        # page by name read every row and sorted them (docs/performance.md, note 21).
        return conversations.filter(Q(name__contains=name) | Q(conversation_id=name))
    return conversations.filter(Q(name__icontains=name) | Q(conversation_id=name))


def check_connection(bot: Bot, actor) -> tuple[bool | None, str]:
    """Ask the bot's connector whether its agent or robot keys answer.

    The verdict (None: no verdict yet, the connection is still being made) and a
    classified reason (a Reason where the connector worded it: show
    it with `reasons.translate`), shown to the operator and audited in English;
    never the answer's body (ConnectorError keeps that out of its text)."""
    from audit.services import record_action

    connector = connector_for(bot)
    try:
        ok, text = True, connector.check()
        refusals.noted(bot, "")  # the other side took the bot's credentials
        if learned := refresh_connector_state(bot):
            text = Reason(gettext_noop("%(checked)s; %(learned)s"), checked=text, learned=learned)
    except StillConnecting as error:
        ok, text = None, reasons.of(error)
    except ConnectorError as error:
        # The classification only: what the other side answered stays in the server's log.
        ok, text = False, reasons.of(error)
        logger.info("Connection test of bot %s failed: %s %s", bot.pk, text, error.detail)
        if error.account_problem:
            refusals.noted(bot, error.account_problem)
    except NotImplementedError:
        ok, text = False, Reason(gettext_noop("this connector cannot test its connection"))
    record_key_checks(connector.checked_contacts)
    record_action(
        actor,
        "bot.check_connection",
        bot=bot,
        target=bot,
        summary=SUMMARY_PREFIXES[ok] + text[:500],
        # The reason as a Reason: the bot page shows the last test in the reader's language.
        details={"ok": ok, "reason": reasons.as_json(reasons.shorten(text, 500))},
    )
    return ok, text


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
    if not isinstance(msgtypes, list):
        return ""
    # Each in words (图片, 链接卡片), as the page's capabilities line names them.
    names = [reasons.label(NAMES[code]) if code in NAMES else code for code in map(str, msgtypes)]
    return Reason(gettext_noop("sends %(msgtypes)s"), msgtypes=reasons.listing(names))
