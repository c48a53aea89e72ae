"""A long connection that cannot be made: operators read why in their language, never
Python's words (`gaierror: [Errno -2] …`) or the gateway's process id."""

import socket

import pytest
from django.test import Client
from django.urls import reverse

from botadmin.local_http import Answer, LocalServer
from conversations.models import BotConnection
from tests.polling import wait_until

DASHBOARD = reverse("console:dashboard")


class Forbidden(LocalServer):
    """A web server that answers the WebSocket handshake with 403, as a proxy or a
    firewall in front of WeCom may."""

    def handle(self, request) -> Answer:
        return Answer(403, b"forbidden")


def last_error(bot) -> str:
    row = BotConnection.objects.filter(pk=bot.pk).first()
    return row.last_error if row else ""


@pytest.fixture
def operator_of(make_operator):
    made = {}

    def log_in(bot, language: str = "zh-hans") -> Client:
        client = Client()
        if bot.pk not in made:
            made[bot.pk] = make_operator(f"lihua{bot.pk}", bot)
        client.force_login(made[bot.pk])
        if language != "zh-hans":
            client.post(reverse("set_language"), {"language": language, "next": "/"})
        return client

    return log_in


def dashboard_row(client, bot) -> str:
    page = client.get(DASHBOARD).content.decode()
    return page.split(f'href="{reverse("console:conversations", args=[bot.pk])}"')[1].split(
        "</tr>"
    )[0]


def test_an_unknown_host_reads_as_a_host_name_that_cannot_be_resolved(
    fast_gateway, unknown_names, aibot, start_gateway, operator_of
):
    fast_gateway.WECOM_AIBOT_WS_URL = "wss://openws.work.invalid/"
    start_gateway("vm:10181:0ffcd9f2")

    assert wait_until(lambda: last_error(aibot), timeout=30)
    row = dashboard_row(operator_of(aibot), aibot)

    assert "正在重连" in row
    assert "无法解析 openws.work.invalid" in row
    assert "gaierror" not in row and "Errno" not in row and "Name or service" not in row
    assert "vm:10181" not in row
    english = dashboard_row(operator_of(aibot, "en"), aibot)
    assert "Cannot resolve openws.work.invalid" in english  # on its own: a capital


def test_a_refused_port_reads_as_a_refused_connection(
    fast_gateway, aibot, start_gateway, operator_of
):
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fast_gateway.WECOM_AIBOT_WS_URL = f"ws://127.0.0.1:{port}/"
    start_gateway()

    assert wait_until(lambda: last_error(aibot), timeout=30)
    row = dashboard_row(operator_of(aibot), aibot)

    assert "127.0.0.1 拒绝了连接" in row
    assert "Errno" not in row and "ConnectionRefused" not in row


def test_an_http_answer_to_the_handshake_names_its_status(
    fast_gateway, aibot, start_gateway, operator_of
):
    with Forbidden() as server:
        fast_gateway.WECOM_AIBOT_WS_URL = server.url("/").replace("http://", "ws://")
        start_gateway()
        assert wait_until(lambda: last_error(aibot), timeout=30)
        # Read while the server still answers 403: once it is gone, the gateway's next
        # try is refused and stores that instead.
        row = dashboard_row(operator_of(aibot), aibot)

    assert "企业微信服务器 127.0.0.1 以 HTTP 状态 403 回应了连接" in row
    assert "InvalidStatus" not in row


def test_an_error_stored_by_an_earlier_gateway_is_not_shown_as_it_is(aibot, operator_of):
    BotConnection.objects.create(
        bot=aibot,
        state="retrying",
        holder="vm:10181:0ffcd9f2",
        last_error="gaierror: [Errno -2] Name or service not known",
    )
    client = operator_of(aibot)

    row = dashboard_row(client, aibot)
    status = client.get(reverse("console:bot_connection_status", args=[aibot.pk])).json()

    for shown in (row, status["html"]):
        assert "连接失败（详情见网关日志）" in shown
        assert "gaierror" not in shown and "vm:10181" not in shown
