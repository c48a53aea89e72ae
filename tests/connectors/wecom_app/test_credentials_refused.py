"""WeCom refusing an app bot's settings (a wrong corp ID or secret, AgentId, a disabled app,
an untrusted IP: no send can work until an operator acts) shows the bot as "Credentials
refused" wherever its state shows, as soon as a connection test or a contact sync met it,
with what to fix, in both languages; and no longer once a later call is accepted or the
corrected settings are saved. WeCom busy, or a permission one call lacks, is no refusal.
The fake WeCom is a real server on 127.0.0.1."""

import time
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from conversations import sync
from conversations.models import Bot, SyncRun
from tests.html_forms import submitted_form
from tests.refused_states import REFUSED, assert_not_refused, assert_refused, shown

from .conftest import AGENT_ID, SECRET
from .test_callback import post_encrypted
from .test_media import PNG, fetch_due, received

WRONG_SECRET = {
    "zh-hans": "企业微信拒绝了企业ID或应用 Secret（gettoken: 40001 invalid credential）",
    "en": "WeCom refuses the corp ID or app secret (gettoken: 40001 invalid credential)",
}


def with_settings(bot, **changes) -> None:
    """Settings changed behind the console's back: as if WeCom's side had changed."""
    Bot.objects.filter(pk=bot.pk).update(connector_settings=dict(bot.connector_settings, **changes))
    bot.refresh_from_db()


def test_a_connection_test_refused_a_wrong_secret_shows_the_bot_refused_until_a_test_passes(
    client, make_operator, app_api, app_bot
):
    client.force_login(make_operator("hr", app_bot))
    test_url = reverse("console:bot_test", args=[app_bot.pk])
    app_api.answer_next("gettoken", -1)  # WeCom busy: no word on the settings
    client.post(test_url)
    assert_not_refused(client, app_bot)
    app_api.answer_next("agent/get", 48002)  # the settings taken, one API forbidden
    client.post(test_url)
    assert_not_refused(client, app_bot)
    with_settings(app_bot, app_secret="wrong-secret-value")

    client.post(test_url)

    assert_refused(client, app_bot, WRONG_SECRET)
    app_api.secret = "wrong-secret-value"  # the secret was reset in WeCom's admin console
    client.post(test_url)

    assert_not_refused(client, app_bot)


def test_saving_the_corrected_secret_drops_the_refusal_before_any_test(
    client, make_operator, app_api, app_bot
):
    client.force_login(make_operator("hr", app_bot))
    with_settings(app_bot, app_secret="wrong-secret-value")
    client.post(reverse("console:bot_test", args=[app_bot.pk]))
    assert_refused(client, app_bot, WRONG_SECRET)
    page = client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()
    form = submitted_form(page, "connector-form") | {"settings-app_secret": SECRET}

    saved = client.post(reverse("console:bot_connector", args=[app_bot.pk]), form)

    assert saved.status_code == 302
    assert_not_refused(client, app_bot)


# What a refusal of each kind says to fix, in English: the calls it meets and how.
REFUSALS = {
    "corp ID": ("gettoken", 40013, "WeCom refuses the corp ID or app secret (gettoken: 40013"),
    "secret": ("gettoken", 40001, "WeCom refuses the corp ID or app secret (gettoken: 40001"),
    "IP-bound secret": ("gettoken", 40091, "WeCom refuses the corp ID or app secret"),
    "no corp ID": ("gettoken", 41002, "WeCom refuses the corp ID or app secret (gettoken: 41002"),
    "no secret": ("gettoken", 41004, "WeCom refuses the corp ID or app secret (gettoken: 41004"),
    "token for an untrusted IP": ("gettoken", 60020, "WeCom refuses calls from 127.0.0.1 (60020)"),
    "token of a disabled app": ("gettoken", 50003, "is disabled (gettoken: 50003"),
    "untrusted IP": ("agent/get", 60020, "WeCom refuses calls from 127.0.0.1 (60020)"),
    "disabled app": ("agent/get", 50003, f"WeCom says the app (agent {AGENT_ID}) is disabled"),
}


@pytest.mark.parametrize("refusal", REFUSALS, ids=list(REFUSALS))
def test_each_answer_that_stops_every_send_shows_the_bot_refused_saying_what_to_fix(
    refusal, client, make_operator, app_api, app_bot
):
    api, errcode, hint = REFUSALS[refusal]
    client.force_login(make_operator("hr", app_bot))
    app_api.answer_next(api, errcode)

    client.post(reverse("console:bot_test", args=[app_bot.pk]))

    page = shown(client, app_bot, "en")["page"]
    assert REFUSED["en"] in page and hint in page


