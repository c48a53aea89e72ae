"""Operators versus bot admins (conversations/roles.py), and the holes the split closes.

Each test here failed before the bot admin permission existed: an operator who
could edit a bot set its agent URL, managed its webhook endpoints (which
receive the API secret), and saw every bot and endpoint in the admin's filters.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from botadmin.local_http import Answer, LocalServer
from conversations.models import Conversation
from forwarding.models import WebhookEndpoint


@pytest.fixture
def plain_operator(make_operator, bot):
    """May view and change the bot's rows, but is no bot admin."""
    user = make_operator("olga", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    return user


def bot_form(bot, **changes) -> dict:
    return {
        "name": bot.name,
        "is_active": "on",
        "connector": "bridge",
        "agent_url": bot.agent_url,
        "agent_token": "",
        "webhook_url": bot.webhook_url,
        "rate_limit_per_minute": 20,
        **changes,
    }


def test_an_operator_who_is_no_bot_admin_cannot_set_the_agent_url(client, plain_operator, bot):
    client.force_login(plain_operator)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    page = client.get(url).content.decode()
    assert 'name="agent_url"' not in page
    client.post(url, bot_form(bot, agent_url="http://10.0.0.7:8500/", rate_limit_per_minute=7))
    bot.refresh_from_db()
    assert bot.agent_url == "http://127.0.0.1:9"
    assert bot.rate_limit_per_minute == 7  # the pace stays theirs to change


def test_a_bot_admin_sets_the_agent_url(client, make_operator, bot):
    client.force_login(make_operator("anna", bot))
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    response = client.post(url, bot_form(bot, agent_url="http://10.0.0.7:8500/"))
    assert response.status_code == 302, response.content.decode()[:1500]
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.0.0.7:8500/"


def test_only_bot_admins_create_bots_in_the_admin(client, plain_operator):
    client.force_login(plain_operator)
    assert client.get(reverse("admin:conversations_bot_add")).status_code == 403


def test_an_operator_who_is_no_bot_admin_cannot_manage_webhook_endpoints(
    client, plain_operator, bot
):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    client.force_login(plain_operator)
    add = client.post(
        reverse("admin:forwarding_webhookendpoint_add"),
        {"bot": bot.pk, "url": "https://attacker.example/", "msgtypes": "[]", "is_active": "on"},
    )
    assert add.status_code == 403
    assert not WebhookEndpoint.objects.filter(url="https://attacker.example/").exists()
    test_event = client.post(
        reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk])
    )
    assert test_event.status_code == 403


def test_an_operator_who_is_no_bot_admin_cannot_rotate_in_the_admin(client, plain_operator, bot):
    client.force_login(plain_operator)
    old = bot.secret
    url = reverse("admin:conversations_bot_rotate_secret", args=[bot.pk])
    assert client.post(url).status_code == 403
    bot.refresh_from_db()
    assert bot.secret == old


@pytest.mark.parametrize(
    ("changelist", "hidden"),
    [
        ("admin:conversations_conversation_changelist", "rival"),
        ("admin:messaging_message_changelist", "rival"),
        ("admin:audit_operatoraction_changelist", "rival"),
        ("admin:conversations_syncrun_changelist", "rival"),
        ("admin:forwarding_webhookendpoint_changelist", "rival"),
        ("admin:forwarding_webhookdelivery_changelist", "rival-hooks.example"),
    ],
)
def test_the_admins_list_filters_offer_only_the_users_bots(
    client, make_operator, bot, make_bot, changelist, hidden
):
    other = make_bot(name="rival")
    WebhookEndpoint.objects.create(bot=other, url="https://rival-hooks.example/in")
    WebhookEndpoint.objects.create(bot=bot, url="https://own-hooks.example/in")
    WebhookEndpoint.objects.create(bot=bot, url="https://own-hooks.example/other")
    alice = make_operator("alice", bot)
    alice.user_permissions.add(Permission.objects.get(codename="view_operatoraction"))
    client.force_login(alice)
    response = client.get(reverse(changelist))
    assert response.status_code == 200
    page = response.content.decode()
    assert hidden not in page
    if changelist.endswith("webhookdelivery_changelist"):
        assert "own-hooks.example" in page  # the filter still lists the user's own


def test_the_deliveries_msgtype_filter_lists_only_the_users_bots_msgtypes(
    client, make_operator, bot, make_bot, make_conversation, superuser
):
    from messaging.models import Message

    other = make_bot(name="rival")
    for owner, msgtype in ((bot, "text"), (other, "secret_rival_type")):
        Message.objects.create(
            bot=owner,
            conversation=make_conversation(owner, f"wr-{owner.name}"),
            direction=Message.Direction.IN,
            msgtype=msgtype,
            body={},
            status=Message.Status.RECEIVED,
            source=Message.Source.AGENT,
        )
    url = reverse("admin:forwarding_webhookdelivery_changelist")
    client.force_login(make_operator("alice", bot))

    page = client.get(url).content.decode()

    assert "message__msgtype=text" in page
    assert "secret_rival_type" not in page
    client.force_login(superuser)
    assert "secret_rival_type" in client.get(url).content.decode()


class Intranet(LocalServer):
    """An internal service that is not an agent: its pages must never reach the operator."""

    def handle(self, request):
        return Answer(404, b"<html>intranet-payroll-secret-page</html>")


