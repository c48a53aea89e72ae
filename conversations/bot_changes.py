"""Changes to a bot made by people: creating it, its connector settings, its
operators and the conversations entered by hand. Each is checked like the
admin's form (Bot.full_clean) and recorded in the audit log in the same
transaction (a change is made with its entry or not at all); who may make
them is decided by the caller (conversations/roles.py).

A bot is saved with the fields that changed only (`fields_to_save`): a request
works on the row it read when it began, and a whole-row save would undo what
another process committed meanwhile — a secret rotated because it leaked, a
pause a worker set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django import forms
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from audit.models import OperatorAction
from audit.services import record_action
from botadmin.forms import look_up_urls, url_checks_remembered
from botadmin.timezones import grouped_zone_choices, zone_filter_attrs
from connectors import bot_settings
from connectors.registry import CONNECTORS, connector_class

from . import refusals
from .active_counts import forget_active_counts
from .models import Bot, Conversation, SyncRun
from .sync import request_sync


class OtherFieldErrorsOnTheForm:
    """For a ModelForm of some of a bot's fields: Bot.clean() also checks the
    connector settings, whose errors name fields the form does not have (Django
    would raise); they are shown as the form's own errors."""

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            moved: dict = {}
            for name, messages in errors.error_dict.items():
                moved.setdefault(name if name in self.fields else NON_FIELD_ERRORS, []).extend(
                    messages
                )
            errors = ValidationError(moved)
        super()._update_errors(errors)


def time_zone_field(bot: Bot) -> forms.ChoiceField:
    """A bot form's time zone (the admin's and the console's): one of the zones the
    announcements offer, or empty for the server's; the bot's stored zone stays
    offered (saved before pseudo zones such as Factory were hidden, Bot.clean)."""
    model_field = Bot._meta.get_field("timezone")
    server = _("The server's (%(zone)s)") % {"zone": django_settings.TIME_ZONE}
    return forms.ChoiceField(
        label=capfirst(model_field.verbose_name),
        help_text=model_field.help_text,
        required=False,
        choices=[("", server), *grouped_zone_choices(bot.timezone)],
        widget=forms.Select(attrs=zone_filter_attrs()),
    )


ROBOT_KEY_REQUIRED = _(
    "A group robot posts with its key: paste the robot's webhook address or its key."
)


def clean_robot_key(bot: Bot | None, entered: str, stored: str = "") -> str:
    """The robot key a conversation form saves (the admin's and the console's): the key
    in what was entered, read by the bot's connector (a pasted webhook address), else
    the one stored; required where the connector posts with one. Raises ValidationError."""
    connector = CONNECTORS.get(bot.connector) if bot is not None else None
    if connector is None or not connector.needs_robot_key:
        return entered or stored
    if entered.strip():
        return connector.robot_key_from(entered)
    if not stored:
        raise ValidationError(ROBOT_KEY_REQUIRED, code="required")
    return stored


def create_bot(actor, name: str, kind: str, settings: dict) -> Bot:
    """A new bot with these connector settings (empty generated ones are generated);
    its creator becomes its first operator. Raises ValidationError."""
    connector = connector_class(kind)
    bot = Bot(name=name, connector=kind, rate_limit_per_minute=connector.default_rate_limit)
    bot_settings.store(connector, bot, settings)
    bot_settings.generate_missing(connector, bot)
    bot.full_clean()
    with transaction.atomic():
        bot.save()
        if actor is not None and actor.is_authenticated:
            bot.operators.add(actor)
        record_action(
            actor,
            "bot.create",
            bot=bot,
            target=bot,
            summary=created_summary(connector, bot.name),
            details={"connector": kind},
        )
    return bot


def created_summary(connector, name: str, *, from_command_line: bool = False) -> str:
    """The stored English summary of a new bot's entry: its connector's label in brackets,
    as "Created the WeCom AI bot bot …" said "bot" twice. console/action_summaries.py
    reads this wording and the earlier one."""
    where = " from the command line" if from_command_line else ""
    return f"Created the bot {name} ({connector.english_label()}){where}."


def fields_to_save(names: Iterable[str]) -> list[str]:
    """The Bot fields to write for these changed form fields, for `save(update_fields=…)`:
    a column by its name, a connector setting without a column in connector_settings,
    and updated_at; anything else (the operators, saved on their own) none."""
    columns = {field.name for field in Bot._meta.concrete_fields}
    settings = {
        name for connector in CONNECTORS.values() for name in bot_settings.fields(connector)
    }
    saved = dict.fromkeys(
        name if name in columns else "connector_settings"
        for name in names
        if name in columns or name in settings
    )
    return [*saved, "updated_at"]


