"""Shared by the console's browser tests: the headless Chromium page, the demo
data `make run` creates, and small steps (log in, open a conversation, screenshot).

Screenshots land in test-artifacts/console/ (git-ignored).
"""

import os
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command

from announcements.editing import Draft, save_announcement
from conversations.demo import start_agent_and_sync
from conversations.models import Bot, Conversation
from messaging.models import Message
from tests.browser import chromium, screenshot

ADMIN_PASSWORD = "pw-admin-browser-1"
ROOT_PASSWORD = "pw-root-console-1"


@pytest.fixture
def page(live_server):
    with chromium() as browser:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 860}, locale="zh-CN"
        )
        context.set_default_timeout(10_000)
        yield context.new_page()
        context.close()


@pytest.fixture
def page_of_root(page, transactional_db, bot):
    """The page, logged in to the console as a superuser (in Chinese)."""
    get_user_model().objects.create_superuser("root", password=ROOT_PASSWORD)
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/bots/**")
    return page


@pytest.fixture
def demo_agent(transactional_db):
    """What `make run` sets up: the admin user, the demo bot, and its demo agent
    (a real bridge-protocol server) from which the bot's contacts are synced."""
    call_command("setup_demo", admin_password=ADMIN_PASSWORD, stdout=open(os.devnull, "w"))
    bot = Bot.objects.get(name="demo")
    agent, _run = start_agent_and_sync(bot, port=0)
    yield agent
    agent.stop()


@pytest.fixture
def demo(demo_agent):
    """The demo bot and its customer-service group, with 70 messages of history."""
    bot = Bot.objects.get(name="demo")
    group = Conversation.objects.get(bot=bot, conversation_id="wrDemoGroup0002")
    for i in range(70):
        Message.objects.create(
            bot=bot,
            conversation=group,
            direction="in",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": f"第 {i} 条历史消息"}},
            search_text=f"第 {i} 条历史消息",
            sender_id="wmDemoUser0001",
            sender_name="张伟",
            status="received",
            source="agent",
        )
    return bot, group


def daily_announcement(bot, group, title: str, text: str, *, as_draft: bool):
    """An announcement by the demo's admin: `text` to `group` every day at 09:30."""
    return save_announcement(
        get_user_model().objects.get(username="admin"),
        Draft(
            bot=bot,
            title=title,
            body={"msgtype": "text", "text": {"content": text}},
            conversation_ids=[group.pk],
            kind="daily",
            schedule={"time": "09:30"},
            timezone="Asia/Shanghai",
        ),
        as_draft=as_draft,
    )


def receive(live_server, bot, group, msgid: str, part: dict, **sender) -> None:
    """What the bot's agent posts to /api/callback for a message `group` received:
    `part` is its msgtype's object ({"text": {...}}), `sender` its sender fields."""
    [msgtype] = part
    body = {
        "secret": bot.secret,
        "msgtype": msgtype,
        "conversation_id": group.conversation_id,
        "msgid": msgid,
        **sender,
        **part,
    }
    answer = requests.post(live_server.url + "/api/callback", json=body, timeout=10)
    assert answer.json()["errcode"] == 0


def shoot(page, name: str) -> None:
    screenshot(page, "console", name)


def log_in(page) -> None:
    page.goto("/")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(ADMIN_PASSWORD)
    shoot(page, "01-login")
    page.get_by_role("button", name="登录").click()


PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1366, "height": 860}


def each_language_and_width(page, paths: dict[str, str]):
    """Each of `paths` (name: path) opened in Chinese, then in English, at 1366 and at
    390 px: yields (language, viewport, name) with the page loaded."""
    for language in ("zh", "en"):
        if language == "en":
            page.get_by_role("button", name="English").click()
            page.wait_for_selector('html[lang="en"]')
        for viewport in (WIDE, PHONE):
            page.set_viewport_size(viewport)
            for name, path in paths.items():
                page.goto(path)
                page.wait_for_selector(".topbar")
                yield language, viewport, name


def open_conversation(page, name: str):
    page.get_by_role("link", name=re.compile(name)).first.click()
    page.wait_for_selector("#timeline .msg")
