"""Operators act on deliveries from the admin: retry, mark as sent, cancel, resume a paused
bot, test a bot's connection. Every action is in the audit log."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from messaging.delivery import deliver
from messaging.models import Message
from tests.db_faults import fails_midway

TEXT = {"msgtype": "text", "text": {"content": "hi"}}


def run_action(client, model: str, action: str, objects):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [o.pk for o in objects]},
        follow=True,
    )


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def test_retry_now_queues_a_failed_message_again_and_it_is_sent(
    admin_client_for, superuser, agent, bridge_group, queue_message, clock
):
    agent.behaviour.errcode = 40058
    message = queue_message(bridge_group, TEXT)
    deliver(message.pk, clock)
    agent.behaviour.errcode = None
    message.refresh_from_db()
    assert (message.status, bool(message.last_error)) == ("failed", True)

    response = run_action(admin_client_for(superuser), "messaging_message", "retry_now", [message])

    assert "Queued 1 message again." in response.content.decode()
    message.refresh_from_db()
    # A fresh start: no failure of the used-up attempts beside "queued" (the trace keeps it).
    assert (message.status, message.attempt_count, message.last_error) == ("queued", 0, "")
    assert OperatorAction.objects.get(action="message.retry").target_id == str(message.pk)
    clock.advance(5)
    assert deliver(message.pk, clock).result == "sent"
    assert message.attempts.count() == 2  # the history is kept


def test_uncertain_message_is_labelled_and_can_be_marked_as_sent(
    admin_client_for, superuser, wecom, wecom_group, queue_message, clock
):
    wecom.drop_next = 1
    message = queue_message(wecom_group, TEXT)
    deliver(message.pk, clock)
    client = admin_client_for(superuser)

    page = client.get(reverse("admin:messaging_message_changelist")).content.decode()
    assert "status-uncertain" in page

    run_action(client, "messaging_message", "mark_sent", [message])

    message.refresh_from_db()
    assert message.status == "sent" and message.sent_at
    assert OperatorAction.objects.filter(action="message.mark_sent").count() == 1
    assert len(wecom.messages) == 1


def test_cancel_stops_queued_and_scheduled_messages_but_not_sent_ones(
    admin_client_for, superuser, agent, bridge_group, queue_message, clock
):
    queued = queue_message(bridge_group, TEXT)
    scheduled = queue_message(
        bridge_group, TEXT, send_at=timezone.now() + timezone.timedelta(days=1)
    )
    sent = queue_message(bridge_group, TEXT)
    Message.objects.filter(pk=sent.pk).update(status="sent")

    response = run_action(
        admin_client_for(superuser), "messaging_message", "cancel", [queued, scheduled, sent]
    )

    statuses = dict(Message.objects.values_list("pk", "status"))
    assert statuses == {queued.pk: "cancelled", scheduled.pk: "cancelled", sent.pk: "sent"}
    assert "1 message was skipped" in response.content.decode()
    assert deliver(queued.pk, clock).result == "skipped"
    assert agent.send_requests == []


@pytest.mark.parametrize(
    ("action", "status", "entry"),
    [
        ("retry_now", "failed", "message.retry"),
        ("mark_sent", "uncertain", "message.mark_sent"),
        ("cancel", "queued", "message.cancel"),
    ],
)
def test_an_action_on_many_messages_that_fails_midway_changes_none_and_wakes_nothing(
    admin_client_for,
    superuser,
    agent,
    bridge_group,
    queue_message,
    action,
    status,
    entry,
):
    """The second message's audit entry is refused: the first message must not stay
    changed (unrecorded), nor be handed to a worker."""
    chosen = [queue_message(bridge_group, TEXT) for _ in range(2)]
    Message.objects.update(status=status)

    with fails_midway(entry) as published:
        run_action(admin_client_for(superuser), "messaging_message", action, chosen)

    assert set(Message.objects.values_list("status", flat=True)) == {status}
    assert not OperatorAction.objects.filter(action=entry).exists()
    assert published == []


def test_operator_without_the_bot_cannot_act_on_its_messages(
    admin_client_for, make_operator, make_bot, agent, bridge_group, queue_message
):
    message = queue_message(bridge_group, TEXT)
    stranger = make_operator("stranger", make_bot(name="theirs"))

    run_action(admin_client_for(stranger), "messaging_message", "cancel", [message])

    message.refresh_from_db()
    assert message.status == "queued"


def test_paused_bot_is_shown_and_resuming_wakes_its_queue(
    admin_client_for, superuser, agent, bridge_bot, bridge_group, queue_message, clock
):
    agent.token, real_token = "a-different-token-the-bot-does-not-know", agent.token
    first, second = queue_message(bridge_group, TEXT), queue_message(bridge_group, TEXT)
    deliver(first.pk, clock)
    deliver(second.pk, clock)
    client = admin_client_for(superuser)

    page = client.get(reverse("admin:conversations_bot_changelist")).content.decode()
    assert "bot-paused" in page
    page = client.get(
        reverse("admin:conversations_bot_change", args=[bridge_bot.pk])
    ).content.decode()
    assert "HTTP 401" in page  # the reason is shown

    agent.token = real_token
    clock.advance(5)
    page = run_action(client, "conversations_bot", "resume_sending", [bridge_bot])

    assert "Bridge sends again; 1 waiting message was woken." in page.content.decode()
    bridge_bot.refresh_from_db()
    assert bridge_bot.paused_at is None
    assert OperatorAction.objects.filter(action="bot.resume_sending").count() == 1
    assert deliver(second.pk, clock).result == "sent"


def test_test_connection_reports_a_working_agent_and_a_bad_robot_key(
    admin_client_for, superuser, agent, bridge_bot, wecom, wecom_bot, make_conversation
):
    make_conversation(wecom_bot, "wrBad", name="坏群", robot_key="bad-key")
    client = admin_client_for(superuser)

    page = run_action(client, "conversations_bot", "test_connection", [bridge_bot, wecom_bot])

    text = page.content.decode().lower()
    assert "bridge: connection ok" in text
    assert "alerts: connection failed" in text and "坏群: 93000" in text
    assert OperatorAction.objects.filter(action="bot.check_connection").count() == 2


def test_test_connection_puts_a_full_width_colon_after_the_bots_name_in_chinese(
    client, superuser, agent, bridge_bot
):
    client.force_login(superuser)  # Chinese: the default language

    page = run_action(client, "conversations_bot", "test_connection", [bridge_bot])

    text = page.content.decode()
    assert "Bridge：连接正常 — " in text and "Bridge: " not in text


def test_cancelling_one_message_says_message(
    admin_client_for, superuser, agent, bridge_group, queue_message
):
    message = queue_message(bridge_group, TEXT)

    page = run_action(admin_client_for(superuser), "messaging_message", "cancel", [message])

    assert "Cancelled 1 message." in page.content.decode()


def test_delivery_admin_speaks_chinese_by_default(client, superuser, bridge_bot):
    bridge_bot.paused_at, bridge_bot.paused_reason = timezone.now(), "token refused"
    bridge_bot.save()
    client.force_login(superuser)

    page = client.get(reverse("admin:conversations_bot_changelist")).content.decode()

    assert "已暂停" in page
    assert "恢复发送（解除暂停）" in page
    assert "测试所选机器人的连接" in page


def test_cancelling_a_message_releases_the_next_one_of_its_conversation(
    admin_client_for, superuser, agent, bridge_group, queue_message, clock
):
    agent.behaviour.http_status = 503
    stuck, behind = queue_message(bridge_group, TEXT), queue_message(bridge_group, TEXT)
    deliver(stuck.pk, clock)  # in backoff now
    assert deliver(behind.pk, clock).result == "waiting"  # behind it
    agent.behaviour.http_status = None

    run_action(admin_client_for(superuser), "messaging_message", "cancel", [stuck])

    clock.advance(5)
    assert deliver(behind.pk, clock).result == "sent"


def test_an_attempts_title_says_its_outcome_in_words(db, make_bot, make_conversation):
    from django.utils import timezone, translation

    from messaging.models import DeliveryAttempt, Message

    bot = make_bot()
    chat = make_conversation(bot, "wrTitle")
    message = Message.objects.create(
        bot=bot,
        conversation=chat,
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "x"}},
        status="queued",
        source="api",
    )
    attempt = DeliveryAttempt.objects.create(
        message=message, outcome="retry", started_at=timezone.now()
    )
    with translation.override("zh-hans"):
        assert str(attempt).endswith("· 稍后重试")
    with translation.override("en"):
        assert str(attempt).endswith("· Retry later")


def test_a_messages_page_names_its_type_in_the_readers_language(
    client, superuser, bridge_group, queue_message
):
    """It read "发出 text msg…" on a Chinese page."""
    message = queue_message(bridge_group, TEXT)
    client.force_login(superuser)

    page = client.get(reverse("admin:messaging_message_change", args=[message.pk]))

    assert f"发出 文本 {message.msgid}" in page.content.decode()
