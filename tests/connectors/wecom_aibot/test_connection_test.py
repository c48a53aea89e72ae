""" "Test the connection" on an AI bot: it passes only while WeCom has accepted the gateway's
long connection, not merely while a gateway holds the bot and keeps being refused."""

import socket

import pytest
from django.utils import translation

from botadmin import reasons
from connectors.base import ConnectorError
from connectors.registry import connector_for
from conversations.models import BotConnection
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
