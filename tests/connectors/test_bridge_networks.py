"""Where bridge agents may be (BOTADMIN_AGENT_NETWORKS, never a link-local or unspecified
address), checked when saved and when called."""

import socket

import pytest

from botadmin import http
from botadmin.networks import parse_networks
from connectors.base import Outcome
from connectors.bridge import BridgeSettings
from connectors.registry import connector_for
from conversations.services import check_connection
from messaging.delivery import deliver
from messaging.models import Message
from messaging.sending import accept_outbound


def queue_text(bot, make_conversation):
    """A text message to the bot's demo group, accepted as /api/send accepts it."""
    group = make_conversation(bot, "wrDemoGroup0001")
    return accept_outbound(
        bot=bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": "hi"}},
        source=Message.Source.API,
    )


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
    message = queue_text(bridge_bot, make_conversation)

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


@pytest.fixture
def checked(settings):
    """Production's URL checks: BOTADMIN_ALLOW_PRIVATE_URLS off, no agent networks."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_AGENT_NETWORKS = []


NEVER_AN_AGENT = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/role?x=",
    "http://[fe80::1]:7600",
    "http://0.0.0.0:7600",
    "http://[::]:7600",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
    "http://[64:ff9b::a9fe:a9fe]/",  # the same through NAT64
]


@pytest.mark.parametrize("url", NEVER_AN_AGENT)
def test_a_link_local_or_unspecified_agent_url_is_refused_when_saved(checked, url):
    form = BridgeSettings(data={"agent_url": url, "agent_token": "t" * 40})

    assert not form.is_valid()
    (error,) = form.errors["agent_url"]
    assert error.startswith("不允许此代理 URL：") and "链路本地或未指定地址" in error


@pytest.mark.parametrize("listed", ["169.254.0.0/16", "::ffff:0:0/96", "fe80::/10", "0.0.0.0/8"])
def test_listing_a_link_local_network_does_not_let_an_agent_be_there(settings, listed):
    settings.BOTADMIN_AGENT_NETWORKS = [listed]
    for url in ("http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/"):
        with pytest.raises(http.UnsafeURLError, match="where no agent may be"):
            http.check_url(url, agent=True)
    with pytest.raises(http.UnsafeURLError, match="where no agent may be"):
        http.check_url("http://0.0.0.0/", agent=True)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5:7600", "http://192.168.1.20/", "http://[fd00::5]/", "http://127.0.0.1:9"],
)
def test_an_agent_on_a_private_address_is_still_allowed_without_networks(checked, url):
    """An agent usually sits inside the company's network, or beside botadmin."""
    form = BridgeSettings(data={"agent_url": url, "agent_token": "t" * 40})
    assert form.is_valid(), form.errors


def test_a_message_to_an_agent_at_the_metadata_address_fails_at_once_and_is_never_sent(
    checked, make_bot, make_conversation
):
    """The URL was saved before this check existed (or by a path that skipped it)."""
    bot = make_bot(name="meta", agent_url=NEVER_AN_AGENT[0], agent_token="t" * 40)
    message = queue_text(bot, make_conversation)

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.last_error == (
        "agent URL refused: 169.254.169.254 resolves to 169.254.169.254, "
        "a link-local or unspecified address, where no agent may be"
    )


def test_an_agent_on_loopback_answers_with_the_checks_on(
    checked, bridge_bot, make_conversation, agent
):
    """The connection goes to the address the check approved (the pinned session)."""
    message = queue_text(bridge_bot, make_conversation)

    assert deliver(message.pk).result == "sent"
    assert len(agent.send_requests) == 1


def test_an_agent_whose_name_does_not_exist_is_retried(
    checked, make_bot, make_conversation, monkeypatch
):
    """An agent's name is the operator's own (a container's): it may exist again soon."""
    bot = make_bot(name="gone", agent_url="http://agent.internal:7600", agent_token="t" * 40)
    group = make_conversation(bot, "wrDemoGroup0001")

    def resolver(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    result = connector_for(bot).send("m1", group, {"msgtype": "text", "text": {"content": "hi"}})

    assert result.outcome == Outcome.RETRY
    assert result.detail == "agent unreachable: cannot resolve agent.internal"
