"""The console's bot list and bot page: who sees what, testing, syncing, the empty state."""

import html
import re
import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.translation import gettext_noop

from audit.models import OperatorAction
from botadmin.reasons import Reason
from conversations.models import Conversation, SyncRun
from tests.html_forms import submitted_form


@pytest.fixture
def plain_operator(make_operator, bot):
    """An operator who may change the bot but is no bot admin."""
    user = make_operator("olga", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    return user


def test_an_operator_lists_only_their_bots(operator_client, bot, other_bot):
    page = operator_client.get(reverse("console:bots")).content.decode()
    assert bot.name in page
    assert other_bot.name not in page


def test_another_operators_bot_page_is_not_found(operator_client, other_bot):
    assert operator_client.get(reverse("console:bot", args=[other_bot.pk])).status_code == 404


def test_the_bot_page_shows_each_section(operator_client, bot):
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    for section in ("connection", "credentials", "sending", "contacts", "operators", "webhooks"):
        assert f'id="{section}"' in page
    assert bot.secret not in page  # masked until revealed
    assert bot.agent_token not in page


def test_an_operator_who_is_no_bot_admin_sees_urls_with_their_credentials_masked(
    client, plain_operator, bot, make_bot
):
    """A password or key in the agent URL, the webhook URL or an AI bot's long connection
    URL is a secret like the agent token, which these operators may not reveal."""
    bot.agent_url = "http://agent:AGENT-pw@10.0.0.5:7600"
    bot.webhook_url = "https://recv.example/hook?token=HOOK-token"
    bot.save()
    aibot = make_bot(
        name="ai",
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": "b1", "bot_secret": "s", "ws_url": "wss://u:WS-pw@gw.ex/"},
    )
    aibot.operators.add(plain_operator)
    client.force_login(plain_operator)

    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    ai_page = client.get(reverse("console:bot", args=[aibot.pk])).content.decode()

    assert "AGENT-pw" not in page and "HOOK-token" not in page
    assert "http://********@10.0.0.5:7600" in page
    assert "https://recv.example/hook?token=********" in page
    assert "WS-pw" not in ai_page and "wss://********@gw.ex/" in ai_page


def connection_test(page: str) -> str:
    """The last connection test's result, shown next to the button."""
    return page.split('id="connection-test"')[1].split("</p>")[0]


def last_contact(page: str) -> str:
    """The last successful contact, said under the connection test."""
    return page.split('id="last-contact">')[1].split("</p>")[0]


def dashboard_contact(page: str, bot) -> str:
    """The dashboard's "last successful contact" cell of `bot`."""
    row = page.split(f'href="{reverse("console:conversations", args=[bot.pk])}"')[1]
    row = row.split("</tr>")[0]
    return row.split("</td>")[2]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_bot_never_tested_but_just_heard_from_says_so_as_the_dashboard_does(
    operator_client, bot, group, make_message, language
):
    """The bot page said "尚未测试连接" (not tested yet) under "Connection" while the
    dashboard said its last successful contact was "刚刚" (just now): it said nothing of the
    contact, and read as if the bot had never reached its other side."""
    make_message(group, text="在吗")  # reported by its agent just now
    operator_client.cookies["django_language"] = language
    words = {
        "zh-hans": ("尚未运行过连接测试。", "最近成功联系：刚刚", "刚刚"),
        "en": ("No connection test run yet.", "Last successful contact: just now", "just now"),
    }[language]

    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    dashboard = operator_client.get(reverse("console:dashboard")).content.decode()

    assert words[0] in connection_test(page)
    assert "尚未测试连接" not in page and "Not tested yet" not in page
    assert f">{words[1]}</time>" in last_contact(page)  # the exact time on hover
    assert f">{words[2]}</time>" in dashboard_contact(dashboard, bot)


def test_a_bot_never_heard_from_says_never_on_its_page_as_on_the_dashboard(operator_client, bot):
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    dashboard = operator_client.get(reverse("console:dashboard")).content.decode()

    assert "尚未运行过连接测试。" in connection_test(page)
    assert last_contact(page).startswith("最近成功联系：从未"), last_contact(page)
    assert "从未" in dashboard_contact(dashboard, bot)


def test_testing_the_connection_reports_what_the_agent_answered(client, make_operator, bridge_bot):
    client.force_login(make_operator("alice", bridge_bot))
    answer = client.post(reverse("console:bot_test", args=[bridge_bot.pk]), follow=True)
    shown = connection_test(answer.content.decode())
    assert "上次测试：连接正常" in shown and "alice" in shown
    assert OperatorAction.objects.filter(action="bot.check_connection", bot=bridge_bot).exists()


def test_the_connection_test_names_what_the_agent_sends_as_the_capabilities_line_does(
    client, make_operator, agent, bridge_bot
):
    agent.msgtypes = ("image", "link", "markdown", "miniprogram", "text")
    client.force_login(make_operator("alice", bridge_bot))

    page = client.post(reverse("console:bot_test", args=[bridge_bot.pk]), follow=True)
    page = page.content.decode()

    words = "图片、链接卡片、Markdown、小程序、文本"
    assert f"可发送 {words}" in connection_test(page)
    assert words in page.split('id="capabilities"')[1].split("</dd>")[0]
    assert "miniprogram" not in connection_test(page)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("console:bot", args=[bridge_bot.pk])).content.decode()
    assert "sends Image, Link card, Markdown, Mini program, Text" in connection_test(page)


