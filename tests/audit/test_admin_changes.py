"""What a staff user adds, changes or deletes in the Django admin is in the audit log,
with who did it, the action and a name of the row that outlives the row."""

import pytest
from django.contrib.admin import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError
from django.db.models.deletion import Collector
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Bot, Conversation
from deletions.models import DeletionJob
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message
from tests.conversations.test_roles import bot_form as change_form
from tests.deletions.running import run_deletions


@pytest.fixture
def bot_admin(make_operator, bot):
    """An operator of `bot` who holds conversations.administer_bot (make_operator's rights)."""
    return make_operator("anna", bot)


@pytest.fixture
def anna_client(client, bot_admin):
    client.force_login(bot_admin)
    return client


def only_entry(**lookup) -> OperatorAction:
    return OperatorAction.objects.get(**lookup)


def bulk_delete(client, model: str, rows):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk for row in rows], "post": "yes"},
    )


def bot_form(**fields) -> dict:
    return {
        "name": "annas",
        "is_active": "on",
        "connector": "bridge",
        "agent_url": "http://10.0.0.8:8080",
        "agent_token": "t" * 40,
        "webhook_url": "",
        "rate_limit_per_minute": 20,
        **fields,
    }


def test_a_bot_added_changed_and_deleted_in_the_admin_is_on_record_after_it_is_gone(
    anna_client, bot_admin
):
    added = anna_client.post(reverse("admin:conversations_bot_add"), bot_form())
    assert added.status_code == 302, added.content.decode()[:1500]
    new = Bot.objects.get(name="annas")
    changed = anna_client.post(
        reverse("admin:conversations_bot_change", args=[new.pk]),
        bot_form(rate_limit_per_minute=7, agent_token=""),
    )
    assert changed.status_code == 302, changed.content.decode()[:1500]

    anna_client.post(reverse("admin:conversations_bot_delete", args=[new.pk]), {"post": "yes"})
    assert only_entry(action="bot.delete_request").actor == bot_admin
    run_deletions()

    assert not Bot.objects.filter(pk=new.pk).exists()
    created = only_entry(action="bot.create")
    assert (created.actor, created.actor_label, created.target_label) == (
        bot_admin,
        "anna",
        "annas",
    )
    update = only_entry(action="bot.update")
    assert update.details["changed"] == ["rate_limit_per_minute"]  # the empty token is kept
    deleted = only_entry(action="bot.delete")
    assert deleted.actor == bot_admin
    assert (deleted.target_type, deleted.target_id) == ("conversations.bot", str(new.pk))
    assert (deleted.bot, deleted.bot_label, deleted.target_label) == (None, "annas", "annas")


def test_operators_given_and_taken_in_the_admin_are_named(client, superuser, bot, make_operator):
    bob = make_operator("bob", bot)
    carol = make_operator("carol")
    client.force_login(superuser)

    client.post(
        reverse("admin:conversations_bot_change", args=[bot.pk]),
        change_form(bot, operators=[carol.pk]),
    )

    added = only_entry(action="bot.operator_add", bot=bot)
    removed = only_entry(action="bot.operator_remove", bot=bot)
    assert (added.actor, added.details["username"]) == (superuser, "carol")
    assert (removed.actor, removed.details["username"]) == (superuser, bob.username)


def test_bulk_deleted_bots_are_each_on_record(anna_client, bot_admin, make_bot):
    bots = [make_bot(name=name) for name in ("old-1", "old-2")]
    for each in bots:
        each.operators.add(bot_admin)

    bulk_delete(anna_client, "conversations_bot", bots)
    run_deletions()

    assert not Bot.objects.filter(name__startswith="old-").exists()
    entries = OperatorAction.objects.filter(action="bot.delete").order_by("target_label")
    assert [(e.actor, e.target_label) for e in entries] == [
        (bot_admin, "old-1"),
        (bot_admin, "old-2"),
    ]


@pytest.mark.parametrize(
    ("model", "code"),
    [("conversations_bot", "bot.delete"), ("conversations_conversation", "conversation.delete")],
)
def test_a_deletion_that_fails_leaves_no_entry(
    anna_client, bot_admin, bot, make_bot, make_conversation, monkeypatch, model, code
):
    """The entry and the deletion commit together (the database refusing the delete is
    simulated in Django's Collector.delete, after the entry was written): the job says
    why its attempt failed and waits for the next, and the rows stay."""
    doomed = [make_bot(name="keep-1"), make_bot(name="keep-2")]
    for each in doomed:
        each.operators.add(bot_admin)
    if model == "conversations_conversation":
        doomed = [make_conversation(bot, "wrKeep1"), make_conversation(bot, "wrKeep2")]
    bulk_delete(anna_client, model, doomed)

    def refused(collector):
        raise DatabaseError("the database refused the delete")

    monkeypatch.setattr(Collector, "delete", refused)
    run_deletions()

    assert not OperatorAction.objects.filter(action=code).exists()
    assert OperatorAction.objects.filter(action=f"{code}_request").count() == 2
    assert all(type(row).objects.filter(pk=row.pk).exists() for row in doomed)
    assert set(DeletionJob.objects.values_list("status", "attempts")) == {("queued", 1)}
    assert "the database refused the delete" in DeletionJob.objects.first().error
    assert not DeletionJob.objects.filter(next_attempt_at=None).exists()


