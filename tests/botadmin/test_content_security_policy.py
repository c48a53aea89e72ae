"""The pages' Content-Security-Policy: scripts and styles from botadmin's static files
only, no inline code, no eval (botadmin/settings.py, ContentSecurityPolicyMiddleware).

The browser tests fail on any violation (tests/browser.py); these check the header,
the templates and that watch itself."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string

from tests.browser import assert_no_csp_violations

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
ROOT = Path(settings.BASE_DIR)
TEMPLATE_FOLDERS = [
    folder
    for folder in ROOT.glob("**/templates")
    if not {".venv", "var", "node_modules"} & set(folder.relative_to(ROOT).parts)
]
# An inline script (not JSON data), a <style>, a style attribute, an on* handler.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"
    r"|<style\b|\sstyle=|\son[a-z]+=",
    re.IGNORECASE,
)
TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.DOTALL)


def test_the_policy_is_the_strict_one():
    assert settings.CONTENT_SECURITY_POLICY == STRICT


@pytest.mark.parametrize(
    "path",
    [
        "/console/bots/",
        "/console/search/",
        "/console/dashboard/",
        "/console/announcements/new/",
        "/admin/",
    ],
)
def test_console_and_admin_pages_get_the_policy(client, superuser, bot, path):
    client.force_login(superuser)

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == STRICT


def test_the_login_page_and_a_missing_page_get_the_policy(client, db):
    assert client.get("/console/login/")["Content-Security-Policy"] == STRICT
    assert client.get("/console/no-such-page/")["Content-Security-Policy"] == STRICT


def test_a_conversation_page_gets_the_policy_and_loads_its_script(client, superuser, group):
    client.force_login(superuser)

    response = client.get(f"/console/bots/{group.bot_id}/conversations/{group.pk}/")

    assert response["Content-Security-Policy"] == STRICT
    page = response.content.decode()
    assert "console/history" in page and "<script>" not in page
    assert '"allowEval": false' in page  # htmx's configuration (templates/base.html)


@pytest.mark.parametrize(
    "template",
    sorted(p for folder in TEMPLATE_FOLDERS for p in folder.glob("**/*.html")),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_no_template_has_inline_script_or_style(template):
    found = INLINE.findall(TEMPLATE_COMMENT.sub("", template.read_text()))

    assert not found, f"{template.relative_to(ROOT)}: {found}"


def test_the_server_error_page_takes_its_style_from_a_static_file():
    page = render_to_string("500.html")

    assert '<link rel="stylesheet" href="/static/botadmin/error.css">' in page
    assert "<style" not in page
    assert (ROOT / "static/botadmin/error.css").exists()


@pytest.mark.parametrize("inline", ["style attribute", "inline script"])
@pytest.mark.browser
def test_a_browser_test_fails_on_a_violation(browser, live_server, superuser, inline):
    page = browser.new_page()
    page.goto(live_server.url + "/console/login/")
    assert_no_csp_violations()  # the login page itself has none

    refused = (
        "document.body.setAttribute('style', 'color: red')"
        if inline == "style attribute"
        else "document.body.append(Object.assign(document.createElement('script'),"
        " {textContent: 'window.ran = 1'}))"
    )
    with page.expect_console_message(lambda message: "CSP violation" in message.text):
        page.evaluate(refused)

    with pytest.raises(pytest.fail.Exception, match="Content-Security-Policy violations"):
        assert_no_csp_violations()
    assert page.evaluate("window.ran") is None


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/conversations/bot/",
        "/admin/conversations/bot/{bot}/change/",
        "/admin/forwarding/webhookendpoint/add/",
        "/admin/auth/user/add/",
    ],
)
def test_the_admin_runs_under_the_policy(browser, live_server, superuser, bot, path):
    page = browser.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-123456")
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")

    page.goto(live_server.url + path.format(bot=bot.pk), wait_until="networkidle")

    assert page.locator("#content").is_visible()  # violations: tests/conftest.py


@pytest.mark.browser
def test_the_api_docs_run_under_the_policy(browser, live_server, db):
    page = browser.new_page()

    page.goto(live_server.url + "/api/docs", wait_until="networkidle")

    page.wait_for_selector(".swagger-ui .opblock")  # drawn by its scripts
