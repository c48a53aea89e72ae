"""Each connector's pages, and the audit lists beside a long bot name, on a phone and a
desktop in both languages: no page wider than the screen, no column squeezed to a
character a line. Screenshots in test-artifacts/console-connectors/."""

import pytest
from django.contrib.auth import get_user_model

from conversations.bot_changes import create_bot
from tests.browser import chromium, needs_chromium, screenshot
from tests.connectors.wecom_app.conftest import app_settings

pytestmark = [*needs_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-root-browser-1"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
LONG_NAME = "智能助手-a-very-long-bot-name-without-spaces-for-a-narrow-screen"
# Text split over lines: its ranges' rectangles start at different heights.
LINES = """els => els.map(e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
})"""


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def bots(root):
    """A bot of each connector with settings, and a group robot without groups."""
    return [
        create_bot(root, "人事应用通知机器人（自建应用）", "wecom_app", app_settings()),
        create_bot(
            root,
            LONG_NAME,
            "wecom_aibot",
            {"bot_id": "aibABC", "bot_secret": "x" * 40, "ws_url": "wss://gw:pw@gw.example/ws"},
        ),
        create_bot(root, "群机器人", "wecom_robot", {}),
    ]


@pytest.fixture
def browse(live_server, root):
    """A logged-in page in `language`, `size` wide."""
    with chromium() as browser:
        contexts = []

        def open_page(language: str, size: dict):
            context = browser.new_context(base_url=live_server.url, viewport=size)
            context.set_default_timeout(10_000)
            context.add_cookies(
                [{"name": "django_language", "value": language, "url": live_server.url}]
            )
            contexts.append(context)
            page = context.new_page()
            page.goto("/console/login/")
            page.locator("input[name=username]").fill("root")
            page.locator("input[name=password]").fill(PASSWORD)
            page.locator("form:not(.lang-switch) button[type=submit]").click()
            page.wait_for_url(lambda url: "/login/" not in url)
            return page

        yield open_page
        for context in contexts:
            context.close()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_each_connectors_pages_and_the_audit_filters_fit_a_phone(browse, bots, language):
    """A group robot without groups drew its key table wider than the screen, and the
    audit page's choice of bots was as wide as the longest bot name."""
    page = browse(language, PHONE)
    paths = [f"/console/bots/{bot.pk}/settings/" for bot in bots] + [
        f"/console/bots/new/?connector={kind}"
        for kind in ("bridge", "wecom_robot", "wecom_app", "wecom_aibot")
    ]
    paths += [f"/console/bots/{bots[0].pk}/app-setup/", "/console/audit/actions/"]
    wider = {}
    for path in paths:
        page.goto(path)
        page.wait_for_selector(".topbar")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wider[path] = width
    assert wider == {}
    page.goto(f"/console/bots/{bots[2].pk}/settings/")
    screenshot(page, "console-connectors", f"robot-without-groups-390-{language}")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_admins_audit_list_keeps_its_words_readable_beside_a_long_bot_name(
    browse, bots, language
):
    """The bot's column, kept on one line by the admin, took the width of the others: the
    operation and the description read a character a line."""
    page = browse(language, DESKTOP)
    page.goto("/admin/audit/operatoraction/")

    operations = page.locator("#result_list td.field-action_words").evaluate_all(LINES)
    descriptions = page.locator("#result_list td.field-description").evaluate_all(LINES)

    screenshot(page, "console-connectors", f"admin-audit-list-1280-{language}")
    assert len(operations) == len(descriptions) == 3
    assert max(operations) == 1, operations
    assert max(descriptions) <= 2, descriptions


def test_a_group_robots_groups_keep_their_names_readable_on_a_phone(browse, bots):
    """A long conversation ID, kept whole, squeezed the group's name to two characters
    a line; the table scrolls in its card instead of widening the page."""
    from conversations.models import Conversation

    robot = bots[2]
    Conversation.objects.create(
        bot=robot,
        conversation_id="wrGroupWithAVeryLongIdentifier0001",
        name="客服一群（上海）",
        kind="group",
        robot_key="7c9e6679-7425-40de-944b-e07fc1f90ae7",
    )
    page = browse("zh-hans", PHONE)
    page.goto(f"/console/bots/{robot.pk}/settings/")

    names = page.locator(".robot-keys tbody td:first-child").evaluate_all(LINES)

    screenshot(page, "console-connectors", "robot-with-a-group-390")
    assert len(names) == 1 and names[0] <= 2, names
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1280"])
def test_an_app_bots_last_url_check_and_callback_line_up_with_the_values_above(browse, bots, size):
    """They were drawn as an unstyled list, each answer indented on a line of its own
    under its label, below the callback URL, Token and key set out in two columns."""
    page = browse("en", size)
    page.goto(f"/console/bots/{bots[0].pk}/app-setup/")

    lefts = {
        label: page.locator(selector).evaluate("e => Math.round(e.getBoundingClientRect().left)")
        for label, selector in [
            ("token", "#callback-token"),
            ("url check", "#url-check-status"),
            ("callback", "#callback-status"),
        ]
    }
    tops = page.locator("dt:has-text('Last URL check'), #url-check-status").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )

    screenshot(page, "console-connectors", f"app-setup-{size['width']}")
    assert len(set(lefts.values())) == 1, lefts
    assert tops[0] == tops[1], tops