def test_conversations_added_changed_and_deleted_in_the_admin_are_on_record(
    anna_client, bot_admin, bot, make_conversation
):
    form = {"bot": bot.pk, "conversation_id": "wrNew", "kind": "group", "name": "新群"}
    form |= {"avatar_url": "", "extra": "{}", "robot_key": "", "is_active": "on"}
    added = anna_client.post(reverse("admin:conversations_conversation_add"), form)
    assert added.status_code == 302, added.content.decode()[:1500]
    new = Conversation.objects.get(conversation_id="wrNew")
    anna_client.post(
        reverse("admin:conversations_conversation_change", args=[new.pk]),
        {**form, "name": "改名群", "robot_key": "k-secret-value"},
    )
    others = [make_conversation(bot, "wrA"), make_conversation(bot, "wrB")]

    anna_client.post(
        reverse("admin:conversations_conversation_delete", args=[new.pk]), {"post": "yes"}
    )
    bulk_delete(anna_client, "conversations_conversation", others)
    run_deletions()

    assert not Conversation.objects.filter(bot=bot).exists()
    assert only_entry(action="conversation.add").target_label == "新群"
    update = only_entry(action="conversation.update")
    assert (update.actor, update.bot) == (bot_admin, bot)
    assert {"name", "robot_key"} <= set(update.details["changed"])
    assert "k-secret-value" not in str(update.details) + update.summary
    deleted = OperatorAction.objects.filter(action="conversation.delete", bot=bot)
    assert sorted(deleted.values_list("target_label", flat=True)) == ["wrA", "wrB", "改名群"]
    assert {entry.actor for entry in deleted} == {bot_admin}


def test_endpoints_added_changed_and_deleted_in_the_admin_are_on_record_without_their_tokens(
    anna_client, bot_admin, bot
):
    url = "https://hooks.example/in?token=tok-secret-1"
    form = {"bot": bot.pk, "url": url, "msgtypes": "[]", "description": "", "is_active": "on"}
    form["sends_api_secret"] = "on"  # ticked by default in the admin's form
    added = anna_client.post(reverse("admin:forwarding_webhookendpoint_add"), form)
    assert added.status_code == 302, added.content.decode()[:1500]
    endpoint = WebhookEndpoint.objects.get(bot=bot, url=url)
    anna_client.post(
        reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk]),
        {**form, "msgtypes": '["text"]'},
    )
    other = WebhookEndpoint.objects.create(bot=bot, url="https://u:pass-secret@hooks.example/b")

    anna_client.post(
        reverse("admin:forwarding_webhookendpoint_delete", args=[endpoint.pk]), {"post": "yes"}
    )
    bulk_delete(anna_client, "forwarding_webhookendpoint", [other])

    assert not WebhookEndpoint.objects.filter(bot=bot).exists()
    entries = OperatorAction.objects.filter(bot=bot, actor=bot_admin)
    assert sorted(entries.values_list("action", flat=True)) == [
        "endpoint.create",
        "endpoint.delete",
        "endpoint.delete",
        "endpoint.update",
    ]
    assert only_entry(action="endpoint.update").details["changed"] == ["msgtypes"]
    labels = sorted(entries.filter(action="endpoint.delete").values_list("target_label", flat=True))
    assert labels == [
        "https://********@hooks.example/b",
        "https://hooks.example/in?token=********",
    ]
    assert not any(
        value in entry.target_label + entry.summary + str(entry.details)
        for entry in entries
        for value in ("tok-secret-1", "pass-secret")
    )