def test_testing_a_robot_with_500_broken_groups_answers_at_once_naming_a_few(
    client, make_operator, wecom, wecom_bot
):
    """It took minutes, one key after the other, and ended in a RecursionError (a 500)."""
    Conversation.objects.bulk_create(
        Conversation(
            bot=wecom_bot, conversation_id=f"wr{n:03d}", name=f"群{n:03d}", robot_key=f"x{n}"
        )
        for n in range(500)
    )
    client.force_login(make_operator("alice", wecom_bot))

    started = time.monotonic()
    answer = client.post(reverse("console:bot_test", args=[wecom_bot.pk]))
    took = time.monotonic() - started
    page = client.get(answer.url)

    assert answer.status_code == 302 and took < 5, took
    assert len(wecom.requests) == 20  # a sample, not every group
    error = connection_test(page.content.decode())
    assert "上次测试：失败" in error and "20 个机器人密钥中有 20 个失败，例如 群" in error
    assert "随机抽查了 500 个群聊中的 20 个" in error
    assert len(re.findall(r"群\d{3}：93000", error)) == 3
    assert len(error) < 1000


def test_the_setup_guide_sends_the_operator_to_contacts_for_the_agents_groups(operator_client, bot):
    """Step 4 said the groups appear after testing the connection; only a contact sync lists them."""

    def last_step(page: str) -> str:
        return page.split('class="guide-steps"')[1].split("</ol>")[0].split("<li>")[-1]

    chinese = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    assert "群聊在联系人同步后显示在下方的“联系人”部分" in last_step(chinese)
    assert "groups appear under Contacts below after a contact sync" in last_step(english)
    assert 'id="contacts"' in chinese


def test_the_robot_guide_links_to_the_form_that_adds_a_group_with_its_key(
    client, make_operator, wecom_bot
):
    client.force_login(make_operator("ops", wecom_bot))

    page = client.get(reverse("console:bot", args=[wecom_bot.pk])).content.decode()

    guide = page.split('class="guide-steps"')[1].split("</ol>")[0]
    assert '<a href="#conversation-form">“联系人”下的表单</a>' in guide
    assert 'id="conversation-form"' in page.split('id="contacts"')[1]
    assert "在下方添加群聊" not in guide


def test_sync_now_starts_a_run_and_its_status_follows_it(operator_client, bot, operator):
    answer = operator_client.post(reverse("console:bot_sync", args=[bot.pk]))
    assert answer.status_code == 302
    run = SyncRun.objects.get(bot=bot)
    assert run.trigger == SyncRun.Trigger.CONSOLE and run.requested_by == operator
    status = operator_client.get(reverse("console:bot_sync_status", args=[bot.pk])).json()
    assert status["active"] is True
    assert "sync-pending" in status["html"]
    # A second press would only join it: the button waits until the sync ends.
    assert 'id="sync-now" disabled aria-describedby="sync-running"' in status["html"]
    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCEEDED)
    status = operator_client.get(reverse("console:bot_sync_status", args=[bot.pk])).json()
    assert 'id="sync-now">' in status["html"]


def test_the_sync_table_calls_group_chats_as_the_conversation_tabs_do(operator_client, bot):
    """It said 群组 where the conversation tabs say 群聊."""
    operator_client.post(reverse("console:bot_sync", args=[bot.pk]))

    def header(html: str) -> str:
        return html.split('class="sync-runs"')[1].split("</thead>")[0]

    chinese = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    tabs = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    assert "<th>群聊</th>" in header(chinese) and "群组" not in chinese
    assert ">群聊 <" in tabs
    assert "<th>Groups</th>" in header(english)


