import html
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.bot_changes import change_connector_settings
from conversations.models import Bot, BotConnection, Conversation
from conversations.pauses import pause_bot
from conversations.services import bot_for_secret, rotate_secret
from messaging.models import DeliveryAttempt, Message
from tests.db_faults import changed_while_waited_for, fails_midway
from tests.html_forms import submitted_form
from tests.meanwhile import before_saving


@pytest.fixture
def logged_in_superuser(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def message(bot, group):
    message = Message.objects.create(
        bot=bot,
        conversation=group,
        direction=Message.Direction.OUT,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hello"}},
        search_text="hello",
        status=Message.Status.QUEUED,
        source=Message.Source.API,
    )
    DeliveryAttempt.objects.create(
        message=message, started_at=message.created_at, outcome=DeliveryAttempt.Outcome.RETRY
    )
    return message


@pytest.mark.parametrize(
    "model",
    [
        "conversations_bot",
        "conversations_conversation",
        "messaging_message",
        "messaging_deliveryattempt",
    ],
)
def test_every_changelist_renders(logged_in_superuser, message, model):
    response = logged_in_superuser.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200


def test_every_change_form_renders(logged_in_superuser, bot, group, message):
    for url in (
        reverse("admin:conversations_bot_change", args=[bot.pk]),
        reverse("admin:conversations_bot_add"),
        reverse("admin:conversations_conversation_change", args=[group.pk]),
        reverse("admin:conversations_conversation_add"),
        reverse("admin:messaging_message_change", args=[message.pk]),
        reverse("admin:messaging_deliveryattempt_change", args=[message.attempts.get().pk]),
    ):
        assert logged_in_superuser.get(url).status_code == 200, url


def test_the_message_log_is_read_only(logged_in_superuser, message):
    response = logged_in_superuser.get(reverse("admin:messaging_message_change", args=[message.pk]))
    assert b'name="_save"' not in response.content
    assert logged_in_superuser.get(reverse("admin:messaging_message_add")).status_code == 403


def test_secrets_are_masked_in_the_bot_list(logged_in_superuser, bot):
    response = logged_in_superuser.get(reverse("admin:conversations_bot_changelist"))
    assert bot.secret not in response.content.decode()
    assert bot.secret[:4] in response.content.decode()


def test_the_bot_page_masks_every_secret_until_shown(logged_in_superuser, bot):
    page = logged_in_superuser.get(
        reverse("admin:conversations_bot_change", args=[bot.pk])
    ).content.decode()
    assert bot.secret not in page  # not even in the source
    assert bot.secret[:4] in page
    url = reverse("admin:conversations_bot_reveal_secret", args=[bot.pk, "secret"])
    assert f'data-reveal-url="{url}"' in page
    assert "botadmin/reveal.js" in page and "botadmin/copy.js" in page
    assert bot.agent_token not in page  # tokens are write-only


def test_show_reveals_a_secret_to_a_superuser_and_audits_which_one(logged_in_superuser, bot):
    url = reverse("admin:conversations_bot_reveal_secret", args=[bot.pk, "secret"])

    answer = logged_in_superuser.post(url)

    assert answer.json() == {"value": bot.secret}
    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.bot == bot and entry.actor.username == "root"
    assert entry.details == {"secret": "secret", "via": "admin"}
    assert bot.secret not in f"{entry.summary} {entry.details} {entry.target_label}"


def test_show_is_a_csrf_protected_post(superuser, bot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    url = reverse("admin:conversations_bot_reveal_secret", args=[bot.pk, "secret"])

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert not OperatorAction.objects.filter(action="secret.reveal").exists()


def test_show_is_refused_to_those_who_may_not_see_the_secret(client, bot, make_bot, make_operator):
    url = reverse("admin:conversations_bot_reveal_secret", args=[bot.pk, "secret"])
    viewer = make_operator("viewer", bot)
    viewer.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(viewer)
    page = client.get(reverse("admin:conversations_bot_change", args=[bot.pk])).content.decode()
    assert "data-reveal-url" not in page
    assert client.post(url).status_code == 403

    client.force_login(make_operator("admin-of-another", make_bot(name="other")))
    assert client.post(url).status_code == 404
    assert not OperatorAction.objects.filter(action="secret.reveal").exists()


@pytest.mark.parametrize("which", ["name", "signing_secret"])
def test_showing_something_that_is_no_secret_is_not_found(logged_in_superuser, bot, which):
    """The bot's signing secret of earlier releases signs nothing now (each webhook
    endpoint has its own): it is no secret of the bot's to show."""
    url = reverse("admin:conversations_bot_reveal_secret", args=[bot.pk, which])
    assert logged_in_superuser.post(url).status_code == 404
    assert not OperatorAction.objects.filter(action="secret.reveal").exists()


def test_operators_never_see_secrets_in_clear(client, bot, make_operator):
    client.force_login(make_operator("alice", bot))
    page = client.get(reverse("admin:conversations_bot_change", args=[bot.pk])).content.decode()
    assert bot.secret[:4] in page
    assert bot.secret not in page


def test_an_operator_who_is_no_bot_admin_sees_the_webhook_url_masked(client, bot, make_operator):
    bot.webhook_url = "https://hook:HOOK-pw@recv.example/in?token=HOOK-token"
    bot.save()
    viewer = make_operator("viewer", bot)
    viewer.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(viewer)

    page = client.get(reverse("admin:conversations_bot_change", args=[bot.pk])).content.decode()

    assert "HOOK-pw" not in page and "HOOK-token" not in page
    assert "https://********@recv.example/in?token=********" in page


def test_a_bot_admin_sees_urls_masked_and_saving_them_unchanged_keeps_their_credentials(
    logged_in_superuser, bot, make_bot
):
    bot.agent_url = "http://agent:AGENT-pw@10.0.0.5:7600"
    bot.webhook_url = "https://recv.example/in?token=HOOK-token"
    bot.save()
    app = make_bot(
        name="legacy",
        connector="wecom_app",
        agent_url="",
        agent_token="",
        connector_settings={
            "corp_id": "ww1",
            "agent_id": 1,
            "app_secret": "x" * 20,
            "proxy_url": "http://user:PROXY-pw@10.0.0.9:3128",
        },
    )
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    page = admin_page(logged_in_superuser, url, "en")
    app_page = admin_page(
        logged_in_superuser, reverse("admin:conversations_bot_change", args=[app.pk]), "en"
    )
    form = submitted_form(page, "bot_form")
    assert "AGENT-pw" not in page and "HOOK-token" not in page and "PROXY-pw" not in app_page
    assert form["agent_url"] == ["http://********@10.0.0.5:7600"]
    assert form["webhook_url"] == ["https://recv.example/in?token=********"]

    saved = logged_in_superuser.post(url, {**form, "rate_limit_per_minute": "7"})

    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.agent_url == "http://agent:AGENT-pw@10.0.0.5:7600"
    assert bot.webhook_url == "https://recv.example/in?token=HOOK-token"
    assert OperatorAction.objects.get(action="bot.update").summary == "rate_limit_per_minute"


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("webhook_url", "http://169.254.169.254/latest/meta-data/", "which no webhook may reach"),
        ("webhook_url", "http://[fe80::1]/hook", "which no webhook may reach"),
        ("webhook_url", "http://10.0.0.5/hook", "add its network to BOTADMIN_WEBHOOK_NETWORKS"),
        ("agent_url", "http://169.254.169.254/latest/?x=", "where no agent may be"),
        ("agent_url", "http://0.0.0.0:7600", "where no agent may be"),
    ],
)
def test_the_admin_refuses_a_url_forwarding_or_the_bridge_would_refuse_when_it_is_entered(
    logged_in_superuser, bot, settings, field, value, refusal
):
    """As the console and createbot do: not only at the first delivery."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")

    refused = logged_in_superuser.post(url, {**form, field: value})

    assert refused.status_code == 200
    assert refused.content.decode().count(refusal) == 1
    bot.refresh_from_db()
    assert getattr(bot, field) != value


def test_saving_a_bot_in_the_admin_keeps_a_rotation_and_a_pause_made_meanwhile(
    logged_in_superuser, bot
):
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")
    leaked, rotated = bot.secret, []

    def rotate_and_pause():  # another process, between the view's read and its save
        rotated.append(rotate_secret(Bot.objects.get(pk=bot.pk), timedelta(0)).secret)
        pause_bot(bot.pk, "the agent refused the token", timezone.now())

    with before_saving(Bot, rotate_and_pause) as ran:
        saved = logged_in_superuser.post(url, {**form, "rate_limit_per_minute": "7"})

    assert saved.status_code == 302 and ran, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 7
    assert bot.secret == rotated[0] != leaked
    assert bot.paused_reason == "the agent refused the token"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row lock: PostgreSQL's")
def test_an_empty_secret_saved_in_the_admin_keeps_a_new_one_saved_meanwhile(
    transactional_db, logged_in_superuser, listless_bot, superuser
):
    """The AI bot's secret lives in connector_settings with its other settings: the
    admin saving a new bot ID (the secret left empty) wrote the whole of it as its
    request read it, putting back the old secret another admin had just replaced."""
    bot = listless_bot
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")

    def new_secret(other):  # another admin, while the admin's request waits for the row
        change_connector_settings(other, {"bot_secret": "new-secret"}, superuser)

    with changed_while_waited_for(Bot, bot.pk, new_secret):
        saved = logged_in_superuser.post(url, {**form, "bot_id": "b2", "bot_secret": ""})

    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.connector_settings["bot_id"] == "b2"
    assert bot.connector_settings["bot_secret"] == "new-secret"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row lock: PostgreSQL's")
def test_a_bot_saved_in_the_admin_is_checked_against_the_row_it_is_saved_over(
    transactional_db, logged_in_superuser, listless_bot
):
    """The admin checked its form against the bot its request had read, and saved the
    changes over the row as another admin had changed it meanwhile: an AI bot's leftover
    agent URL, cleared while that admin made it a bridge bot, left a bridge bot without
    an agent URL (checked as an AI bot). Read under the row's lock, as the console reads
    it, the form is checked and saved as one: as a bridge bot's (the connector its page
    left as shown is the one stored now), and refused."""
    bot = listless_bot
    Bot.objects.filter(pk=bot.pk).update(agent_url="http://10.0.0.5:7600")  # its bridge days
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")

    def made_a_bridge_bot(other):  # another admin, while the admin's request waits for the row
        other.connector, other.agent_token = "bridge", "t" * 32
        other.full_clean()
        other.save(update_fields=["connector", "agent_token", "updated_at"])

    with changed_while_waited_for(Bot, bot.pk, made_a_bridge_bot):
        refused = logged_in_superuser.post(url, {**form, "agent_url": ""})

    assert refused.status_code == 200
    assert "A bridge bot needs its agent&#x27;s URL." in refused.content.decode()
    bot.refresh_from_db()
    bot.full_clean()  # what is stored was checked as a whole
    assert (bot.connector, bot.agent_url) == ("bridge", "http://10.0.0.5:7600")


def test_an_operator_of_bot_a_cannot_see_bot_b(client, make_bot, make_operator, make_conversation):
    a, b = make_bot(name="bot-a"), make_bot(name="bot-b")
    make_conversation(a, "wrA", name="group of A")
    conv_b = make_conversation(b, "wrB", name="group of B")
    client.force_login(make_operator("alice", a))

    bots_page = client.get(reverse("admin:conversations_bot_changelist")).content.decode()
    assert "bot-a" in bots_page and "bot-b" not in bots_page
    conversations_page = client.get(
        reverse("admin:conversations_conversation_changelist")
    ).content.decode()
    assert "group of A" in conversations_page and "group of B" not in conversations_page

    # Another bot's pages behave as if they did not exist.
    response = client.get(reverse("admin:conversations_bot_change", args=[b.pk]))
    assert response.status_code == 302 and response.url == reverse("admin:index")
    response = client.get(reverse("admin:conversations_conversation_change", args=[conv_b.pk]))
    assert response.status_code == 302
    assert (
        client.get(reverse("admin:conversations_bot_rotate_secret", args=[b.pk])).status_code == 404
    )


def test_rotate_asks_for_confirmation_then_issues_a_new_secret(logged_in_superuser, bot):
    url = reverse("admin:conversations_bot_rotate_secret", args=[bot.pk])
    old = bot.secret
    assert logged_in_superuser.get(url).status_code == 200
    bot.refresh_from_db()
    assert bot.secret == old  # a GET only asks

    response = logged_in_superuser.post(url, {"grace_hours": "24"})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.secret != old and bot.previous_secret == old


def test_the_admin_offers_the_consoles_grace_periods_in_the_bots_zone(logged_in_superuser, bot):
    bot.timezone = "Asia/Shanghai"
    bot.save()
    url = reverse("admin:conversations_bot_rotate_secret", args=[bot.pk])
    page = logged_in_superuser.get(url).content.decode()
    assert submitted_form(page, "rotate-form")["grace_hours"] == ["24"]  # as in the console
    for hours in ("0", "1", "24", "72", "168"):
        assert f'name="grace_hours" value="{hours}"' in page
    assert "CST" in page

    old = bot.secret
    answer = logged_in_superuser.post(url, {"grace_hours": "72"}, follow=True)
    bot.refresh_from_db()
    assert bot.previous_secret == old
    left = bot.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=71, minutes=59) < left <= timedelta(hours=72)
    assert "CST" in answer.content.decode()  # "the old one works until … CST"
    action = OperatorAction.objects.get(action="secret.rotate", bot=bot)
    assert action.actor_id == answer.wsgi_request.user.pk
    assert action.summary == "Rotated the API secret (grace 72 h) in the admin."


def test_rotating_without_grace_in_the_admin_asks_again_then_the_old_secret_stops_working(
    logged_in_superuser, bot
):
    url = reverse("admin:conversations_bot_rotate_secret", args=[bot.pk])
    old = bot.secret
    assert bot_for_secret(old) == bot

    asked = logged_in_superuser.post(url, {"grace_hours": "0"})
    assert asked.status_code == 200 and 'id="no-grace-warning"' in asked.content.decode()
    bot.refresh_from_db()
    assert bot.secret == old  # nothing happened yet
    assert not OperatorAction.objects.filter(action="secret.rotate").exists()

    confirmed = submitted_form(asked.content.decode(), "no-grace-form")
    assert logged_in_superuser.post(url, confirmed).status_code == 302
    bot.refresh_from_db()
    assert bot.secret != old and bot.previous_secret == ""
    assert bot_for_secret(old) is None and bot_for_secret(bot.secret) == bot
    action = OperatorAction.objects.get(action="secret.rotate", bot=bot)
    assert action.summary == "Rotated the API secret (grace 0 h) in the admin."


def test_a_grace_that_is_no_choice_rotates_nothing(logged_in_superuser, bot):
    url = reverse("admin:conversations_bot_rotate_secret", args=[bot.pk])
    old = bot.secret
    for data in ({}, {"grace_hours": "5"}, {"grace_hours": "-1", "no_grace": "confirmed"}):
        response = logged_in_superuser.post(url, data)
        assert response.status_code == 200 and "errorlist" in response.content.decode()
    bot.refresh_from_db()
    assert bot.secret == old


def test_rotate_action_on_the_bot_list(logged_in_superuser, make_bot):
    a, b = make_bot(), make_bot()
    old = {a.pk: a.secret, b.pk: b.secret}
    logged_in_superuser.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "rotate_secrets", "_selected_action": [a.pk, b.pk]},
    )
    for bot in (a, b):
        bot.refresh_from_db()
        assert bot.secret != old[bot.pk]


def test_rotating_one_secret_from_the_bot_list_says_secret(logged_in_superuser, bot):
    logged_in_superuser.cookies["django_language"] = "en"

    page = logged_in_superuser.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "rotate_secrets", "_selected_action": [bot.pk]},
        follow=True,
    ).content.decode()

    assert "Rotated 1 secret; the old one keeps working for a grace period." in page


def run_bot_action(client, action: str, bots):
    return client.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": action, "_selected_action": [bot.pk for bot in bots]},
    )


def test_a_rotation_of_many_secrets_that_fails_midway_rotates_none(logged_in_superuser, make_bot):
    bots = [make_bot(), make_bot()]
    old = {bot.pk: bot.secret for bot in bots}

    with fails_midway("secret.rotate"):
        run_bot_action(logged_in_superuser, "rotate_secrets", bots)

    assert dict(Bot.objects.values_list("pk", "secret")) == old
    assert not OperatorAction.objects.filter(action="secret.rotate").exists()


def test_resuming_many_bots_that_fails_midway_resumes_none_and_wakes_nothing(
    logged_in_superuser, make_bot, make_conversation
):
    bots = [make_bot(), make_bot()]
    for bot in bots:
        Message.objects.create(
            bot=bot,
            conversation=make_conversation(bot, f"wr{bot.pk}"),
            direction=Message.Direction.OUT,
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "waits"}},
            status=Message.Status.QUEUED,
            source=Message.Source.API,
        )
    Bot.objects.update(paused_at=timezone.now(), paused_reason="token refused")

    with fails_midway("bot.resume_sending") as published:
        run_bot_action(logged_in_superuser, "resume_sending", bots)

    assert not Bot.objects.filter(paused_at=None).exists()
    assert not Message.objects.exclude(next_attempt_at=None).exists()  # none woken
    assert not OperatorAction.objects.filter(action="bot.resume_sending").exists()
    assert published == []


def test_reconnecting_many_bots_that_fails_midway_reconnects_none(logged_in_superuser, make_bot):
    bots = [make_bot(), make_bot()]
    for bot in bots:
        BotConnection.objects.create(
            bot=bot, state=BotConnection.State.TAKEN_OVER, taken_over_at=timezone.now()
        )

    with fails_midway("bot.reconnect"):
        run_bot_action(logged_in_superuser, "reconnect_long_connection", bots)

    assert not BotConnection.objects.filter(taken_over_at=None).exists()
    assert not OperatorAction.objects.filter(action="bot.reconnect").exists()


def test_editing_a_bot_keeps_its_agent_token_when_left_empty(logged_in_superuser, bot):
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    token = bot.agent_token
    response = logged_in_superuser.post(
        url,
        {
            "name": "renamed",
            "is_active": "on",
            "connector": "bridge",
            "agent_url": bot.agent_url,
            "agent_token": "",
            "webhook_url": "",
            "rate_limit_per_minute": 20,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.name == "renamed" and bot.agent_token == token


def test_the_bot_page_links_to_its_own_conversations(
    logged_in_superuser, make_bot, make_conversation
):
    a, b = make_bot(name="a"), make_bot(name="b")
    for i in range(3):
        make_conversation(a, f"wrA{i}")
    make_conversation(b, "wrB")
    logged_in_superuser.cookies["django_language"] = "en"
    page = logged_in_superuser.get(
        reverse("admin:conversations_bot_change", args=[a.pk])
    ).content.decode()
    assert f"?bot__id__exact={a.pk}" in page
    assert "3 conversations" in page
    page = logged_in_superuser.get(
        reverse("admin:conversations_bot_change", args=[b.pk])
    ).content.decode()
    assert ">1 conversation</a>" in page


@pytest.mark.parametrize("limit", [100_001, 2**31, 2**63])
def test_a_rate_limit_beyond_the_bound_is_a_form_error_on_every_database(
    logged_in_superuser, bot, limit
):
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    response = logged_in_superuser.post(
        url,
        {
            "name": bot.name,
            "is_active": "on",
            "connector": "bridge",
            "agent_url": bot.agent_url,
            "agent_token": "",
            "webhook_url": "",
            "rate_limit_per_minute": limit,
        },
    )

    assert response.status_code == 200
    assert "100000" in response.content.decode() or "100,000" in response.content.decode()
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 20


def admin_page(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    return client.get(url).content.decode()


def add_app_bot(client, **settings):
    return client.post(
        reverse("admin:conversations_bot_add"),
        {
            "name": "hr",
            "is_active": "on",
            "connector": "wecom_app",
            "corp_id": "ww1234",
            "agent_id": "1000002",
            "app_secret": "app-secret-value",
            "webhook_url": "",
            "rate_limit_per_minute": 600,
            "timezone": "Asia/Shanghai",
            **settings,
        },
    )


def test_an_app_bot_added_in_the_admin_gets_a_generated_callback_token_and_key(
    logged_in_superuser,
):
    """As in the console and createbot: left empty, they are generated."""
    response = add_app_bot(logged_in_superuser, callback_token="", encoding_aes_key="")
    assert response.status_code == 302, response.content.decode()[:3000]
    values = Bot.objects.get(name="hr").connector_settings
    assert values["callback_token"].isalnum() and len(values["callback_token"]) >= 16
    assert values["encoding_aes_key"].isalnum() and len(values["encoding_aes_key"]) == 43


def test_an_app_bot_added_in_the_admin_keeps_a_given_callback_token(logged_in_superuser):
    response = add_app_bot(logged_in_superuser, callback_token="GivenToken123")
    assert response.status_code == 302
    values = Bot.objects.get(name="hr").connector_settings
    assert values["callback_token"] == "GivenToken123" and len(values["encoding_aes_key"]) == 43


@pytest.mark.parametrize(
    ("language", "generated", "keeps"),
    [
        (
            "en",
            "the same here and there. Generated when left empty.",
            "client. Leave empty to keep",
        ),
        ("zh-hans", "两边须相同。留空则自动生成。", "企业微信客户端。留空则保留当前值。"),
    ],
)
def test_generated_settings_say_so_on_the_add_page_and_secrets_keep_on_the_change_page(
    logged_in_superuser, bot, language, generated, keeps
):
    add = admin_page(logged_in_superuser, reverse("admin:conversations_bot_add"), language)
    change = admin_page(
        logged_in_superuser, reverse("admin:conversations_bot_change", args=[bot.pk]), language
    )
    assert generated in add and keeps not in add
    assert keeps in change and generated not in change
    for keep in ("keep the current value", "留空则保留当前值"):
        assert keep not in add
    for made in ("enerated when left empty", "自动生成"):
        assert made not in change


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Users who may see and use this bot in the console; they need no staff status."),
        ("zh-hans", "可以在控制台查看和使用此机器人的用户；无需“工作人员状态”。"),
    ],
)
def test_the_operators_help_says_they_need_no_staff_status(
    logged_in_superuser, bot, language, text
):
    page = admin_page(
        logged_in_superuser, reverse("admin:conversations_bot_change", args=[bot.pk]), language
    )
    assert text in page and "Staff users" not in page


PSEUDO_ZONES = ("localtime", "Factory", "Etc/GMT-8", "EST5EDT", "Zulu", "GMT")


def test_the_bot_pages_offer_the_consoles_time_zones_not_pseudo_zones(logged_in_superuser, bot):
    for url in (
        reverse("admin:conversations_bot_add"),
        reverse("admin:conversations_bot_change", args=[bot.pk]),
    ):
        page = admin_page(logged_in_superuser, url, "en")
        assert '<select name="timezone"' in page, url
        assert submitted_form(page, "bot_form")["timezone"] == [""]  # the server's
        for pseudo in PSEUDO_ZONES:
            assert f'<option value="{pseudo}"' not in page, (url, pseudo)
        for place in ("UTC", "Asia/Shanghai", "America/New_York"):
            assert f'<option value="{place}"' in page, (url, place)
        assert "a place from the list, or UTC" in page


@pytest.mark.parametrize(("zone", "saved"), [("Asia/Shanghai", True), ("Factory", False)])
def test_a_bot_added_in_the_admin_takes_a_place_but_no_pseudo_zone(
    logged_in_superuser, zone, saved
):
    response = add_app_bot(logged_in_superuser, timezone=zone)

    assert response.status_code == (302 if saved else 200)
    assert Bot.objects.filter(name="hr", timezone=zone).exists() == saved


def test_a_bots_time_zone_is_changed_in_the_admin_to_a_place_but_not_a_pseudo_zone(
    logged_in_superuser, bot
):
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")

    refused = logged_in_superuser.post(url, {**form, "timezone": "localtime"})
    bot.refresh_from_db()
    assert refused.status_code == 200 and bot.timezone == ""

    changed = logged_in_superuser.post(url, {**form, "timezone": "Europe/Berlin"})
    bot.refresh_from_db()
    assert changed.status_code == 302 and bot.timezone == "Europe/Berlin"


def test_a_bot_saved_with_a_pseudo_zone_keeps_it_when_changed_in_the_admin(
    logged_in_superuser, bot
):
    """A bot set to Factory before the list hid it: saving its pace must neither fail
    nor drop the zone; another pseudo zone is still refused."""
    Bot.objects.filter(pk=bot.pk).update(timezone="Factory")
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")
    assert form["timezone"] == ["Factory"]

    saved = logged_in_superuser.post(url, {**form, "rate_limit_per_minute": "7"})
    bot.refresh_from_db()
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert bot.rate_limit_per_minute == 7 and bot.timezone == "Factory"

    refused = logged_in_superuser.post(url, {**form, "timezone": "localtime"})
    bot.refresh_from_db()
    assert refused.status_code == 200 and bot.timezone == "Factory"


def test_the_admin_refuses_retention_below_a_day_with_one_minimum(logged_in_superuser, bot):
    """-5 said "≥ 0" (the column's), and 0 then "≥ 1" (the model's)."""
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "bot_form")

    for days in ("-5", "0"):
        refused = logged_in_superuser.post(url, {**form, "message_retention_days": days})
        page = refused.content.decode()
        assert refused.status_code == 200
        assert "greater than or equal to 1." in page and "greater than or equal to 0" not in page
    bot.refresh_from_db()
    assert bot.message_retention_days is None


def test_the_admin_refuses_a_user_conversation_for_a_group_robot(logged_in_superuser, make_bot):
    robot = make_bot(connector="wecom_robot", agent_url="", agent_token="")
    form = {"bot": robot.pk, "conversation_id": "ops", "kind": "user", "name": "运维告警群"}
    form |= {"avatar_url": "", "extra": "{}", "is_active": "on"}
    form["robot_key"] = "5b1f3c2a-9d4e-4f60-8a7b-0c1d2e3f4a5b"
    url = reverse("admin:conversations_conversation_add")

    refused = logged_in_superuser.post(url, form)

    assert refused.status_code == 200
    assert "企业微信群机器人只能发到：群聊。" in refused.content.decode()
    assert not robot.conversations.exists()
    assert logged_in_superuser.post(url, {**form, "kind": "group"}).status_code == 302


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The key tags.vip is given twice in the JSON."),
        ("zh-hans", "JSON 中的键 tags.vip 出现了两次。"),
    ],
)
def test_the_admin_refuses_json_naming_a_key_twice_saying_which(
    logged_in_superuser, group, language, said
):
    """Django's decoder keeps the last of the two silently; the send API refuses it too."""
    group.extra = {"tags": {"vip": True}}
    group.save(update_fields=["extra"])
    url = reverse("admin:conversations_conversation_change", args=[group.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, language), "conversation_form")
    typed = '{"tags": {"vip": true, "vip": false}}'

    refused = logged_in_superuser.post(url, {**form, "extra": typed})

    page = refused.content.decode()
    assert refused.status_code == 200 and said in page
    assert html.escape(typed) in page  # shown back as typed
    group.refresh_from_db()
    assert group.extra == {"tags": {"vip": True}}
    saved = logged_in_superuser.post(url, {**form, "extra": '{"tags": {"vip": false}}'})
    assert saved.status_code == 302