def test_users_and_groups_changed_in_the_admin_are_on_record_without_passwords(client, superuser):
    client.force_login(superuser)
    added = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "dave",
            "usable_password": "true",
            "password1": "Pw-dave-9931!",
            "password2": "Pw-dave-9931!",
        },
    )
    assert added.status_code == 302, added.content.decode()[:1500]
    dave = get_user_model().objects.get(username="dave")
    client.post(
        reverse("admin:auth_user_password_change", args=[dave.pk]),
        {"password1": "Pw-dave-0002!", "password2": "Pw-dave-0002!"},
    )
    client.post(
        reverse("admin:auth_group_add"),
        {"name": "bot admins", "permissions": [Permission.objects.get(codename="add_bot").pk]},
    )
    group = Group.objects.get(name="bot admins")
    client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    client.post(reverse("admin:auth_user_delete", args=[dave.pk]), {"post": "yes"})

    entries = OperatorAction.objects.filter(actor=superuser).order_by("pk")
    assert [(e.action, e.target_label) for e in entries] == [
        ("user.create", "dave"),
        ("user.update", "dave"),
        ("group.create", "bot admins"),
        ("group.delete", "bot admins"),
        ("user.delete", "dave"),
    ]
    assert entries[1].details["changed"] == ["password"]
    assert not any("Pw-dave" in e.summary + str(e.details) for e in entries)
    assert all(e.bot is None for e in entries)


# Every admin action that changes something, with what it records. An action added
# to an admin without a line here fails test_every_admin_action_is_known.
AUDITED_ACTIONS = {
    "rotate_secrets": "secret.rotate",
    "sync_contacts": "contacts.sync",
    "test_connection": "bot.check_connection",
    "resume_sending": "bot.resume_sending",
    # Tested with their connectors: tests/connectors/wecom_aibot/test_operators.py,
    # tests/conversations/test_admin_group_chats.py.
    "reconnect_long_connection": "bot.reconnect",
    "create_group_chat": "group_chat.create",
    "retry_now": "message.retry",
    "mark_sent": "message.mark_sent",
    "cancel": "message.cancel",
    "reenable": "endpoint.reenable",
    # Tested with its service: tests/forwarding/test_recover_missed.py.
    "forward_missed": "endpoint.recover_missed",
    "replay": "delivery.replay",
    # Tested with its admin: tests/deletions/test_admin.py.
    "retry_failed": "deletion.retry",
}


def test_every_admin_action_is_known(rf, superuser):
    request = rf.get("/admin/")
    request.user = superuser
    actions = {
        name
        for model_admin in site._registry.values()
        for name in model_admin.get_actions(request)
        if name != "delete_selected"
    }
    assert actions == set(AUDITED_ACTIONS)


def message(conversation, direction: str, status: str) -> Message:
    return Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=direction,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hi"}},
        status=status,
        source="api" if direction == "out" else Message.Source.AGENT,
    )


@pytest.fixture
def rows(bot, group):
    """One row for each action to act on: the bot, a message, an endpoint and a delivery."""
    Bot.objects.filter(pk=bot.pk).update(paused_at=timezone.now(), paused_reason="paused")
    inbound = message(group, "in", Message.Status.RECEIVED)
    endpoint = WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example/x", disabled_at=timezone.now()
    )
    return {
        "conversations_bot": bot,
        "messaging_message": message(group, "out", Message.Status.QUEUED),
        "forwarding_webhookendpoint": endpoint,
        "forwarding_webhookdelivery": WebhookDelivery.objects.create(
            endpoint=endpoint, message=inbound, status=WebhookDelivery.Status.FAILED
        ),
    }


@pytest.mark.parametrize(
    ("model", "action"),
    [
        ("conversations_bot", "rotate_secrets"),
        ("conversations_bot", "sync_contacts"),
        ("conversations_bot", "test_connection"),
        ("conversations_bot", "resume_sending"),
        ("messaging_message", "cancel"),
        ("forwarding_webhookendpoint", "reenable"),
        ("forwarding_webhookdelivery", "replay"),
    ],
)
def test_an_admin_action_is_on_record_with_its_operator(
    anna_client, bot_admin, bot, rows, model, action
):
    row = rows[model]
    anna_client.post(
        reverse(f"admin:{model}_changelist"), {"action": action, "_selected_action": [row.pk]}
    )

    entry = only_entry(action=AUDITED_ACTIONS[action])
    assert (entry.actor, entry.actor_label, entry.bot) == (bot_admin, "anna", bot)
    assert entry.target_label


def test_the_audit_log_cannot_be_changed_or_deleted_in_the_admin(client, superuser, bot):
    OperatorAction.objects.create(action="bot.update", bot=bot)
    entry = OperatorAction.objects.get()
    client.force_login(superuser)

    page = client.get(reverse("admin:audit_operatoraction_change", args=[entry.pk]))
    client.post(reverse("admin:audit_operatoraction_delete", args=[entry.pk]), {"post": "yes"})
    bulk_delete(client, "audit_operatoraction", [entry])

    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert OperatorAction.objects.filter(pk=entry.pk).exists()