def test_a_bot_that_cannot_list_contacts_explains_instead_of_offering_sync_now(
    client, listless_bot, make_operator
):
    aibot = listless_bot
    client.force_login(make_operator("alice", aibot))
    page = client.get(reverse("console:bot", args=[aibot.pk])).content.decode()
    assert 'id="sync-not-possible"' in page
    assert "此连接器无法列出联系人：收到消息时会话会自动出现。" in page
    assert 'id="sync-now"' not in page

    # Posted anyway (an old page): the sync is recorded as not possible, and says why.
    answer = client.post(reverse("console:bot_sync", args=[aibot.pk]), follow=True)
    assert "此连接器无法列出联系人" in answer.content.decode()
    run = aibot.sync_runs.get()
    assert run.outcome == SyncRun.Outcome.NOT_POSSIBLE and not run.is_active
    status = client.get(reverse("console:bot_sync_status", args=[aibot.pk])).json()
    assert status["active"] is False and "无法进行" in status["html"]


def test_an_empty_bot_says_why(operator_client, bot):
    SyncRun.objects.create(
        bot=bot, trigger="periodic", outcome=SyncRun.Outcome.FAILED, error="agent unreachable"
    )
    for url in (
        reverse("console:bot", args=[bot.pk]),
        reverse("console:conversations", args=[bot.pk]),
    ):
        page = operator_client.get(url).content.decode()
        assert 'id="empty-reason"' in page
        assert "agent unreachable" in page


def test_a_bot_admin_reveals_a_secret_and_it_is_audited(operator_client, bot):
    answer = operator_client.post(reverse("console:bot_reveal", args=[bot.pk, "secret"]))
    assert answer.json() == {"value": bot.secret}
    assert OperatorAction.objects.filter(action="secret.reveal", bot=bot).exists()


def test_an_operator_who_is_no_bot_admin_cannot_reveal_or_rotate(client, plain_operator, bot):
    client.force_login(plain_operator)
    assert client.post(reverse("console:bot_reveal", args=[bot.pk, "secret"])).status_code == 403
    assert client.post(reverse("console:bot_rotate", args=[bot.pk])).status_code == 403
    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert "data-reveal-url" not in page


def test_rotating_keeps_the_old_secret_for_the_chosen_grace_in_the_bots_zone(operator_client, bot):
    bot.timezone = "Asia/Shanghai"
    bot.save()
    old = bot.secret
    form = operator_client.get(reverse("console:bot_rotate", args=[bot.pk])).content.decode()
    assert "CST" in form
    answer = operator_client.post(
        reverse("console:bot_rotate", args=[bot.pk]),
        {"grace_hours": "72"},
        follow=True,
    )
    bot.refresh_from_db()
    assert bot.secret != old and bot.previous_secret == old
    assert "CST" in answer.content.decode()
    assert OperatorAction.objects.filter(action="secret.rotate", bot=bot).exists()


def test_revealing_something_that_is_no_secret_is_not_found(operator_client, bot):
    url = reverse("console:bot_reveal", args=[bot.pk, "name"])
    assert operator_client.post(url).status_code == 404


NO_GRACE_QUESTION = (
    "Stop the old API secret now? Every API caller still using it fails from this moment "
    'until it is given the new one, and so does a webhook receiver that checks the "secret" '
    "field of the bodies forwarded to it. Receivers that verify the webhook-signature are "
    "not affected: each endpoint signs with a secret of its own."
)


def test_a_post_without_grace_that_was_not_confirmed_is_asked_instead_of_obeyed(
    operator_client, bot
):
    """The browser asks before it posts; a script (or a browser without JavaScript) that
    posts no answer is asked on the page and nothing changes until it says yes."""
    operator_client.cookies["django_language"] = "en"
    url = reverse("console:bot_rotate", args=[bot.pk])
    before = bot.secret

    asked = operator_client.post(url, {"grace_hours": "0"})

    page = asked.content.decode()
    assert asked.status_code == 400 and 'id="no-grace-warning"' in page
    assert html.escape(NO_GRACE_QUESTION) in page
    bot.refresh_from_db()
    assert bot.secret == before
    assert not OperatorAction.objects.filter(action__endswith=".rotate").exists()

    confirmed = operator_client.post(url, submitted_form(page, "no-grace-form"))

    assert confirmed.status_code == 302
    bot.refresh_from_db()
    assert bot.secret != before and bot.previous_secret == ""
    action = OperatorAction.objects.get(action="secret.rotate", bot=bot)
    assert "(grace 0 h) in the console" in action.summary