def change_connector_settings(bot: Bot, settings: dict, actor) -> list[str]:
    """Store new connector settings; returns the names that changed (secrets by name only).

    They are applied to the bot as stored now (read again under a lock, `bot` is
    refreshed after), so that the other settings in connector_settings are today's too.
    Their URLs' host lookups are made before the lock (`_check_settings_unlocked`)."""
    with url_checks_remembered():
        _check_settings_unlocked(bot.pk, settings)
        with transaction.atomic():
            current = Bot.objects.select_for_update().get(pk=bot.pk)  # one change at a time
            connector = connector_class(current.connector)
            before = bot_settings.stored_values(connector, current)
            bot_settings.store(connector, current, settings)
            current.full_clean()
            changed = [
                name
                for name, value in bot_settings.stored_values(connector, current).items()
                if value != before.get(name)
            ]
            if changed:
                change_fields(current, changed, actor)
                forget_refusal_of_old_credentials(current, changed)
    bot.refresh_from_db()
    return changed


def forget_refusal_of_old_credentials(bot: Bot, changed: Iterable[str]) -> None:
    """After a change of the bot's connector or connector settings (its credentials and
    where they are sent) is saved, in its transaction: a refusal its calls met before was
    about the old ones (conversations/refusals.py). Any other change keeps it."""
    connection = {"connector"}
    for connector in CONNECTORS.values():
        connection.update(bot_settings.fields(connector))
    if connection.intersection(changed):
        refusals.forget(bot)


def _check_settings_unlocked(bot_id: int, settings: dict) -> None:
    """The settings' URLs checked over the bot as read now, unlocked, for their host
    lookups, which a slow name server makes last seconds: under the lock they would hold
    the bot's other writers (a worker pausing it) as long. The settings are checked once,
    under the lock, with these lookups' outcomes (url_checks_remembered)."""
    unlocked = Bot.objects.filter(pk=bot_id).first()
    connector = CONNECTORS.get(unlocked.connector) if unlocked is not None else None
    if connector is not None:
        bot_settings.store(connector, unlocked, settings)
        look_up_urls(connector.settings_form(data=bot_settings.stored_values(connector, unlocked)))


@contextmanager
def bot_locked(bot: Bot) -> Iterator[Bot]:
    """The bot as stored now, its row locked till the block ends, in one transaction: a
    form checked and saved in the block is checked against the row it is saved over."""
    with transaction.atomic():
        yield Bot.objects.select_for_update().get(pk=bot.pk)


def change_fields(bot: Bot, changed: list[str], actor) -> None:
    """Save the fields of `bot` a form changed (e.g. the console's sending settings),
    and only those, in the audit log."""
    with transaction.atomic():
        bot.save(update_fields=fields_to_save(changed))
        record_action(
            actor,
            "bot.update",
            bot=bot,
            target=bot,
            summary=", ".join(changed),
            details={"changed": changed},
        )


def set_operator(bot: Bot, user, actor, *, operator: bool) -> bool:
    """Add `user` to the bot's operators or take them off; whether anything changed.
    After a removal the caller offers to rotate the secrets they may have seen."""
    if bot.operators.filter(pk=user.pk).exists() == operator:
        return False
    with transaction.atomic():
        (bot.operators.add if operator else bot.operators.remove)(user)
        record_operator_change(bot, user, actor, operator=operator)
    return True


def record_operator_change(bot: Bot, user, actor, *, operator: bool) -> None:
    """The audit entry of `user` added to (or removed from) the bot's operators."""
    verb = "Added {} to" if operator else "Removed {} from"
    record_action(
        actor,
        "bot.operator_add" if operator else "bot.operator_remove",
        bot=bot,
        target=bot,
        summary=verb.format(user.get_username()) + " the operators.",
        details={"user": user.pk, "username": user.get_username()},
    )


def removed_operator(bot: Bot, user_id: int | None):
    """The user with this id if they were removed from the bot's operators and are not
    one again, else None: only the bot's own former operators are named to its admins
    (as its audit log names them), never any user by id."""
    if user_id is None or bot.operators.filter(pk=user_id).exists():
        return None
    removals = OperatorAction.objects.filter(
        bot=bot, action="bot.operator_remove", details__user=user_id
    )
    if not removals.exists():
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def request_sync_by(user, bot: Bot, trigger: str) -> tuple[SyncRun, bool]:
    """Start a contact sync (or join the running one) for a person, in the audit log
    (the worker is woken once both are committed)."""
    with transaction.atomic():
        run, created = request_sync(bot, trigger, user)
        record_action(
            user,
            "contacts.sync",
            bot=bot,
            target=run,
            summary="Requested a contact sync." if created else "Joined the running contact sync.",
            details={"run": run.pk, "joined": not created},
        )
    return run, created


def add_conversation(conversation: Conversation, actor) -> Conversation:
    """Save a conversation entered by hand (a connector that cannot list, e.g. robot keys)."""
    conversation.full_clean()
    with transaction.atomic():
        conversation.save()
        forget_active_counts(conversation.bot)
        record_action(
            actor,
            "conversation.add",
            bot=conversation.bot,
            target=conversation,
            summary=f"Added the {conversation.kind} {conversation} by hand.",
            details={"kind": conversation.kind},
        )
    return conversation


def deactivate_for_deletion(bot: Bot) -> None:
    """Make the bot inactive while its deletion runs (deletions/services.py): the API
    refuses its sends, the delivery engine and the announcements leave it alone."""
    Bot.objects.filter(pk=bot.pk).update(is_active=False, updated_at=timezone.now())
    bot.is_active = False
