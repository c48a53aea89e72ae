"""BOTADMIN_AGENT_NETWORKS: where bridge agents may be, checked when saved and when called."""

import pytest

from botadmin import http
from botadmin.networks import parse_networks
from connectors.bridge import BridgeSettings
from messaging.delivery import deliver
from messaging.delivery_actions import check_connection
from messaging.models import Message
from messaging.sending import accept_outbound


@pytest.fixture
def elsewhere(settings):
    settings.BOTADMIN_AGENT_NETWORKS = ["10.20.0.0/16"]


def test_an_agent_outside_the_networks_is_never_called(elsewhere, bridge_bot, agent):
    ok, text = check_connection(bridge_bot, None)
    assert not ok
    assert "agent URL refused" in text and "outside the allowed networks" in text
    assert agent.contact_requests == []


def test_a_message_to_an_agent_outside_the_networks_fails_at_once_and_is_never_sent(
    elsewhere, bridge_bot, make_conversation, agent
):
    """The networks were narrowed after the bot was saved: its messages fail, saying why,
    instead of being retried toward an address the operator ruled out."""
    group = make_conversation(bridge_bot, "wrDemoGroup0001")
    message = accept_outbound(
        bot=bridge_bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": "hi"}},
        source=Message.Source.API,
    )

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.last_error == (
        "agent URL refused: 127.0.0.1 resolves to 127.0.0.1, outside the allowed networks"
    )
    assert agent.send_requests == []


def test_an_agent_inside_the_networks_answers(settings, bridge_bot):
    settings.BOTADMIN_AGENT_NETWORKS = ["10.20.0.0/16", "127.0.0.0/8"]
    ok, _text = check_connection(bridge_bot, None)
    assert ok


def test_an_agent_url_outside_the_networks_is_refused_when_saved(elsewhere):
    form = BridgeSettings(data={"agent_url": "http://127.0.0.1:8500", "agent_token": "t" * 40})
    assert not form.is_valid()
    assert "BOTADMIN_AGENT_NETWORKS" in str(form.errors["agent_url"])


def test_an_agent_url_whose_host_resolves_too_slowly_is_refused_for_now(elsewhere, hung_resolver):
    form = BridgeSettings(data={"agent_url": "http://agent.hung.example", "agent_token": "t" * 40})
    assert not form.is_valid()
    assert form.errors["agent_url"] == [
        "现在无法检查代理 URL：无法在 0.2 秒内解析 agent.hung.example。请稍后再试。"
    ]


def test_without_networks_agents_may_be_anywhere(settings):
    settings.BOTADMIN_AGENT_NETWORKS = []
    form = BridgeSettings(data={"agent_url": "http://127.0.0.1:8500", "agent_token": "t" * 40})
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("url", "networks", "allowed"),
    [
        ("http://127.0.0.1:1/", ("127.0.0.0/8",), True),
        ("http://127.0.0.1:1/", ("10.0.0.0/8",), False),
        ("http://[::1]:1/", ("127.0.0.0/8",), False),  # an IPv6 address is in no IPv4 network
        ("http://[::1]:1/", ("::1/128",), True),
    ],
)
def test_networks_allow_only_their_addresses_even_private_ones(url, networks, allowed):
    check = lambda: http.check_url(url, allow_private=True, networks=parse_networks(networks))  # noqa: E731
    if allowed:
        check()
    else:
        with pytest.raises(http.UnsafeURLError):
            check()