def test_the_console_and_the_admin_ask_the_same_question_before_rotating_without_grace(
    client, superuser, bot
):
    client.force_login(superuser)
    client.cookies["django_language"] = "zh-hans"
    console = client.get(reverse("console:bot_rotate", args=[bot.pk])).content.decode()
    admin = client.post(
        reverse("admin:conversations_bot_rotate_secret", args=[bot.pk]), {"grace_hours": "0"}
    ).content.decode()

    question = html.escape(
        "立即停用旧 API 密钥？仍在使用它的每个 API 调用方从此刻起都会失败，直到换上新密钥；"
        '检查转发内容中 "secret" 字段的 Webhook 接收方也是如此。'
        "校验 webhook-signature 的接收方不受影响：每个端点都用自己的密钥签名。"
    )
    assert f'data-confirm="{question}"' in console
    assert question in admin.split('id="no-grace-warning"')[1]


def test_a_connector_without_its_own_guide_shows_its_settings_and_live_connection(
    operator_client, operator, make_bot
):
    from django.utils import timezone

    from conversations.models import BotConnection

    bot = make_bot(
        name="ai",
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": "aib-123", "bot_secret": "s3cr3t-value-xyz"},
    )
    bot.operators.add(operator)
    BotConnection.objects.create(
        bot=bot, state="connected", holder="gw1:42:a", connected_since=timezone.now()
    )
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert "aib-123" in page and "s3cr3t-value-xyz" not in page
    assert 'id="live-connection"' in page
    assert "gw1:42:a" not in page  # the gateway's process id is for administrators
    assert 'id="conversation-form"' not in page  # its conversations come with messages
    revealed = operator_client.post(reverse("console:bot_reveal", args=[bot.pk, "bot_secret"]))
    assert revealed.json() == {"value": "s3cr3t-value-xyz"}


def test_the_live_connection_is_refreshed_from_its_status(operator_client, operator, make_bot):
    from conversations.models import BotConnection

    bot = make_bot(name="ai", connector="wecom_aibot", agent_url="", agent_token="")
    bot.operators.add(operator)
    url = reverse("console:bot_connection_status", args=[bot.pk])
    assert operator_client.get(url).json() == {"active": False, "html": ""}
    BotConnection.objects.create(
        bot=bot, state="retrying", last_error=Reason(gettext_noop("connection closed by WeCom"))
    )
    status = operator_client.get(url).json()
    assert status["active"] is True and "企业微信关闭了连接" in status["html"]


@pytest.mark.parametrize("page", ["console:index", "console:bots", "announcements:list"])
def test_a_fresh_install_invites_the_superuser_to_create_a_bot(client, superuser, page):
    """It told them, the administrator, to ask an administrator to add them to a bot."""
    client.force_login(superuser)

    shown = client.get(reverse(page)).content.decode()

    assert "你还没有操作任何机器人。创建一个：你会成为它的第一个操作员。" in shown
    assert reverse("console:bot_create") in shown
    assert "请联系管理员" not in shown


@pytest.mark.parametrize("page", ["console:index", "console:bots", "announcements:list"])
def test_a_user_who_operates_no_bot_and_may_not_create_one_is_told_whom_to_ask(
    client, django_user_model, bot, page
):
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-nobody"))

    shown = client.get(reverse(page)).content.decode()

    assert "请联系管理员把你加入机器人的操作员" in shown
    assert reverse("console:bot_create") not in shown


def test_the_rotate_page_names_only_an_operator_removed_from_this_bot(
    operator_client, operator, bot, other_bot, make_operator
):
    from conversations.bot_changes import set_operator

    rotate = reverse("console:bot_rotate", args=[bot.pk])
    former = make_operator("former-op", bot)
    operator_client.post(reverse("console:bot_operator_remove", args=[bot.pk, former.pk]))
    elsewhere = make_operator("other-bots-op", other_bot)
    set_operator(other_bot, elsewhere, operator, operator=False)  # removed from another bot
    stranger = make_operator("stranger-name")

    page = operator_client.get(f"{rotate}?removed={former.pk}").content.decode()
    assert 'role="alert"' in page and "former-op" in page
    for user in (stranger, elsewhere):
        page = operator_client.get(f"{rotate}?removed={user.pk}").content.decode()
        assert user.username not in page and 'role="alert"' not in page
    page = operator_client.get(f"{rotate}?removed={operator.pk}").content.decode()
    assert 'role="alert"' not in page  # still an operator: nobody was removed


