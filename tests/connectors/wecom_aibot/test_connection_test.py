""" "Test the connection" on an AI bot: it passes only while WeCom has accepted the gateway's
long connection, not merely while a gateway holds the bot and keeps being refused."""

import socket

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags

from botadmin import reasons
from connectors.base import ConnectorError
from connectors.registry import connector_for
from conversations import connections
from conversations.models import BotConnection
from conversations.services import check_connection
from tests.polling import wait_until


def in_english(reason) -> str:
    with translation.override("en"):
        return reasons.translate(reason)


def test_a_connected_bot_passes_naming_the_gateway(aibot, connected):
    assert "(Connected)" in in_english(connector_for(aibot).check())


def test_a_gateway_that_cannot_reach_wecom_fails_the_test_with_why(
    fast_gateway, aibot, start_gateway
):
    """It passed as "held by the gateway process … (Reconnecting)" while every connection
    was refused: a new operator with a mistyped long connection URL read it as working."""
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fast_gateway.WECOM_AIBOT_WS_URL = f"ws://127.0.0.1:{port}/"
    start_gateway()
    assert wait_until(
        lambda: BotConnection.objects.filter(pk=aibot.pk, holder__gt="", last_error__gt="").exists()
    )

    with pytest.raises(ConnectorError) as failed:
        connector_for(aibot).check()

    said = in_english(reasons.of(failed.value))
    assert "not connected to WeCom" in said and "127.0.0.1 refused the connection" in said


def test_a_test_while_the_gateway_is_still_connecting_says_to_try_again_then_passes(
    aibot_server, aibot, start_gateway, client, make_operator
):
    """An operator testing a new bot at once read "failed" while WeCom had yet to accept the
    gateway's subscription, then "connected" a few seconds later."""
    aibot_server.subscribe_delay = 8  # WeCom answers the subscription late
    start_gateway()
    assert wait_until(lambda: aibot_server.frames_of("aibot_subscribe"), timeout=30)
    assert connections.status(aibot)["state"] == "connecting"
    client.force_login(make_operator("alice", aibot))
    test_url = reverse("console:bot_test", args=[aibot.pk])

    page = strip_tags(client.post(test_url, follow=True).content.decode())

    assert "上次测试：仍在连接" in page and "上次测试：失败" not in page
    assert "仍在连接企业微信（正在连接），请几秒后再试" in page
    ok, text = check_connection(aibot, None)
    assert ok is None and "try again in a few seconds" in in_english(text)
    log = strip_tags(client.get(reverse("console:operator_actions")).content.decode())
    assert "仍在连接 · 由" in log and "失败 · " not in log

    assert wait_until(lambda: connections.status(aibot)["state"] == "connected", timeout=30)
    page = strip_tags(client.post(test_url, follow=True).content.decode())
    assert "上次测试：连接正常" in page
