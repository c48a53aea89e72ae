"""The setup checklist on an AI bot's console page: the BotID and masked Secret, no callback
URL to paste, and step states that follow the gateway's long connection to a fake WeCom
(connected, refused credentials, a connection that fails and why) and the first message."""

import re
import socket

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from conversations.models import BotConnection
from tests.polling import wait_until

from .test_inbound import direct_text, inbound


@pytest.fixture
def console(make_operator):
    def log_in(bot, admin: bool = True, language: str = "en") -> Client:
        user = make_operator(f"op{bot.pk}{admin}", bot)
        if not admin:
            user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
        client = Client()
        client.force_login(user)
        client.post(reverse("set_language"), {"language": language, "next": "/"})
        return client

    return log_in


def step(client, bot, key: str) -> str:
    html = client.get(reverse("console:bot_setup_checklist", args=[bot.pk])).content.decode()
    return html.split(f'id="setup-step-{key}"')[1].split("</li>")[0]


def state(client, bot, key: str) -> str:
    return re.search(r'data-state="(\w+)"', step(client, bot, key))[1]


def test_the_checklist_asks_for_a_long_connection_and_shows_the_bot_id_and_masked_secret(
    aibot, console
):
    client = console(aibot)
    page = client.get(reverse("console:bot", args=[aibot.pk])).content.decode()
    create = step(client, aibot, "create")

    assert "长连接" in create and "回调 URL" in create
    assert "<code>bot1</code>" in create and "secret1" not in page
    assert reverse("console:bot_reveal", args=[aibot.pk, "bot_secret"]) in create
    assert "/callback" not in page.split('id="setup-checklist"')[1].split("</section>")[0]
    assert "wss://openws.work.weixin.qq.com" in create  # the server's, said to be so
    assert "WECOM_AIBOT_WS_URL" in create


def test_the_setup_guide_shows_the_long_connection_url_the_checklist_shows(aibot, console):
    """Left empty in the bot's settings: both name the server's, and say it is that."""
    client = console(aibot, language="zh-hans")
    page = client.get(reverse("console:bot", args=[aibot.pk])).content.decode()

    guide = page.split('id="connector-values"')[1].split("</dl>")[0]
    row = guide.split("长连接地址")[1].split("</dd>")[0]
    assert "<code>wss://openws.work.weixin.qq.com</code>" in row
    assert "服务器的 WECOM_AIBOT_WS_URL" in row
    assert "wss://openws.work.weixin.qq.com" in step(client, aibot, "create")


def test_the_process_holding_the_connection_is_named_in_an_operators_terms(
    aibot_server, aibot, start_gateway, superuser, console
):
    start_gateway("vm:10437:ebd9109e")
    aibot_server.wait_connected("bot1")
    admin = Client()
    admin.force_login(superuser)
    url = reverse("console:bot", args=[aibot.pk])
    assert wait_until(lambda: "已连接" in admin.get(url).content.decode(), timeout=30)

    live = admin.get(url).content.decode().split('id="live-connection"')[1].split("</dl>")[0]
    held_by = live.split("持有者</dt>")[1].split("</dd>")[0]
    assert "主机 vm 上的网关进程（PID 10437）" in held_by
    # The lease's own id, for whoever reads the gateway's log, folded away.
    assert "<details>" in held_by and held_by.index("<details>") < held_by.index("vm:10437")
    assert "由主机 vm 上的网关进程（PID 10437）保持" in step(
        console(aibot, language="zh-hans"), aibot, "connection"
    )


def test_an_operator_without_admin_rights_sees_the_secret_masked_without_reveal(aibot, console):
    create = step(console(aibot, admin=False), aibot, "create")

    assert "secr•" in create and "secret1" not in create
    assert "data-reveal-url" not in create


def test_the_connection_step_flips_to_done_when_the_gateway_connects(
    aibot_server, aibot, start_gateway, console
):
    client = console(aibot)
    assert state(client, aibot, "connection") == "todo"
    assert "manage.py aibot_gateway" in step(client, aibot, "connection")

    start_gateway()
    aibot_server.wait_connected("bot1")

    assert wait_until(lambda: state(client, aibot, "connection") == "done", timeout=30)
    assert "Connected" in step(client, aibot, "connection")


def test_a_failing_connection_shows_the_reason_in_the_operators_words(
    fast_gateway, aibot, start_gateway, console
):
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fast_gateway.WECOM_AIBOT_WS_URL = f"ws://127.0.0.1:{port}/"
    start_gateway()
    assert wait_until(lambda: BotConnection.objects.filter(pk=aibot.pk, last_error__gt="").exists())

    connection = step(console(aibot, language="zh-hans"), aibot, "connection")

    assert 'data-state="todo"' in connection
    assert "127.0.0.1 拒绝了连接" in connection
    assert "Errno" not in connection and "ConnectionRefused" not in connection


def test_refused_credentials_mark_the_first_step_as_a_problem(
    aibot_server, make_aibot, start_gateway, console
):
    bot = make_aibot(secret="not-the-secret")
    client = console(bot)
    start_gateway()

    assert wait_until(lambda: state(client, bot, "create") == "failed", timeout=30)
    assert "WeCom refused the BotID or Secret" in step(client, bot, "create")
    assert state(client, bot, "connection") == "failed"


def test_the_message_step_flips_to_done_when_a_message_arrives(
    aibot_server, aibot, connected, console
):
    client = console(aibot)
    assert state(client, aibot, "received") == "todo"

    aibot_server.push_message("bot1", direct_text())
    assert wait_until(lambda: inbound().count() == 1, timeout=30)

    assert state(client, aibot, "received") == "done"


def test_a_new_ai_bot_says_its_long_connection_reports_not_to_test_the_connection(aibot, console):
    """Its gateway holds the connection: "test the connection to ask" sent the operator to
    a button that learns nothing the long connection does not report itself."""
    page = console(aibot, language="zh-hans").get(reverse("console:bot", args=[aibot.pk]))

    state_text = page.content.decode().split('id="connection-state"')[1].split("</p>")[0]
    assert "企业微信接受长连接后，状态会显示在这里" in state_text
    assert "测试连接即可查询" not in state_text
