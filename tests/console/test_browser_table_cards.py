"""Browser test: a card that is itself a table's scrolling box (the audit log's, an
announcement's recipients') is white like every other card. The scroll shadow's
background shorthand made it transparent: its rows showed the page's grey, fading to
white at both edges, as if there were more to scroll to on each side."""

from audit.services import record_action
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import log_in, shoot

pytestmark = needs_chromium

WHITE = "rgb(255, 255, 255)"


def card_colours(page) -> list[str]:
    return page.locator(".table-wrap.panel").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )


def test_the_audit_logs_table_cards_are_white(page, demo):
    from django.contrib.auth import get_user_model

    bot, group = demo
    Message.objects.create(
        bot=bot,
        conversation=group,
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "通知"}},
        search_text="通知",
        status="sent",
        source="api",
    )
    admin = get_user_model().objects.get(username="admin")
    record_action(admin, "bot.update", bot=bot, target=bot, summary="timezone")
    log_in(page)

    for path, name in [("/console/audit/", "outbound"), ("/console/audit/actions/", "actions")]:
        page.goto(path)
        page.wait_for_selector(".table-wrap.panel tbody tr")
        shoot(page, f"table-card-{name}")
        assert card_colours(page) == [WHITE]
