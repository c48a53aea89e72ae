"""A form sent with a mistake shows it where the operator is looking, in red, and keeps
what was typed. Screenshots land in test-artifacts/console/ (git-ignored)."""

import pytest
from django.contrib.auth import get_user_model

from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium

PASSWORD = "pw-root-console-1"
RED = "rgb(216, 57, 49)"  # --bad in app.css


@pytest.fixture
def page_of_root(page, transactional_db, bot):
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/bots/**")
    return page


def test_an_announcements_missing_fields_are_said_in_red(page_of_root, bot, group):
    page = page_of_root
    page.goto(f"/console/announcements/new/?bot={bot.pk}")
    page.locator("#compose").evaluate("form => { form.noValidate = true; }")
    page.get_by_role("button", name="计划发送").click()

    error = page.locator(".errorlist").filter(has_text="请至少选择一个接收者")
    assert error.evaluate("e => getComputedStyle(e).color") == RED
    assert error.evaluate("e => getComputedStyle(e).listStyleType") == "none"
    shoot(page, "form-errors-compose")