def test_a_connection_test_never_shows_or_audits_the_answer_body(client, make_operator, make_bot):
    from audit.models import OperatorAction

    with Intranet() as intranet:
        bot = make_bot(name="probe", agent_url=f"http://127.0.0.1:{intranet.port}")
        client.force_login(make_operator("alice", bot))
        console = client.post(reverse("console:bot_test", args=[bot.pk]), follow=True)
        admin = client.post(
            reverse("admin:conversations_bot_changelist"),
            {"action": "test_connection", "_selected_action": [bot.pk]},
            follow=True,
        )
    for page in (console.content.decode(), admin.content.decode()):
        assert "HTTP 404" in page
        assert "intranet-payroll" not in page
    summaries = list(OperatorAction.objects.values_list("summary", flat=True))
    assert summaries and not any("intranet-payroll" in s for s in summaries)


def test_removing_operators_in_the_admin_offers_to_rotate_the_secret(
    client, superuser, bot, make_operator
):
    make_operator("bob", bot)
    client.force_login(superuser)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    response = client.post(url, bot_form(bot, operators=[]), follow=True)
    assert not bot.operators.exists()
    assert reverse("admin:conversations_bot_rotate_secret", args=[bot.pk]) in (
        response.content.decode()
    )


def test_a_bot_created_in_the_admin_by_a_bot_admin_is_theirs(client, make_operator, bot):
    from conversations.models import Bot

    anna = make_operator("anna", bot)
    client.force_login(anna)
    response = client.post(
        reverse("admin:conversations_bot_add"),
        {
            "name": "annas",
            "is_active": "on",
            "connector": "bridge",
            "agent_url": "http://10.0.0.8:8080",
            "agent_token": "t" * 40,
            "webhook_url": "",
            "rate_limit_per_minute": 20,
        },
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    assert list(Bot.objects.get(name="annas").operators.all()) == [anna]


def test_an_operator_saving_a_bot_whose_agent_is_outside_the_networks_is_told_why(
    client, plain_operator, bot, settings
):
    settings.BOTADMIN_AGENT_NETWORKS = ["10.20.0.0/16"]
    client.force_login(plain_operator)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    response = client.post(url, bot_form(bot, rate_limit_per_minute=7))
    assert response.status_code == 200  # the form again, not a 500
    assert "BOTADMIN_AGENT_NETWORKS" in response.content.decode()


@pytest.fixture
def robot_group(make_bot, make_conversation):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    return make_conversation(robot, "wrSales", name="销售群", robot_key="key-sales-0123456789")


NEW_KEY = "0f6e2d1c-3b4a-4c5d-8e9f-a0b1c2d3e4f5"


def conversation_form(group, **changes) -> dict:
    return {
        "bot": group.bot_id,
        "conversation_id": group.conversation_id,
        "kind": group.kind,
        "name": group.name,
        "avatar_url": "",
        "member_count": "",
        "extra": "{}",
        "robot_key": "",
        "is_active": "on",
        **changes,
    }


def test_an_operator_who_is_no_bot_admin_sees_a_robot_key_masked_and_cannot_change_it(
    client, make_operator, robot_group
):
    # A robot key posts into its group: like the agent URL, it is the bot admins'.
    user = make_operator("olga", robot_group.bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)
    url = reverse("admin:conversations_conversation_change", args=[robot_group.pk])

    page = client.get(url).content.decode()
    client.post(url, conversation_form(robot_group, name="改名", robot_key="key-attacker"))

    assert "key-sales-0123456789" not in page and "key-••••••••" in page
    assert 'name="robot_key"' not in page
    robot_group.refresh_from_db()
    assert robot_group.name == "改名"  # the rest stays theirs to change
    assert robot_group.robot_key == "key-sales-0123456789"


def test_a_bot_admin_replaces_a_robot_key_it_never_sees_and_an_empty_field_keeps_it(
    client, make_operator, robot_group
):
    client.force_login(make_operator("anna", robot_group.bot))
    url = reverse("admin:conversations_conversation_change", args=[robot_group.pk])

    page = client.get(url).content.decode()
    kept = client.post(url, conversation_form(robot_group, name="改名"))
    robot_group.refresh_from_db()
    name_and_key = (robot_group.name, robot_group.robot_key)
    replaced = client.post(url, conversation_form(robot_group, robot_key=NEW_KEY))

    assert "key-sales-0123456789" not in page and 'name="robot_key"' in page
    assert kept.status_code == 302, kept.content.decode()[:1500]
    assert name_and_key == ("改名", "key-sales-0123456789")
    assert replaced.status_code == 302
    robot_group.refresh_from_db()
    assert robot_group.robot_key == NEW_KEY


def test_the_admin_keeps_the_key_of_a_pasted_webhook_address_and_wants_a_key_for_a_robot(
    client, make_operator, robot_group
):
    client.force_login(make_operator("anna", robot_group.bot))
    change = reverse("admin:conversations_conversation_change", args=[robot_group.pk])
    add = reverse("admin:conversations_conversation_add")
    address = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={NEW_KEY}"

    pasted = client.post(change, conversation_form(robot_group, robot_key=address))
    robot_group.refresh_from_db()
    keyless = client.post(add, conversation_form(robot_group, conversation_id="wrNew"))
    misshapen = client.post(
        add, conversation_form(robot_group, conversation_id="wrNew", robot_key="key-sales")
    )

    assert pasted.status_code == 302 and robot_group.robot_key == NEW_KEY
    assert keyless.status_code == 200 and "群机器人通过其密钥发消息" in keyless.content.decode()
    assert "这不是机器人密钥" in misshapen.content.decode()
    assert not Conversation.objects.filter(conversation_id="wrNew").exists()