def test_a_wecom_app_bots_page_shows_todays_person_messages_against_wecoms_daily_cap(
    operator_client, operator, make_bot
):
    from django.utils import timezone

    from connectors.registry import connector_for
    from messaging import delivery_caps

    settings = {"corp_id": "ww1", "agent_id": "1000002", "app_secret": "s"}
    bot = make_bot(name="hr", connector="wecom_app", agent_url="", agent_token="")
    bot.connector_settings = settings | {"licensed_accounts": 500}
    bot.save()
    bot.operators.add(operator)
    delivery_caps.take(connector_for(bot).shared_daily_caps(), 3, timezone.now())

    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    caps = page.split('id="daily-caps"')[1].split("</dl>")[0]
    assert "企业微信对此应用每日 100,000 人次消息的上限（账号上限数 500 × 200）" in caps
    assert "今日已用 3（北京时间）" in caps
    bot.connector_settings = settings  # no licensed accounts: no cap counted or shown
    bot.save()
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert 'id="daily-caps"' not in page


def test_scheduled_syncs_that_changed_nothing_are_folded_into_a_count(operator_client, bot):
    def run(trigger="periodic", outcome="succeeded", **counts):
        return SyncRun.objects.create(bot=bot, trigger=trigger, outcome=outcome, **counts)

    changed = run(trigger="console", groups_added=3)
    quiet_between = [run() for _ in range(12)]
    failed = run(outcome="failed", error="agent answered HTTP 502")
    quiet_after = [run() for _ in range(3)]  # the newest of them still shows

    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    rows = page.split('<table class="sync-runs">')[1].split("</table>")[0].count("<tr class=")
    assert rows == 3  # the newest, the failure, the run that changed something
    assert "agent answered HTTP 502" in page
    assert "+3 ~0 −0 ↺0" in page
    folded = page.split('id="quiet-runs"')[1].split("</p>")[0]
    assert "其间另有 14 次无变化的定时同步" in folded
    assert len(quiet_between) + len(quiet_after) - 1 == 14 and changed and failed


def test_after_rotating_the_new_secret_is_shown_once_in_full_beside_what_was_done(
    operator_client, bot
):
    """After "签发新密钥" the page jumped to its credentials, the success message was out
    of view at the top, and the new secret showed masked."""
    bot.timezone = "Asia/Shanghai"
    bot.save()
    rotate = reverse("console:bot_rotate", args=[bot.pk])

    answer = operator_client.post(rotate, {"grace_hours": "24"})

    assert answer["Location"].endswith("#credentials")
    page = operator_client.get(answer["Location"].split("#")[0])
    bot.refresh_from_db()
    credentials = page.content.decode().split('id="credentials"')[1].split("</section>")[0]
    shown = credentials.split('id="new-secret"')[1].split("</div>")[0]
    assert re.search(r"已签发新的 API 密钥；旧密钥有效至 [-0-9: ]+ CST", shown)
    assert f'<code class="secret-value" id="new-secret-value">{bot.secret}</code>' in shown
    assert f'data-copy="{bot.secret}"' in shown
    assert "no-store" in page["Cache-Control"]
    assert 'class="flash"' not in page.content.decode()  # said once, where it is seen

    again = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert bot.secret not in again and 'id="new-secret"' not in again


def test_the_rotate_page_names_the_endpoints_whose_bodies_carry_the_api_secret(
    operator_client, bot
):
    from forwarding.models import WebhookEndpoint

    rotate = reverse("console:bot_rotate", args=[bot.pk])
    signed_only = WebhookEndpoint.objects.create(
        bot=bot, url="https://signed.example.com/in", sends_api_secret=False
    )

    page = operator_client.get(rotate).content.decode()
    body_secret = page.split('id="body-secret"')[1].split("</div>")[0]
    assert "此机器人没有开启“发送 API 密钥”的 Webhook 端点：其接收方不受影响。" in body_secret

    reads_it = WebhookEndpoint.objects.create(
        bot=bot, url="https://legacy.example.com/in", description="旧版接收方"
    )
    page = operator_client.get(rotate).content.decode()
    body_secret = page.split('id="body-secret"')[1].split("</div>")[0]
    assert "轮换后该字段立即变为新密钥，与宽限期无关" in body_secret
    assert reverse("console:webhook", args=[bot.pk, reads_it.pk]) in body_secret
    assert "旧版接收方" in body_secret
    assert signed_only.url not in body_secret
