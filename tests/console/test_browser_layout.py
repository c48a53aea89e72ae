"""Tables fit a 1440 px screen: headers and badges do not wrap, and what is wider
scrolls inside its card instead of widening the page. Screenshots in test-artifacts/."""

from django.utils import timezone

from forwarding.models import WebhookEndpoint
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import daily_announcement, log_in, shoot

pytestmark = needs_chromium

WIDE = {"width": 1440, "height": 900}


def fill_log(bot, group, n=30):
    Message.objects.bulk_create(
        Message(
            bot=bot,
            conversation=group,
            direction="out",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "很长的通知内容" * 20}},
            search_text="很长的通知内容" * 20,
            status=("failed", "uncertain", "sent", "queued")[i % 4],
            attempt_count=i % 3,
            source="api",
            last_error="agent answered HTTP 502: bad gateway " * 3,
            idempotency_key=f"order-{i:06d}-retry-key-long",
            sent_at=timezone.now(),
        )
        for i in range(n)
    )


def no_wrapped_headers_or_badges(page, table: str) -> None:
    # Text on more than one line: its ranges' rectangles start at different heights.
    tall = page.locator(f"{table} th, {table} .badge").evaluate_all(
        """els => els.filter(e => {
            const range = document.createRange();
            range.selectNodeContents(e);
            return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size > 1;
        }).map(e => e.textContent.trim())"""
    )
    assert tall == []
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]


def lines_of_each(cells) -> list[int]:
    """How many lines the text of each cell takes: its text's boxes (of the text alone: an
    element's own box, a cut name's, starts higher than its words), a box starting below
    the line so far starting a new one (a smaller badge on the same line overlaps it)."""
    return cells.evaluate_all(
        """els => els.map(e => {
            const boxes = [], walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
            for (let text = walker.nextNode(); text; text = walker.nextNode()) {
                const range = document.createRange();
                range.selectNodeContents(text);
                boxes.push(...Array.from(range.getClientRects()).filter(r => r.width));
            }
            boxes.sort((a, b) => a.top - b.top);
            let lines = 0, bottom = -Infinity;
            for (const box of boxes) {
                if (box.top >= bottom - 1) { lines += 1; bottom = box.bottom; }
                else bottom = Math.max(bottom, box.bottom);
            }
            return lines;
        })"""
    )


def names_keep_one_line(page, path: str, width: int) -> None:
    """On `path`, each name in a table takes one line, and the page is no wider than `width`
    (a wider table scrolls in its card)."""
    page.goto(path)
    names = page.locator(".table-wrap td.name")
    assert names.count() > 0, path
    lines = lines_of_each(names)
    assert set(lines) == {1}, (path, lines)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, path


def test_the_audit_log_fits_1440_px(page, demo):
    from django.contrib.auth import get_user_model

    from audit.services import record_action

    bot, group = demo
    fill_log(bot, group)
    admin = get_user_model().objects.get(username="admin")
    for message in Message.objects.filter(status="failed")[:5]:
        record_action(admin, "message.retry", bot=bot, target=message, summary="Retry.")
    record_action(
        admin, "bot.update", bot=bot, target=bot, summary="timezone, rate_limit_per_minute"
    )
    page.set_viewport_size(WIDE)
    log_in(page)
    page.goto("/console/audit/")
    page.wait_for_selector("table.audit tbody tr")
    no_wrapped_headers_or_badges(page, "table.audit")
    shoot(page, "layout-audit-1440")
    page.goto("/console/audit/actions/")
    page.wait_for_selector("table tbody tr")
    no_wrapped_headers_or_badges(page, "table")
    shoot(page, "layout-actions-1440")


def test_the_admin_message_list_fits_1440_px(page, demo):
    bot, group = demo
    fill_log(bot, group)
    page.set_viewport_size(WIDE)
    log_in(page)
    page.goto("/admin/messaging/message/")
    page.wait_for_selector("#result_list")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]
    shoot(page, "layout-admin-messages-1440")


PHONE = {"width": 390, "height": 844}