@pytest.mark.parametrize("errcode", [48001, 40999, 45009])
def test_a_token_refused_with_an_errcode_that_is_not_the_settings_is_no_credentials_refusal(
    errcode, client, make_operator, app_api, app_bot
):
    """Only the errcodes that say the corp ID or secret are wrong make the bot "Credentials
    refused"; another one is WeCom's answer, shown with its errcode, and asked again."""
    client.force_login(make_operator("hr", app_bot))
    app_api.answer_next("gettoken", errcode)

    client.post(reverse("console:bot_test", args=[app_bot.pk]))

    assert_not_refused(client, app_bot)
    page = shown(client, app_bot, "en")["page"]
    assert f"WeCom gives the app no access token: gettoken: {errcode}" in page
    client.post(reverse("console:bot_test", args=[app_bot.pk]))  # asked again, WeCom gives one
    assert f"gettoken: {errcode}" not in shown(client, app_bot, "en")["page"]


def test_a_wrong_agent_id_or_an_app_disabled_in_wecom_shows_the_bot_refused(
    client, make_operator, app_api, app_bot
):
    client.force_login(make_operator("hr", app_bot))
    test_url = reverse("console:bot_test", args=[app_bot.pk])
    with_settings(app_bot, agent_id="1000003")
    client.post(test_url)
    assert_refused(
        client,
        app_bot,
        {
            "zh-hans": "企业微信拒绝了 AgentId 1000003（40056 invalid agentid）",
            "en": "WeCom refuses agent ID 1000003 (40056 invalid agentid)",
        },
    )
    with_settings(app_bot, agent_id=str(AGENT_ID))
    app_api.app_closed = True

    client.post(test_url)

    assert_refused(
        client,
        app_bot,
        {
            "zh-hans": f"（AgentId {AGENT_ID}）已在企业微信管理后台停用",
            "en": f"(agent {AGENT_ID}) is disabled (停用) in WeCom's admin console",
        },
    )


def test_a_contact_sync_refused_shows_the_bot_refused_until_a_sync_passes(
    client, make_operator, app_api, app_bot
):
    client.force_login(make_operator("hr", app_bot))
    with_settings(app_bot, app_secret="wrong-secret-value")

    assert sync.sync_now(app_bot, SyncRun.Trigger.COMMAND).outcome == SyncRun.Outcome.FAILED

    assert_refused(client, app_bot, WRONG_SECRET)
    app_api.secret = "wrong-secret-value"  # the secret was reset in WeCom's admin console
    assert sync.sync_now(app_bot, SyncRun.Trigger.COMMAND).outcome == SyncRun.Outcome.SUCCEEDED

    assert_not_refused(client, app_bot)


def test_a_bot_a_send_paused_says_to_press_resume_sending_which_saving_the_settings_does_not_do(
    client, make_operator, app_api, app_bot, member, queue_message, run_queue
):
    client.force_login(make_operator("hr", app_bot))
    with_settings(app_bot, app_secret="wrong-secret-value")
    queue_message(member, {"msgtype": "text", "text": {"content": "值班提醒"}})
    run_queue()
    app_bot.refresh_from_db()
    assert app_bot.paused_at is not None
    told = {
        "zh-hans": "发送已暂停：企业微信拒绝了企业ID或应用 Secret（gettoken: 40001 invalid "
        "credential）：请在机器人的连接器设置中更正。（自 ",
        "en": "Sending is paused:WeCom refuses the corp ID or app secret (gettoken: 40001 "
        "invalid credential): correct them in the bot's connector settings.(since ",  # CSS
    }
    # Where to fix it is the reason's: the hint says only to test, then resume.
    hint = {
        "zh-hans": "修复后，先测试连接，再恢复发送。",
        "en": "Once the cause is fixed, test the connection, then resume.",
    }
    for language in ("zh-hans", "en"):
        client.cookies["django_language"] = language
        page = client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()
        text = " ".join(unescape(strip_tags(page)).split())
        assert told[language] in text and hint[language] in text, language
        assert 'id="resume-sending"' in page  # the banner offers it: the reason need not
        assert "Resume sending on the bot's page" not in page and "点击“恢复发送”" not in page
    page = client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()
    form = submitted_form(page, "connector-form") | {"settings-app_secret": SECRET}

    client.post(reverse("console:bot_connector", args=[app_bot.pk]), form)

    app_bot.refresh_from_db()
    assert app_bot.connector_settings["app_secret"] == SECRET
    assert app_bot.paused_at is not None  # as said: Resume sending, not the save, resumes it


def test_a_received_picture_wecom_refuses_to_fetch_for_an_untrusted_ip_shows_the_bot_refused(
    client, make_operator, app_api, app_bot
):
    client.force_login(make_operator("hr", app_bot))
    app_api.media["MEDIA1"] = (PNG, "image", time.time() + 3600)
    app_api.answer_next("media/get", 60020)  # the server's IP was taken off 企业可信IP
    post_encrypted(client, app_bot, received("image", "MEDIA1", "2"))

    assert fetch_due() == ["pending"]  # asked for again later

    assert_refused(
        client,
        app_bot,
        {
            "zh-hans": "企业微信拒绝来自 127.0.0.1 的调用（60020）",
            "en": "WeCom refuses calls from 127.0.0.1 (60020)",
        },
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert fetch_due() == ["stored"]

    assert_not_refused(client, app_bot)
