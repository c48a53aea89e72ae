import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import OperatorAction
from connectors.registry import connector_for
from conversations.models import Bot
from conversations.services import bot_for_secret


def run(*args) -> dict:
    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_createbot_prints_the_new_bot_as_json(db):
    result = run("createbot", "--name", "sales", "--connector", "wecom_robot")
    bot = Bot.objects.get(name="sales")
    assert result == {
        "id": bot.pk,
        "name": "sales",
        "connector": "wecom_robot",
        "secret": bot.secret,
    }


def test_createbot_with_a_webhook_url_prints_that_endpoints_signing_secret(db):
    result = run(
        "createbot", "--name", "hooked", "--connector", "wecom_robot",
        "--webhook-url", "HTTPS://Hooks.Example.com:443/in",
    )  # fmt: skip

    bot = Bot.objects.get(name="hooked")
    endpoint = bot.webhook_endpoints.get()
    assert endpoint.is_primary and endpoint.url == "https://hooks.example.com/in"
    assert bot.webhook_url == endpoint.url  # normalised as the forms save it
    assert result["signing_secret"] == endpoint.signing_secret
    assert result["signing_secret"].startswith("whsec_")


def test_createbot_is_in_the_audit_log_without_the_secrets(db):
    result = run(
        "createbot",
        "--name",
        "hr",
        "--connector",
        "wecom_app",
        "--corp-id",
        "ww1",
        "--agent-id",
        "1000002",
        "--app-secret",
        "app-secret-value",
    )

    entry = OperatorAction.objects.get(action="bot.create")
    assert (entry.actor, entry.bot_id, entry.target_label) == (None, result["id"], "hr")
    assert entry.summary == "Created the bot hr (WeCom self-built app) from the command line."
    stored = entry.summary + str(entry.details)
    assert not any(s in stored for s in ("app-secret-value", result["secret"]))


def test_createbot_for_a_bridge_generates_the_agent_token_when_not_given(db):
    result = run(
        "createbot", "--name", "b", "--connector", "bridge", "--agent-url", "http://10.0.0.5:7600"
    )
    assert len(result["agent_token"]) >= 32
    assert Bot.objects.get(name="b").agent_token == result["agent_token"]


APP_BOT = (
    "createbot", "--connector", "wecom_app",
    "--corp-id", "ww1", "--agent-id", "1000002", "--app-secret", "app-secret-value",
)  # fmt: skip


def test_createbot_sends_mini_programs_as_notices_only_with_the_flag(db):
    run(*APP_BOT, "--name", "linked", "--miniprogram-notice")
    run(*APP_BOT, "--name", "unlinked")

    def offers_notices(name):
        bot = Bot.objects.get(name=name)
        return "miniprogram_notice" in connector_for(bot).msgtypes()

    assert offers_notices("linked")
    assert not offers_notices("unlinked")
    # Not an option taking a value: "false" would have been stored, and read as on.
    with pytest.raises(CommandError, match="unrecognized arguments: false"):
        call_command(*APP_BOT, "--name", "other", "--miniprogram-notice", "false")


def test_createbot_refuses_bad_input_with_a_clear_error(db):
    with pytest.raises(CommandError, match="agent_url"):
        call_command("createbot", "--name", "b", "--connector", "bridge")
    with pytest.raises(CommandError, match="agent_token"):
        call_command(
            "createbot",
            "--name",
            "b",
            "--connector",
            "bridge",
            "--agent-url",
            "http://a",
            "--agent-token",
            "short",
        )
    call_command("createbot", "--name", "dup", "--connector", "wecom_robot", stdout=StringIO())
    with pytest.raises(CommandError, match="name"):
        call_command("createbot", "--name", "dup", "--connector", "wecom_robot")
    assert Bot.objects.count() == 1


CREATE_WITH_LOOPBACK_WEBHOOK = (
    "createbot",
    "--name",
    "b",
    "--connector",
    "wecom_robot",
    "--webhook-url",
    "http://127.0.0.1:9000/hook",
)