def test_the_console_fits_a_phone_screen(page, demo):
    """At 390 px the header wraps instead of squeezing its links into one character
    a line, and no page is wider than the screen (wide tables scroll in their card, and
    an actions column's header, read out only, stays in its cell)."""
    bot, group = demo
    WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    page.set_viewport_size(PHONE)
    log_in(page)
    for path in (
        "/console/bots/",
        f"/console/bots/{bot.pk}/webhooks/",
        f"/console/bots/{bot.pk}/",
        f"/console/bots/{bot.pk}/settings/",
        f"/console/bots/{bot.pk}/conversations/{group.pk}/",
        "/console/dashboard/",
        "/console/audit/",
        "/console/announcements/",
    ):
        page.goto(path)
        page.wait_for_selector(".topbar")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        one_line = page.locator(".mainnav a, .topbar-right a, .topbar-right button").evaluate_all(
            """els => els.filter(e => {
                const range = document.createRange();
                range.selectNodeContents(e);
                return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size > 1;
            }).map(e => e.textContent.trim())"""
        )
        assert one_line == [], path
    shoot(page, "layout-bot-page-390")


def test_the_dashboard_charts_labels_are_readable_on_a_phone(page, demo):
    """The chart is drawn 900 units wide and scaled to its card: at 390 px its axis
    labels were 4 px tall."""
    page.set_viewport_size(PHONE)
    log_in(page)
    page.goto("/console/dashboard/")

    heights = page.locator(".chart text.tick").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 8
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "layout-dashboard-390")


def test_the_dashboard_charts_axis_labels_do_not_overlap_on_a_phone(page, demo):
    """At 390 px the y axis's "0" was drawn over the first date ("11-08")."""
    page.set_viewport_size(PHONE)
    log_in(page)
    page.goto("/console/dashboard/")

    boxes = page.locator(".chart text.tick").evaluate_all(
        """els => els.map(e => { const r = e.getBoundingClientRect();
              return [e.textContent, r.left, r.top, r.right, r.bottom]; })"""
    )
    overlapping = [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]
    assert len(boxes) > 6 and overlapping == []
    shoot(page, "layout-dashboard-axes-390")


def test_the_announcement_list_keeps_titles_readable_on_a_phone(page, demo):
    """At 390 px the title column was squeezed to two characters a line while the
    table scrolled anyway; a title now keeps a readable width."""
    bot, group = demo
    daily_announcement(bot, group, "系统维护通知", "今晚维护", as_draft=False)
    page.set_viewport_size(PHONE)
    log_in(page)
    page.goto("/console/announcements/")

    title = page.get_by_role("link", name="系统维护通知")
    lines = title.evaluate(
        """e => { const range = document.createRange(); range.selectNodeContents(e);
                  return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size; }"""
    )
    assert lines == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "layout-announcements-390")


def test_a_drafts_buttons_wrap_on_a_phone_in_english(page, demo):
    """At 390 px a draft's Schedule…, Edit, Duplicate and Discard draft stayed on one line
    in English, 29 px past the screen's edge."""
    bot, group = demo
    draft = daily_announcement(bot, group, "草稿公告", "草稿", as_draft=True)
    page.set_viewport_size(PHONE)
    log_in(page)
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("nav.mainnav >> text=Announcements")
    page.goto(f"/console/announcements/{draft.pk}/")

    button = page.get_by_role("button", name="Discard draft")
    assert button.evaluate("e => e.getBoundingClientRect().right") <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "layout-draft-390-en")


