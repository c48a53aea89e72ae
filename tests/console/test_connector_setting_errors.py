"""A refused connector setting says what the field takes, in the reader's language,
where Django's words ("Enter a valid URL.", "at least 43 characters") left it unsaid."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.connectors.wecom_app.conftest import app_settings

SAID = {
    "zh-hans": {
        "ws_url": "请输入 WebSocket 地址：wss://主机 或 ws://主机，例如 wss://openws.work.weixin.qq.com。",
        "encoding_aes_key": "EncodingAESKey 正好是 43 个字母和数字；这里填了 %d 个。",
    },
    "en": {
        "ws_url": "Enter a WebSocket URL: wss://host or ws://host, e.g. "
        "wss://openws.work.weixin.qq.com.",
        "encoding_aes_key": "The EncodingAESKey is exactly 43 letters and digits; this one has %d.",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_ai_bots_https_url_is_refused_as_not_a_websocket_url(
    operator_client, operator, make_bot, language
):
    settings = {"bot_id": "aibA", "bot_secret": "s" * 20, "ws_url": ""}
    bot = make_bot(
        connector="wecom_aibot", agent_url="", agent_token="", connector_settings=settings
    )
    bot.operators.add(operator)
    operator_client.cookies["django_language"] = language

    refused = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {"settings-bot_id": "aibA", "settings-ws_url": "https://openws.work.weixin.qq.com"},
    )

    assert refused.status_code == 400
    assert escape(SAID[language]["ws_url"]) in refused.content.decode()
    bot.refresh_from_db()
    assert bot.connector_settings == settings


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("length", [5, 44])
def test_an_encoding_aes_key_of_the_wrong_length_is_refused_with_its_length(
    operator_client, operator, make_bot, language, length
):
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
            "settings-encoding_aes_key": "a" * length,
        },
    )

    assert refused.status_code == 400
    assert escape(SAID[language]["encoding_aes_key"] % length) in refused.content.decode()
    bot.refresh_from_db()
    assert bot.connector_settings["encoding_aes_key"] == app_settings()["encoding_aes_key"]
