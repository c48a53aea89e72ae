"""Every model that points to a bot, a conversation or a message is in the deletion order:
a new one would otherwise stop a deletion at its foreign key (PROTECT) or leave it to
one long cascade. (CONTRIBUTING.md: adding a model with a bot foreign key.)"""

from __future__ import annotations

import pytest
from django.apps import apps

from conversations.models import Bot, Conversation
from deletions import services
from messaging.models import Message


def _pointing_to(target) -> set:
    return {
        model
        for model in apps.get_models(include_auto_created=False)
        for field in model._meta.get_fields()
        if (field.many_to_one or field.one_to_one)
        and field.concrete
        and field.related_model is target
    }


def _models_deleted(steps) -> set:
    return {step.model for step in steps} | {m for step in steps for m in step.with_it}


@pytest.mark.parametrize(
    ("target", "steps"),
    [(Bot, services.BOT_STEPS), (Conversation, services.CONVERSATION_STEPS)],
    ids=["bot", "conversation"],
)
def test_every_model_pointing_to_the_target_is_deleted_or_detached(target, steps):
    covered = _models_deleted(steps) | set(services.DETACHED)
    if target is Conversation:
        # A conversation's own steps are its messages; what else points to it goes with
        # the bot (it is never deleted without its bot but through these steps).
        covered |= _models_deleted(services.BOT_STEPS) - {Conversation}
    assert _pointing_to(target) - covered == set()


def test_every_model_pointing_to_a_message_goes_with_its_batch():
    message_steps = [step for step in services.BOT_STEPS if step.model is Message]
    with_it = set(message_steps[0].with_it)
    for model in list(with_it):
        with_it |= _pointing_to(model) - with_it  # an attempt of a webhook delivery, …
    assert _pointing_to(Message) <= with_it
    assert all(_pointing_to(model) <= with_it for model in with_it)


def test_a_model_left_out_is_found(monkeypatch):
    """The check can fail: without the sync runs the bot's list misses one."""
    steps = tuple(step for step in services.BOT_STEPS if step.model.__name__ != "SyncRun")
    assert _pointing_to(Bot) - _models_deleted(steps) - set(services.DETACHED)