def test_a_yes_no_field_sits_beside_its_label_as_the_choices_of_a_list_do(page, demo_agent):
    """The 有效 box sat on a line of its own under its label and help text, while a
    multiple choice's boxes sit before their labels."""
    from conversations.models import Bot
    from forwarding.models import WebhookEndpoint

    bot = Bot.objects.get(name="demo")
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://example.com/hook")
    log_in(page)

    for name, url, form in (
        ("bot", f"/console/bots/{bot.pk}/settings/", "#sending-form"),
        ("webhook", f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/", "form.stacked"),
    ):
        page.goto(url)
        box = page.locator(f"{form} input[name=is_active]").bounding_box()
        label = page.locator(f"{form} label[for=id_is_active]").bounding_box()
        middle = label["y"] + label["height"] / 2
        assert box["y"] <= middle <= box["y"] + box["height"], url  # on the label's line
        assert box["x"] + box["width"] <= label["x"], url  # before it
        shoot(page, f"layout-yes-no-{name}")


def test_a_messages_details_page_fits_a_phone_its_tables_and_body_scroll_in_their_box(page, demo):
    """At 390 px the attempts table and the JSON body made the page 456 px wide."""
    from messaging.models import DeliveryAttempt

    bot, group = demo
    message = Message.objects.create(
        bot=bot,
        conversation=group,
        direction="out",
        msgtype="news",
        body={
            "msgtype": "news",
            "news": {
                "articles": [
                    {
                        "title": "系统维护通知",
                        "url": "https://example.com/notices/2026/12/maintenance-window-details",
                        "picurl": "https://example.com/images/maintenance-banner-wide.png",
                    }
                ]
            },
        },
        status="failed",
        attempt_count=2,
        source="api",
        last_error="agent answered HTTP 502",
    )
    for outcome in ("retry", "failed"):
        DeliveryAttempt.objects.create(
            message=message,
            started_at=timezone.now(),
            duration_ms=1234,
            outcome=outcome,
            http_status=502,
            errcode=-1,
            response_text="agent answered HTTP 502: bad gateway " * 4,
        )
    page.set_viewport_size(PHONE)
    log_in(page)

    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{message.pk}/trace")
    page.wait_for_selector(".trace-table")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The JSON body is wider than its box: it scrolls there. The attempts fit theirs, each
    # answer on a line of its own under its other columns.
    for box, scrolls in ((".trace-table", False), ("#body", True)):
        inside = page.locator(box).evaluate(
            "e => { const b = e.closest('.table-wrap') || e;"
            " return [b.getBoundingClientRect().right, b.scrollWidth, b.clientWidth]; }"
        )
        right, scroll_width, client_width = inside
        assert right <= PHONE["width"], box
        assert (scroll_width > client_width) == scrolls, box
    shoot(page, "layout-message-details-390")


def test_every_navigation_link_is_in_sight_on_a_phone_in_english(page, demo):
    """At 390 px in English "Dashboa…" was cut and "Announcements" was off the screen,
    in a bar that scrolled sideways with nothing to say so: the bar now wraps."""
    page.set_viewport_size(PHONE)
    log_in(page)
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("nav.mainnav >> text=Announcements")

    links = page.locator(".mainnav a").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [e.textContent.trim(), r.left, r.right, e.scrollWidth <= e.clientWidth]; })"
    )
    nav = page.locator(".mainnav").evaluate("e => e.scrollWidth <= e.clientWidth")

    assert [name for name, *_ in links] == [
        "Conversations",
        "Bots",
        "Search",
        "Audit log",
        "Dashboard",
        "Announcements",
    ]
    assert all(left >= 0 and right <= PHONE["width"] and whole for _, left, right, whole in links)
    assert nav  # nothing hidden past its edge
    shoot(page, "layout-nav-en-390")


def test_the_contact_sync_table_keeps_each_date_on_one_line_on_a_phone(page, demo):
    """At 390 px its dates wrapped over three lines."""
    bot, _group = demo
    page.set_viewport_size(PHONE)
    log_in(page)
    page.goto(f"/console/bots/{bot.pk}/settings/#contacts")

    lines = page.locator(".sync-runs time").evaluate_all(
        """els => els.map(e => { const range = document.createRange(); range.selectNodeContents(e);
              return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size; })"""
    )
    assert lines and set(lines) == {1}
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "layout-sync-table-390")