KEY_A, KEY_B = "0f6e2d1c-3b4a-4c5d-8e9f-a0b1c2d3e4f5", "5b1f3c2a-9d4e-4f60-8a7b-0c1d2e3f4a5b"
REPLACED_MEANWHILE = {
    "en": "This group&#x27;s robot key was replaced after this page was opened",
    "zh-hans": "本页打开后，此群聊的机器人密钥已被更换",
}


@pytest.fixture
def robot_group(make_bot, make_conversation):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    return make_conversation(robot, "wrSales", name="销售群", robot_key="key-sales-0123456789")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_robot_key_typed_in_a_tab_opened_before_another_replaced_it_is_refused_until_typed_again(
    logged_in_superuser, robot_group, language
):
    """The key is never shown, so the stale tab cannot tell it was replaced: typed there,
    it silently replaced the newer one. It is refused once, saying why; the page shown
    again is for the key stored now, and the key typed again replaces that one."""
    url = reverse("admin:conversations_conversation_change", args=[robot_group.pk])
    tab_a = submitted_form(admin_page(logged_in_superuser, url, language), "conversation_form")
    tab_b = submitted_form(admin_page(logged_in_superuser, url, language), "conversation_form")
    assert logged_in_superuser.post(url, {**tab_b, "robot_key": KEY_B}).status_code == 302

    refused = logged_in_superuser.post(url, {**tab_a, "robot_key": KEY_A})

    assert refused.status_code == 200
    assert REPLACED_MEANWHILE[language] in refused.content.decode()
    robot_group.refresh_from_db()
    assert robot_group.robot_key == KEY_B
    shown_again = submitted_form(refused.content.decode(), "conversation_form")
    again = logged_in_superuser.post(url, {**shown_again, "robot_key": KEY_A})
    assert again.status_code == 302, again.content.decode()[:2000]
    robot_group.refresh_from_db()
    assert robot_group.robot_key == KEY_A


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row lock: PostgreSQL's")
def test_an_empty_robot_key_saved_in_the_admin_keeps_a_new_one_saved_meanwhile(
    transactional_db, logged_in_superuser, robot_group
):
    """The form kept the key its request read, and saved the whole row over the one
    another admin had just given a new key."""
    url = reverse("admin:conversations_conversation_change", args=[robot_group.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "conversation_form")

    def new_key(other):  # another admin, while the admin's request waits for the row
        other.robot_key = KEY_B
        other.save(update_fields=["robot_key", "updated_at"])

    with changed_while_waited_for(Conversation, robot_group.pk, new_key):
        saved = logged_in_superuser.post(url, {**form, "name": "销售二群"})

    assert saved.status_code == 302, saved.content.decode()[:2000]
    robot_group.refresh_from_db()
    assert (robot_group.name, robot_group.robot_key) == ("销售二群", KEY_B)


def test_a_robot_key_left_empty_in_the_admin_is_no_change_in_its_audit_entry(
    logged_in_superuser, robot_group
):
    """The key's field is never filled in, so an empty one differed from the stored key:
    renaming the group recorded `robot_key` as changed too, though the key was kept."""
    url = reverse("admin:conversations_conversation_change", args=[robot_group.pk])
    form = submitted_form(admin_page(logged_in_superuser, url, "en"), "conversation_form")

    renamed = logged_in_superuser.post(url, {**form, "name": "销售二群"})
    typed = logged_in_superuser.post(url, {**form, "name": "销售二群", "robot_key": KEY_A})

    assert (renamed.status_code, typed.status_code) == (302, 302)
    entries = OperatorAction.objects.filter(action="conversation.update").order_by("pk")
    assert [entry.summary for entry in entries] == ["name", "robot_key"]
    robot_group.refresh_from_db()
    assert robot_group.robot_key == KEY_A
