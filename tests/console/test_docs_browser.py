"""A Chinese-speaking bot admin follows the console's links into the documentation: a
setup checklist's "详细说明" and a credential's "在哪里找到" open the Chinese
translation at the step's section; an English reader gets the English section.

Screenshots land in test-artifacts/console-docs/.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from conversations.models import Bot
from tests.browser import ARTIFACTS, needs_chromium

pytestmark = [*needs_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-li-browser-1"


@pytest.fixture
def aibot_admin(transactional_db):
    bot = Bot.objects.create(
        name="客服助手",
        connector="wecom_aibot",
        connector_settings={"bot_id": "aib-demo", "bot_secret": "s" * 40},
    )
    user = get_user_model().objects.create_user("li", password=PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["conversations", "messaging"])
    )
    bot.operators.add(user)
    return bot


def shoot(page, name: str) -> None:
    """What the reader sees where the link landed (a whole document would be metres long)."""
    (ARTIFACTS / "console-docs").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-docs" / f"{name}.png"))


def log_in(page) -> None:
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("li")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_a_checklist_step_opens_its_section_of_the_chinese_guide(page, aibot_admin):
    from playwright.sync_api import expect

    log_in(page)
    page.goto(f"/console/bots/{aibot_admin.pk}/settings/")
    page.locator("#setup-step-connection").get_by_role("link", name="详细说明").click()

    expect(page).to_have_url(f"{page.url.split('#')[0]}#the-gateway")
    heading = page.locator("h3#the-gateway")
    expect(heading).to_have_text("网关")
    expect(heading).to_be_in_viewport()
    expect(page.locator("article.docs-page")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#docs-untranslated")).to_have_count(0)
    shoot(page, "01-gateway-zh")

    page.goto("/console/bots/new/?connector=wecom_app")
    expect(page.locator("#id_settings-app_secret_helptext")).to_contain_text("查看")
    shoot(page, "02-create-form-zh")
    page.locator("#id_settings-corp_id_helptext").get_by_role("link", name="在哪里找到").click()
    heading = page.locator("h3#in-wecoms-admin-console")
    expect(heading).to_have_text("在企业微信管理后台")
    expect(heading).to_be_in_viewport()
    expect(page.locator("article.docs-page")).to_contain_text("我的企业 → 企业信息，页面最下方")
    shoot(page, "03-credentials-zh")

    page.get_by_role("button", name="English").click()
    page.goto(f"/console/bots/{aibot_admin.pk}/settings/")
    page.locator("#setup-step-connection").get_by_role("link", name="How, in detail").click()
    expect(page.locator("h3#the-gateway")).to_have_text("The gateway")
    expect(page.locator("h3#the-gateway")).to_be_in_viewport()
    shoot(page, "04-gateway-en")


def test_a_documents_link_to_the_readme_opens_it_in_the_console(page, aibot_admin):
    """docs/zh-hans/configuration.md links ../../README.md (right on GitHub): in the
    console it opens README's section, in English with the note saying so."""
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/console/docs/configuration/")
    page.locator("article.docs-page a[href*='/console/docs/readme/']").first.click()

    expect(page).to_have_url(re.compile(r"/console/docs/readme/#the-two-commands$"))
    heading = page.locator("h2#the-two-commands")
    expect(heading).to_have_text("The two commands")
    expect(heading).to_be_in_viewport()
    expect(page.locator("#docs-untranslated")).to_be_visible()
    shoot(page, "readme-from-configuration")
