"""Issue 21's acceptance, in Chinese: an operator who may create bots, without ever
opening /admin/, creates a bridge bot, tests it, syncs it and rotates its secret.

Screenshots land in test-artifacts/console-bots/.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from connectors.demo_agent import DemoAgent
from conversations.demo import DEMO_GROUPS, DEMO_USERS
from conversations.models import Bot, Conversation, SyncRun
from conversations.secrets import generate_agent_token
from conversations.sync import run_sync
from tests.browser import needs_chromium, screenshot

pytestmark = [*needs_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-wang-browser-1"


def shoot(page, name: str) -> None:
    screenshot(page, "console-bots", name)


@pytest.fixture
def bot_creator(transactional_db):
    """A staff user who operates no bot yet but may create bots (and so administers them)."""
    user = get_user_model().objects.create_user("wang", password=PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["conversations", "messaging", "forwarding"]
        )
    )
    return user


@pytest.fixture
def agent():
    with DemoAgent(token=generate_agent_token(), users=DEMO_USERS, groups=DEMO_GROUPS) as agent:
        yield agent


def log_in(page, username: str) -> None:
    page.goto("/console/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_an_operator_creates_tests_syncs_a_bridge_bot_and_rotates_its_secret(
    page, bot_creator, agent
):
    from playwright.sync_api import expect

    visited = []
    page.on("request", lambda request: visited.append(request.url))
    log_in(page, "wang")
    expect(page.get_by_text("还没有机器人")).to_be_visible()
    page.get_by_role("link", name="创建机器人").click()

    page.locator("[name=name]").fill("客服桥接")
    page.locator("[name=settings-agent_url]").fill(agent.url)
    page.locator("[name=settings-agent_token]").fill(agent.token)
    shoot(page, "01-create")
    page.get_by_role("button", name="创建机器人").click()
    expect(page.locator(".flash")).to_contain_text("已创建机器人 客服桥接。")
    bot = Bot.objects.get(name="客服桥接")
    assert list(bot.operators.all()) == [bot_creator]
    expect(page.locator("#empty-reason")).to_contain_text("尚未同步过联系人")

    page.get_by_role("button", name="测试连接").click()
    expect(page.locator("#connection-test")).to_contain_text("上次测试：连接正常")
    expect(page.locator("#connection-test")).to_be_in_viewport()
    # In words, not the API's codes ("image, link, markdown"): those are in its title.
    expect(page.locator("#capabilities")).to_contain_text("图片、链接卡片")
    shoot(page, "02-connection-tested")

    page.get_by_role("button", name="立即同步").click()
    expect(page.locator(".flash")).to_contain_text("联系人同步已开始。")
    expect(page.locator("#contacts tr.sync-pending")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    run_sync(SyncRun.objects.get(bot=bot).pk)  # what a worker does with the woken run
    expect(page.locator("#contacts tr.sync-succeeded")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.notReloaded") is True  # followed live, no reload
    groups = Conversation.objects.filter(bot=bot, kind="group").count()
    assert groups == len(DEMO_GROUPS)
    expect(page.locator("#contacts tr.sync-succeeded")).to_contain_text(f"+{groups}")
    shoot(page, "03-synced")

    page.locator("[name=timezone]").select_option("Asia/Shanghai")
    page.get_by_role("button", name="保存发送设置").click()
    expect(page.locator(".flash")).to_contain_text("发送设置已保存。")

    secret = page.locator('[data-secret="secret"]')
    secret.get_by_role("button", name="显示").click()
    old_secret = Bot.objects.get(pk=bot.pk).secret
    expect(secret.locator(".secret-value")).to_have_text(old_secret)
    shoot(page, "04-secret-revealed")

    page.get_by_role("link", name="轮换 API 密钥…").click()
    page.get_by_label(re.compile("3 天")).check()
    shoot(page, "05-rotate")
    page.get_by_role("button", name="签发新密钥").click()
    # What the rotation did and the new secret in full, side by side where the page
    # scrolls to (the top of the page, with its messages, is out of view there).
    done = page.locator("#new-secret")
    expect(done).to_contain_text(re.compile(r"已签发新的 API 密钥；旧密钥有效至 .* CST"))
    expect(done).to_be_in_viewport()
    rotated = Bot.objects.get(pk=bot.pk)
    assert rotated.previous_secret == old_secret and rotated.secret != old_secret
    expect(done.locator("#new-secret-value")).to_have_text(rotated.secret)
    expect(page.locator("#secret-grace")).to_contain_text("CST")
    shoot(page, "06-rotated")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    done.get_by_role("button", name="复制").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == rotated.secret
    page.reload()  # once: then masked, as before
    expect(page.locator("#new-secret")).to_have_count(0)
    assert rotated.secret not in page.content()

    page.get_by_role("link", name="机器人", exact=True).click()
    expect(page.locator(".bot-list")).to_contain_text("客服桥接")
    shoot(page, "07-bot-list")
    assert not [url for url in visited if "/admin/" in url]


def test_an_operator_adds_a_robot_group_by_hand_where_the_connector_cannot_list(
    page, bot_creator, settings
):
    from playwright.sync_api import expect

    from tests.fakes.wecom import FakeWeCom

    key = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    with FakeWeCom(keys={key}) as wecom:
        settings.WECOM_API_BASE = wecom.base_url
        log_in(page, "wang")
        page.goto("/console/bots/new/")
        page.get_by_role("link", name="企业微信群机器人").click()
        page.locator("[name=name]").fill("销售机器人")
        page.get_by_role("button", name="创建机器人").click()
        expect(page.locator("#sync-not-possible")).to_contain_text("还没有要检查的群聊")
        expect(page.locator("#sync-now")).to_have_count(0)  # nothing to check yet
        page.goto(page.url.replace("/settings/", "/"))  # the bot's conversation list
        expect(page.locator("#empty-reason")).to_contain_text("手动添加")
        shoot(page, "10-robot-empty")
        page.get_by_role("link", name="打开机器人的联系人").click()

        form = page.locator("#conversation-form")
        form.locator("[name=name]").fill("销售群")
        form.locator("[name=conversation_id]").fill("sales")
        # Pasted as WeCom shows it: the whole webhook address.
        form.locator("[name=robot_key]").fill(f"{wecom.base_url}/cgi-bin/webhook/send?key={key}")
        shoot(page, "11-robot-add-group")
        form.get_by_role("button", name="添加会话").click()
        expect(page.locator(".flash")).to_contain_text("已添加会话 销售群。")
        expect(page.locator(".robot-keys")).to_contain_text("7c9e••••••••")
        expect(page.locator("#empty-reason")).to_have_count(0)
        expect(page.locator("#sync-now")).to_have_text("立即检查机器人密钥")

        page.get_by_role("button", name="测试连接").click()
        expect(page.locator("#connection-test")).to_contain_text("连接正常")
        shoot(page, "12-robot-tested")
    bot = Bot.objects.get(name="销售机器人")
    assert Conversation.objects.get(bot=bot).robot_key == key
    assert wecom.messages == []  # the key check posts nothing


def test_an_ai_bots_page_shows_its_settings_and_follows_its_live_connection(page, bot_creator):
    from django.utils import translation
    from playwright.sync_api import expect

    from conversations.models import BotConnection

    bot = Bot.objects.create(
        name="智能助理",
        connector="wecom_aibot",
        connector_settings={"bot_id": "aib-7788", "bot_secret": "never-shown-secret"},
    )
    bot.operators.add(bot_creator)
    BotConnection.objects.create(
        bot=bot,
        state=BotConnection.State.CONNECTING,
        holder="gw:1:a",
        lease_expires_at=timezone.now() + timedelta(hours=1),
    )
    with translation.override("zh-hans"):
        connected = str(BotConnection.State.CONNECTED.label)
    log_in(page, "wang")
    page.goto(f"/console/bots/{bot.pk}/settings/")
    expect(page.locator("#connector-values")).to_contain_text("aib-7788")
    expect(page.locator("#connector-values")).not_to_contain_text("never-shown-secret")
    page.evaluate("window.notReloaded = true")
    BotConnection.objects.filter(bot=bot).update(state=BotConnection.State.CONNECTED)
    expect(page.locator("#live-connection")).to_contain_text(connected, timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "20-ai-bot-live")


def test_removing_an_operator_asks_once(page, bot_creator, make_bot):
    from playwright.sync_api import expect

    bot = make_bot(name="sales")
    bot.operators.add(bot_creator)
    li = get_user_model().objects.create_user("li", password="pw-li-browser-1")
    bot.operators.add(li)
    log_in(page, "wang")
    page.goto(f"/console/bots/{bot.pk}/settings/")
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator(".operators li", has_text="li").get_by_role("button", name="移除").click()
    expect(page).to_have_url(re.compile(r"/secrets/rotate\?removed="))
    assert questions == ["移除此操作员？随后会建议你轮换密钥。"]
    assert list(bot.operators.all()) == [bot_creator]
