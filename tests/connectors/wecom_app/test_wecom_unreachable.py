"""An app bot on a server that cannot reach WeCom (no DNS, offline): every page an operator
looks at says so in one classified line — the connection test, the setup checklist, the
contact sync's error on the empty conversation list, a waiting message — never urllib3's
"_BoundedHTTPSPool(host=…): Max retries exceeded … (Caused by NameResolutionError(…))",
and the bot is not paused for it: the network coming back is all it takes."""

import pytest
from django.urls import reverse

from conversations.models import Bot
from conversations.sync import request_sync, run_sync
from messaging.delivery import deliver

from .test_setup_checklist import bot_page, state, step

UNREACHABLE = "无法连接企业微信获取 access token：无法解析 qyapi.weixin.invalid"
# What urllib3's and Python's own text would bring along.
RAW_WORDS = ("Pool", "Max retries", "NameResolution", "Errno", "corpsecret", "Name or service")


@pytest.fixture(params=["open", "checked"])
def offline(request, settings, unknown_names):
    """WeCom's name does not resolve; looked up by urllib3 (private URLs allowed, so not
    checked first) or by botadmin's URL check."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = request.param == "open"
    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"


@pytest.fixture
def operator_client(client, make_operator, app_bot):
    client.force_login(make_operator("hr", app_bot))
    return client


def shows_no_raw_words(page: str) -> bool:
    return not any(words in page for words in RAW_WORDS)


def test_the_connection_test_and_the_checklist_say_wecoms_name_cannot_be_resolved(
    offline, app_bot, operator_client
):
    before = bot_page(operator_client, app_bot)
    assert state(before, "app") == "todo" and "尚未经企业微信验证" in step(before, "app")

    page = operator_client.post(reverse("console:bot_test", args=[app_bot.pk]), follow=True)
    page = page.content.decode()

    test = page.split('id="connection-test"')[1].split("</p>")[0]
    assert "上次测试：失败" in test and UNREACHABLE in test
    assert state(page, "app") == "failed"  # filled in, but WeCom has not taken them
    assert f"上次测试连接失败：{UNREACHABLE}" in step(page, "app")
    assert shows_no_raw_words(page)


def test_a_failed_contact_sync_says_so_on_the_empty_conversation_list_and_the_checklist(
    offline, app_bot, operator_client
):
    run, _ = request_sync(app_bot, "console", enqueue=False)
    run_sync(run.pk)

    conversations = operator_client.get(reverse("console:conversations", args=[app_bot.pk]))
    page = bot_page(operator_client, app_bot)

    assert f"最近一次联系人同步失败：{UNREACHABLE}" in conversations.content.decode()
    assert f"最近一次联系人同步失败：{UNREACHABLE}" in step(page, "contacts")
    assert shows_no_raw_words(conversations.content.decode()) and shows_no_raw_words(page)


def test_a_message_waits_for_wecom_with_the_same_words_and_the_bot_keeps_running(
    offline, app_bot, member, queue_message, clock, operator_client
):
    message = queue_message(member, {"msgtype": "text", "text": {"content": "下午三点开会"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    assert str(message.last_error) == (
        "cannot reach WeCom for an access token: cannot resolve qyapi.weixin.invalid"
    )
    assert Bot.objects.get(pk=app_bot.pk).paused_at is None  # nothing to correct in the bot
    trace = operator_client.get(
        reverse("console:message_trace", args=[app_bot.pk, member.pk, message.pk])
    ).content.decode()
    assert UNREACHABLE in trace and shows_no_raw_words(trace)