def test_names_in_wide_tables_stay_on_one_line_on_a_phone(page, demo):
    """At 390 px the audit table squeezed a conversation to 2–3 characters a line
    ("运维/值班/群/299"): names keep one line and the table scrolls in its card."""
    from django.contrib.auth import get_user_model

    from audit.services import record_action
    from conversations.models import Bot, Conversation

    bot, group = demo
    Bot.objects.filter(pk=bot.pk).update(name="运维值班机器人")
    Conversation.objects.filter(pk=group.pk).update(name="运维值班群299")
    fill_log(bot, group, n=4)
    admin = get_user_model().objects.get(username="admin")
    record_action(admin, "bot.update", bot=bot, target=bot, summary="timezone, rate_limit")
    page.set_viewport_size(PHONE)
    log_in(page)

    for path, shot in (
        ("/console/audit/", "layout-audit-390"),
        ("/console/audit/actions/", "layout-actions-390"),
        ("/console/dashboard/", "layout-dashboard-names-390"),
    ):
        names_keep_one_line(page, path, PHONE["width"])
        shoot(page, shot)
        page.locator(".table-wrap").first.evaluate("el => el.scrollLeft = el.scrollWidth / 2")
        shoot(page, shot + "-scrolled")


def test_names_in_the_audit_tables_keep_one_line_at_1366_px_a_long_one_cut_with_its_title(
    page, demo
):
    """At 1366 px the audit log squeezed a conversation into strips of two or three
    characters ("销售/部通/知群"): a name keeps one line, a long one ends in "…" and its
    title holds all of it."""
    from django.contrib.auth import get_user_model

    from audit.services import record_action
    from conversations.models import Conversation

    bot, group = demo
    long_name = "华东区大客户售后服务与技术支持协调群（第二期）"
    Conversation.objects.filter(pk=group.pk).update(name=long_name)
    fill_log(bot, group, n=6)
    admin = get_user_model().objects.get(username="admin")
    record_action(admin, "bot.update", bot=bot, target=bot, summary="timezone")
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page)

    for path, shot in (
        ("/console/audit/", "layout-audit-1366"),
        ("/console/audit/actions/", "layout-actions-1366"),
    ):
        names_keep_one_line(page, path, 1366)
        shoot(page, shot)

    page.goto("/console/audit/")
    cut = page.locator(f'.cell-name[title="{long_name}"]').first
    assert cut.evaluate("e => e.scrollWidth > e.clientWidth")  # drawn with its "…"
    assert cut.evaluate("e => getComputedStyle(e).textOverflow") == "ellipsis"


def test_a_long_word_in_a_search_result_or_a_documents_code_stays_on_a_phones_screen(
    page, demo, make_message
):
    """A URL in a message found by search, and a document's curl sample or wide table,
    ran past a 390 px screen: the whole page scrolled sideways. The result wraps; the
    sample and the table scroll in the document's card."""
    bot, group = demo
    url = "https://ci.example.com/job/1234/console?build_id=" + "0123456789abcdef" * 4
    make_message(group, "out", f"部署失败，详情见 {url} 请检查")
    page.set_viewport_size(PHONE)
    log_in(page)

    page.goto("/console/search/?q=部署失败")
    assert page.locator(".result-text").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "layout-search-long-url-390")

    page.goto("/console/docs/api/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    scrolling_in_card = page.locator(".docs-page pre").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth).length"
    )
    assert scrolling_in_card > 0  # the samples are there, wider than the card
    shoot(page, "layout-docs-390")


def test_long_names_without_spaces_stay_on_a_phones_screen(page, demo):
    """A 90-character name without a space (a group, an announcement's title, a webhook
    endpoint's description) made the history's heading, the conversation list, the
    recipients' back link and the rotation page's endpoint list wider than 390 px."""
    from conversations.models import Conversation

    bot, group = demo
    long = "Q4RegionalSalesOperationsCoordinationGroup" + "X" * 48
    Conversation.objects.filter(pk=group.pk).update(name=long)
    announcement = daily_announcement(bot, group, long, "今晚维护", as_draft=False)
    WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example/in", description=long, sends_api_secret=True
    )
    page.set_viewport_size(PHONE)
    log_in(page)

    too_wide = {}
    for path, shot in (
        (f"/console/bots/{bot.pk}/conversations/{group.pk}/", "layout-long-name-history-390"),
        (f"/console/bots/{bot.pk}/", "layout-long-name-conversations-390"),
        (
            f"/console/announcements/{announcement.pk}/recipients/",
            "layout-long-name-recipients-390",
        ),
        (f"/console/bots/{bot.pk}/secrets/rotate", "layout-long-name-rotate-390"),
    ):
        page.goto(path)
        page.wait_for_selector(".topbar")
        assert page.get_by_text(long).count() > 0, path
        shoot(page, shot)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = width
    assert too_wide == {}


