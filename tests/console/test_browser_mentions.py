"""The @mentions field suggests the bot's contacts for the entry after the last comma."""

from tests.browser import needs_chromium

from .browser import log_in, shoot

pytestmark = needs_chromium


def test_the_suggestions_complete_the_entry_after_the_last_comma(page, demo):
    log_in(page)
    page.goto("/console/announcements/new/")
    page.check('input[name="msgtype"][value="text"]')

    page.fill("[name=text__mentioned_list]", "@all，wm")

    values = page.locator("#mention-contacts option").evaluate_all("os => os.map(o => o.value)")
    shoot(page, "compose-mentions")
    assert values and all(v.startswith("@all， wmDemoUser") for v in values), values
