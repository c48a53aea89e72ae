"""Browser tests: the compose page asks before anything goes out, naming the recipients and
when (console/send_questions.py), keeps what was typed when the answer is no, and sends
once however often the button is pressed; the announcement's page then names the contacts
it mentions."""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from announcements.models import Announcement
from announcements.schedule import parse
from conversations.models import Conversation
from tests.browser import needs_chromium, screenshot
from tests.images import image_bytes
from tests.polling import wait_until

from .test_browser import WEEKDAYS, answer_dialogs, open_compose_page

pytestmark = needs_chromium


@pytest.fixture
def contacts(bot, make_conversation) -> list[Conversation]:
    """The bot's synced contacts: three groups and two users."""
    found = [make_conversation(bot, f"wrOps{i}", name=f"运维群{i}") for i in range(1, 4)]
    for i in (1, 2):
        found.append(
            make_conversation(bot, f"wmBad00{i}", name=f"测试用户{i}", kind=Conversation.Kind.USER)
        )
    return found


def write_text(page, title: str, text: str, mentions: str = "") -> None:
    page.fill("[name=title]", title)
    page.check("input[name=msgtype][value=text]")
    page.fill("[name=text__content]", text)
    if mentions:
        page.fill("[name=text__mentioned_list]", mentions)


@pytest.mark.django_db(transaction=True)
def test_send_now_asks_first_keeps_the_form_on_no_and_sends_once_on_yes(
    live_server, browser, bot, contacts, superuser
):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_compose_page(page, live_server)
    write_text(page, "全员通知-立即", "今晚 20:00 发布新版本", mentions="测试用户1")
    page.check('input[name=audience][value="everyone"]')
    page.wait_for_function("() => document.querySelector('#selected-count').textContent === '(5)'")
    assert page.inner_text("#submit-schedule") == "立即发送"

    # No: nothing is stored, and what was typed stays.
    asked = answer_dialogs(page, accept=False, once=True)
    with page.expect_event("dialog"):
        page.click("#submit-schedule")
    assert asked == ["现在发送给 5 个会话？"]
    assert not wait_until(Announcement.objects.exists, timeout=1)
    assert page.url.endswith("/console/announcements/new/")
    assert page.input_value("[name=title]") == "全员通知-立即"
    assert page.input_value("[name=text__mentioned_list]") == "测试用户1"
    assert page.is_checked('input[name=audience][value="everyone"]')
    assert page.inner_text("#preview .mentions") == "@测试用户1"

    # Yes, with the button pressed twice: asked once, sent once.
    asked = answer_dialogs(page)
    page.dblclick("#submit-schedule")
    page.wait_for_url(re.compile(r"/console/announcements/\d+/$"))
    assert asked == ["现在发送给 5 个会话？"]
    announcement = Announcement.objects.get()
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.body["text"]["mentioned_list"] == ["wmBad001"]
    # Its page names the mentioned contact as the compose page did, not by ID.
    assert page.inner_text(".bubble .mentions").strip() == "@测试用户1"
    screenshot(page, "announcements", "confirm-01-sent-now")


@pytest.mark.django_db(transaction=True)
def test_a_question_gone_stale_is_asked_again_on_the_page_keeping_the_uploaded_image(
    live_server, browser, bot, contacts, superuser, settings, tmp_path
):
    """The recipients changed between the question and the answer (here: the answer to the
    page's ask is swapped for an older one): the server asks with the right count and the
    schedule, on the page, with the image uploaded before."""
    settings.MEDIA_ROOT = tmp_path
    picture = tmp_path / "notice.png"
    picture.write_bytes(image_bytes("PNG"))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_compose_page(page, live_server)
    page.fill("[name=title]", "每日值班提醒")
    page.check("input[name=msgtype][value=image]")
    page.set_input_files("[name=image_file]", str(picture))
    page.check('input[name=audience][value="groups"]')
    page.check("input[name=kind][value=weekdays]")
    page.fill("[name=time]", "09:30")
    page.wait_for_function("() => document.querySelectorAll('#next-runs li').length === 5")
    assert page.inner_text("#submit-schedule") == "计划发送"

    def older_answer(route):
        if b'name="ask"' in (route.request.post_data_buffer or b""):
            route.fulfill(json={"question": "计划发送给 2 个会话？"})
        else:
            route.continue_()

    page.route("**/console/announcements/new/", older_answer)
    asked = answer_dialogs(page)
    page.click("#submit-schedule")
    page.wait_for_selector("#send-confirm")

    first = parse("weekdays", {"time": "09:30"}, "Asia/Shanghai").first_run(timezone.now())
    question = (
        "计划发送给 3 个会话：每个工作日（周一至周五）09:30（Asia/Shanghai），"
        f"首次运行 {first:%Y-%m-%d} {WEEKDAYS[first.weekday()]} {first:%H:%M}？"
    )
    assert asked == ["计划发送给 2 个会话？"]
    assert page.inner_text("#send-confirm strong") == question
    assert not Announcement.objects.exists()
    # What was typed is there, the picture too (stored, not sent again by the browser).
    assert page.input_value("[name=title]") == "每日值班提醒"
    assert page.input_value("[name=time]") == "09:30"
    assert page.is_visible("#staged-image-note")
    page.wait_for_function(
        "() => { const img = document.querySelector('#preview img');"
        " return img !== null && img.complete && img.naturalWidth > 0; }"
    )
    screenshot(page, "announcements", "confirm-02-asked-on-the-page")

    page.get_by_role("button", name="确认，计划发送").click()
    page.wait_for_url(re.compile(r"/console/announcements/\d+/$"))
    announcement = Announcement.objects.get()
    assert announcement.status == Announcement.Status.ACTIVE
    stored = [p for p in (tmp_path / "announcements").iterdir()]
    assert len(stored) == 1 and announcement.body["image"]["url"].endswith(stored[0].name)
    assert asked == ["计划发送给 2 个会话？"]  # the page's own question needs no dialog
    assert isinstance(announcement.next_run_at, datetime)
    assert announcement.next_run_at - first < timedelta(seconds=1)