def test_createbot_refuses_a_private_webhook_url_as_the_console_does(db, settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    with pytest.raises(
        CommandError,
        match=r"--webhook-url: This URL is not allowed: .*127\.0\.0\.1.*BOTADMIN_WEBHOOK_NETWORKS",
    ):
        call_command(*CREATE_WITH_LOOPBACK_WEBHOOK)
    assert not Bot.objects.exists()


def test_createbot_refuses_a_webhook_url_whose_host_resolves_too_slowly(db, hung_resolver):
    with pytest.raises(
        CommandError, match=r"--webhook-url: This URL cannot be checked now: .* Try"
    ):
        call_command(*CREATE_WITH_LOOPBACK_WEBHOOK[:-1], "https://hooks.hung.example/in")
    assert not Bot.objects.exists()


def test_createbot_takes_a_private_webhook_url_in_the_webhook_networks(db, settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["127.0.0.0/8"]
    result = run(*CREATE_WITH_LOOPBACK_WEBHOOK)
    assert Bot.objects.get(pk=result["id"]).webhook_url == "http://127.0.0.1:9000/hook"


def test_createbot_takes_a_private_webhook_url_when_the_setting_allows_it(db, settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    result = run(*CREATE_WITH_LOOPBACK_WEBHOOK)
    assert Bot.objects.get(pk=result["id"]).webhook_url == "http://127.0.0.1:9000/hook"


def test_createbot_exits_non_zero_on_bad_input():
    completed = subprocess.run(
        [sys.executable, "manage.py", "createbot", "--name", "x", "--connector", "carrier-pigeon"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert "carrier-pigeon" in completed.stderr


def test_rotatesecret_keeps_the_old_secret_for_the_grace_period(bot):
    old = bot.secret
    result = run("rotatesecret", bot.name)
    assert result["secret"] != old
    assert result["previous_secret_valid_until"]
    assert bot_for_secret(old) == bot
    assert bot_for_secret(result["secret"]) == bot


def test_rotatesecret_with_zero_grace_revokes_at_once(bot):
    old = bot.secret
    result = run("rotatesecret", bot.name, "--grace-hours", "0")
    assert result["previous_secret_valid_until"] is None
    assert bot_for_secret(old) is None


def test_rotatesecret_of_an_unknown_bot_fails(db):
    with pytest.raises(CommandError, match="No bot named"):
        call_command("rotatesecret", "nobody")


def test_setup_demo_is_idempotent(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--admin-password", "pw-demo-123", stdout=StringIO())
    call_command("setup_demo", stdout=StringIO())
    assert Bot.objects.filter(name="demo").count() == 1
    assert (tmp_path / "first-run-credentials").read_text().split("\n")[1] == "pw-demo-123"


def test_the_demo_bots_contacts_arrive_by_sync_once_its_agent_listens(db, settings, tmp_path):
    from conversations import demo

    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--admin-password", "pw-demo-123", stdout=StringIO())
    bot = Bot.objects.get(name="demo")
    assert not bot.conversations.exists()

    agent, run = demo.start_agent_and_sync(bot, port=0)
    try:
        assert run.outcome == "succeeded" and run.trigger == "startup"
        bot.refresh_from_db()
        assert bot.agent_url == agent.url
        assert sorted(
            bot.conversations.filter(kind="group").values_list("name", flat=True)
        ) == sorted(g["name"] for g in demo.DEMO_GROUPS)
        assert bot.conversations.filter(kind="user").count() == len(demo.DEMO_USERS)
    finally:
        agent.stop()


def test_the_demo_agent_on_a_port_in_use_says_which_setting_moves_it(db, settings, tmp_path):
    """A second `make run` on the same ports: the demo agent died with a traceback ending
    in "OSError: [Errno 98] Address already in use", naming neither port nor setting."""
    import socket

    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--admin-password", "pw-demo-123", stdout=StringIO())
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError) as refused:
            call_command("demo_agent", "--port", str(port), "--interval", "0", stdout=StringIO())
    finally:
        taken.close()

    assert f"port {port} of 127.0.0.1 is in use" in str(refused.value)
    assert "DEMO_AGENT_PORT" in str(refused.value)