def test_a_back_links_arrow_stays_with_the_start_of_a_long_name(page, demo):
    """At 390 px a back link to a long name without spaces (the recipients page's to its
    announcement, the message details' to their conversation) showed its arrow alone on
    the first line and the name below it; the message details' made the page 800 px wide."""
    from conversations.models import Conversation

    bot, group = demo
    long = "Q4RegionalSalesOperationsCoordinationGroup" + "X" * 48
    Conversation.objects.filter(pk=group.pk).update(name=long)
    announcement = daily_announcement(bot, group, long, "今晚维护", as_draft=False)
    message = Message.objects.filter(conversation=group).latest("pk")
    page.set_viewport_size(PHONE)
    log_in(page)

    alone = {}
    for path, shot in (
        (f"/console/announcements/{announcement.pk}/recipients/", "back-link-recipients-390"),
        (
            f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{message.pk}/trace",
            "back-link-message-details-390",
        ),
    ):
        page.goto(path)
        link = page.locator("main a", has_text=long[:20]).first
        # The top of the link's first line box, and of the name's first character.
        arrow_top, name_top = link.evaluate(
            """(a, start) => {
                const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
                for (let text = walker.nextNode(); text; text = walker.nextNode()) {
                    const at = text.data.indexOf(start);
                    if (at < 0) continue;
                    const range = document.createRange();
                    range.setStart(text, at);
                    range.setEnd(text, at + 1);
                    return [a.getClientRects()[0].top, range.getClientRects()[0].top];
                }
            }""",
            long[:20],
        )
        shoot(page, shot)
        if abs(arrow_top - name_top) > 2:
            alone[path] = (arrow_top, name_top)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            alone[path] = width
    assert alone == {}


def test_a_forms_target_opened_as_a_page_shows_the_consoles_405_page_on_any_screen(page, demo):
    """A reloaded or bookmarked form target: the console's page, its header and a way back,
    in both languages, on a wide screen and a phone (was Django's empty 405)."""
    bot, group = demo
    announcement = daily_announcement(bot, group, "Q4" + "X" * 88, "今晚维护", as_draft=False)
    log_in(page)

    for language, heading in (("zh", "此地址没有页面"), ("en", "No page at this address")):
        if language == "en":
            page.get_by_role("button", name="English").click()
            page.wait_for_selector('html[lang="en"]')
        for viewport in ({"width": 1366, "height": 860}, PHONE):
            page.set_viewport_size(viewport)
            answer = page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/reply")
            assert answer.status == 405 and answer.headers["allow"] == "POST"
            assert page.get_by_role("heading", name=heading).is_visible()
            shoot(page, f"error-405-{language}-{viewport['width']}")
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            page.goto(f"/console/announcements/{announcement.pk}/recipients/")
            shoot(page, f"back-link-recipients-{language}-{viewport['width']}")


def test_the_show_all_link_after_a_search_that_finds_nothing_keeps_one_line_on_a_phone(page, demo):
    """At 390 px "没有名称匹配“…”的会话。 显示全部" broke the link between 全 and 部."""
    bot, _group = demo
    page.set_viewport_size(PHONE)
    log_in(page)

    page.goto(f"/console/bots/{bot.pk}/?q=zzznothing")

    link = page.get_by_role("link", name="显示全部")
    lines = link.evaluate("a => new Set(Array.from(a.getClientRects()).map(r => r.top)).size")
    shoot(page, "conversation-search-nothing-390")
    assert lines == 1
