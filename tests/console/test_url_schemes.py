"""A URL an operator enters for botadmin to call (a bridge agent, an app's outbound proxy,
a webhook endpoint) with another scheme than http(s) is refused saying so, in the
reader's language, where Django's "Enter a valid URL." left them guessing what was wrong."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from conversations.models import Bot
from forwarding.models import WebhookEndpoint
from tests.connectors.wecom_app.conftest import app_settings

SAID = {
    "zh-hans": {
        "agent_url": "代理 URL 必须以 http:// 或 https:// 开头。",
        "proxy_url": "出站代理 URL 必须以 http:// 或 https:// 开头。",
        "url": "Webhook 地址必须以 http:// 或 https:// 开头。",
    },
    "en": {
        "agent_url": "The agent URL must start with http:// or https://.",
        "proxy_url": "The outbound proxy URL must start with http:// or https://.",
        "url": "The webhook URL must start with http:// or https://.",
    },
}
LANGUAGES = pytest.mark.parametrize("language", ["zh-hans", "en"])


@LANGUAGES
@pytest.mark.parametrize("entered", ["ftp://agent.internal:8080", "agent.internal:8080"])
def test_a_new_bridge_bots_agent_url_must_start_with_http(operator_client, language, entered):
    operator_client.cookies["django_language"] = language

    refused = operator_client.post(
        reverse("console:bot_create"),
        {"connector": "bridge", "name": "新桥", "settings-agent_url": entered},
    )

    assert escape(SAID[language]["agent_url"]) in refused.content.decode()
    assert not Bot.objects.filter(name="新桥").exists()


@LANGUAGES
def test_a_bridge_bots_agent_url_changed_to_ftp_is_refused_saying_why(
    operator_client, bot, language
):
    operator_client.cookies["django_language"] = language

    refused = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {"settings-agent_url": "ftp://agent.internal", "settings-agent_token": ""},
    )

    assert refused.status_code == 400
    assert escape(SAID[language]["agent_url"]) in refused.content.decode()
    bot.refresh_from_db()
    assert bot.agent_url == "http://127.0.0.1:9"


@LANGUAGES
def test_an_app_bots_proxy_url_must_start_with_http(operator_client, operator, make_bot, language):
    bot = make_bot(
        connector="wecom_app", agent_url="", agent_token="", connector_settings=app_settings()
    )
    bot.operators.add(operator)
    operator_client.cookies["django_language"] = language

    refused = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {
            "settings-corp_id": app_settings()["corp_id"],
            "settings-agent_id": app_settings()["agent_id"],
            "settings-proxy_url": "socks5://proxy.internal:1080",
        },
    )

    assert refused.status_code == 400
    assert escape(SAID[language]["proxy_url"]) in refused.content.decode()
    bot.refresh_from_db()
    assert bot.connector_settings["proxy_url"] == ""


@LANGUAGES
def test_a_webhook_endpoints_url_must_start_with_http(operator_client, bot, language):
    operator_client.cookies["django_language"] = language

    refused = operator_client.post(
        reverse("console:webhook_add", args=[bot.pk]), {"url": "ftp://hooks.example.com/in"}
    )

    assert refused.status_code == 400
    assert escape(SAID[language]["url"]) in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_url_with_http_but_no_host_is_still_told_it_is_not_valid(operator_client, bot):
    operator_client.cookies["django_language"] = "en"

    refused = operator_client.post(
        reverse("console:webhook_add", args=[bot.pk]), {"url": "https://not a url"}
    )

    assert refused.status_code == 400
    assert "Enter a valid URL." in refused.content.decode()
