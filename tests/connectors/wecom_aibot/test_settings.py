import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.registry import connector_for
from connectors.wecom_aibot import credentials
from conversations.models import Bot


def createbot(*args) -> dict:
    out = StringIO()
    call_command("createbot", "--connector", "wecom_aibot", *args, stdout=out)
    return json.loads(out.getvalue())


def test_createbot_makes_an_ai_bot_from_its_bot_id_and_secret_and_prints_it_like_the_others(db):
    result = createbot(
        "--name", "helper", "--bot-id", "aib-123", "--bot-secret", "s3cret",
        "--webhook-url", "https://hooks.example.com/in",
    )  # fmt: skip

    bot = Bot.objects.get(pk=result["id"])
    assert result == {
        "id": bot.pk,
        "name": "helper",
        "connector": "wecom_aibot",
        "secret": bot.secret,
        "signing_secret": bot.webhook_endpoints.get(is_primary=True).signing_secret,
    }  # the bot secret is never printed back
    assert bot.connector_settings == {"bot_id": "aib-123", "bot_secret": "s3cret"}
    assert bot.webhook_url == "https://hooks.example.com/in"


def test_the_websocket_url_defaults_to_the_setting_and_a_bot_may_have_its_own(db, settings):
    settings.WECOM_AIBOT_WS_URL = "wss://openws.example.com"
    default = Bot.objects.get(
        pk=createbot("--name", "a", "--bot-id", "b1", "--bot-secret", "s")["id"]
    )
    own = Bot.objects.get(
        pk=createbot(
            "--name", "b", "--bot-id", "b2", "--bot-secret", "s", "--ws-url", "ws://10.1.2.3:9000"
        )["id"]
    )  # fmt: skip

    assert credentials(default) == ("b1", "s", "wss://openws.example.com")
    assert credentials(own) == ("b2", "s", "ws://10.1.2.3:9000")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--bot-secret", "s"], "bot_id"),
        (["--bot-id", "b1"], "bot_secret"),
        (
            ["--bot-id", "b1", "--bot-secret", "s", "--ws-url", "https://openws.example.com"],
            "ws_url",
        ),
        (["--bot-id", "b 1", "--bot-secret", "s"], "bot_id"),
    ],
)
def test_createbot_refuses_missing_or_malformed_settings_naming_the_field(db, args, field):
    with pytest.raises(CommandError) as refused:
        createbot("--name", "x", *args)
    assert field in str(refused.value)
    assert not Bot.objects.exists()


def test_the_admin_masks_the_bot_secret(db, admin_client):
    bot = Bot.objects.get(
        pk=createbot("--name", "a", "--bot-id", "b1", "--bot-secret", "t0ps3cret")["id"]
    )

    page = admin_client.get(f"/admin/conversations/bot/{bot.pk}/change/").content.decode()

    assert "t0ps3cret" not in page
    assert 'name="bot_secret"' in page


def test_an_ai_bot_cannot_list_contacts_and_keeps_the_chats_it_saw(db):
    bot = Bot.objects.get(pk=createbot("--name", "a", "--bot-id", "b1", "--bot-secret", "s")["id"])
    connector = connector_for(bot)
    assert not connector.lists_contacts
    assert not connector.syncs_contacts()  # a sync says so (tests/conversations/test_sync.py)


def test_the_gateway_on_a_port_in_use_says_which_setting_moves_it(fast_gateway, settings, db):
    """A fixed WECOM_AIBOT_GATEWAY_PORT that another gateway (a second `make run`) holds:
    the process died with a traceback ending in "OSError: [Errno 98] Address already in
    use", naming neither the port nor the setting."""
    import socket

    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.WECOM_AIBOT_GATEWAY_HOST, settings.WECOM_AIBOT_GATEWAY_PORT = taken.getsockname()
        with pytest.raises(CommandError) as refused:
            call_command("aibot_gateway", stdout=StringIO())
    finally:
        taken.close()

    port = settings.WECOM_AIBOT_GATEWAY_PORT
    assert f"port {port} of 127.0.0.1 is in use" in str(refused.value)
    assert "WECOM_AIBOT_GATEWAY_PORT" in str(refused.value)
