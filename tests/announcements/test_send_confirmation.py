"""Nothing goes out from the compose page before the operator has answered its question,
which names the recipients and when (a recurring announcement's schedule too); the same
page sent twice makes one announcement (console/send_questions.py)."""

import re
from datetime import UTC, datetime

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from announcements.models import Announcement
from audit.models import OperatorAction
from conversations.models import Conversation
from tests.announcement_posts import asked_question, post_confirmed
from tests.html_forms import submitted_form
from tests.images import image_bytes

from .test_console_pages import compose_post

NEW = "/console/announcements/new/"
# Tuesday 2029-12-04 10:00 in Shanghai.
NOW = datetime(2029, 12, 4, 2, 0, tzinfo=UTC)


def text_post(bot, groups, **overrides) -> dict:
    return compose_post(
        bot,
        groups,
        msgtype="text",
        text__content="今晚 20:00 发布新版本",
        link__title="",
        link__url="",
        **overrides,
    )


def asked_on_the_page(response) -> str:
    """The question the page itself asks (no answer came with the post), or ""."""
    found = re.search(
        r'id="send-confirm">\s*<p><strong>([^<]*)</strong>', response.content.decode()
    )
    return found.group(1) if found else ""


@time_machine.travel(NOW, tick=False)
def test_the_question_names_the_recipients_and_when_in_the_announcements_zone(
    client, bot, make_groups, superuser
):
    groups = make_groups(bot, 3)
    client.force_login(superuser)

    now = asked_question(client, NEW, text_post(bot, groups, kind="now"))
    once = asked_question(client, NEW, text_post(bot, groups[:2], at="2030-01-02T09:00"))
    daily = asked_question(client, NEW, text_post(bot, groups[:1], kind="weekdays", time="09:30"))
    client.cookies["django_language"] = "en"
    english = asked_question(
        client, NEW, text_post(bot, groups, kind="monthly", time="09:30", month_day="last")
    )

    assert now == "现在发送给 3 个会话？"
    assert once == "计划发送给 2 个会话，发送时间 2030-01-02 周三 09:00（Asia/Shanghai）？"
    assert daily == (
        "计划发送给 1 个会话：每个工作日（周一至周五）09:30（Asia/Shanghai），"
        "首次运行 2029-12-05 周三 09:30？"
    )
    assert english == (
        "Schedule for 3 conversations: Monthly on the last day at 09:30 (Asia/Shanghai), "
        "first run 2029-12-31 Mon 09:30?"
    )
    assert not Announcement.objects.exists()


def test_a_send_not_yet_confirmed_is_asked_on_the_page_with_what_was_typed_and_stores_nothing(
    client, bot, make_groups, make_conversation, superuser
):
    """Without the page's script (or its answer), the server asks instead of sending."""
    groups = make_groups(bot, 2)
    make_conversation(bot, "wmZhang", kind=Conversation.Kind.USER, name="张伟")
    client.force_login(superuser)
    data = text_post(bot, groups, audience="everyone", kind="now", text__mentioned_list="张伟")

    page = client.post(NEW, data)
    shown = submitted_form(page.content.decode(), "compose")
    answered = client.post(NEW, {**shown, "confirmed": asked_on_the_page(page)})

    assert page.status_code == 200
    assert asked_on_the_page(page) == "现在发送给 3 个会话？"
    assert "确认，立即发送" in page.content.decode()
    assert shown["title"] == ["Weekly notice"] and shown["text__mentioned_list"] == ["张伟"]
    assert shown["audience"] == ["everyone"]
    assert answered.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.body["text"]["mentioned_list"] == ["wmZhang"]


def test_an_answer_to_a_question_no_longer_true_is_asked_again(
    client, bot, make_groups, make_conversation, superuser
):
    """A conversation came in while the operator read "2 conversations": nothing is sent to
    3 before they have been told."""
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    data = text_post(bot, groups, audience="groups", kind="now")
    question = asked_question(client, NEW, data)
    make_conversation(bot, "wrLate", name="新群")

    page = client.post(NEW, {**data, "confirmed": question})

    assert question == "现在发送给 2 个会话？"
    assert asked_on_the_page(page) == "现在发送给 3 个会话？"
    assert not Announcement.objects.exists()


def test_drafts_and_a_paused_announcements_edit_are_saved_without_a_question(
    client, bot, make_groups, superuser, make_announcement
):
    groups = make_groups(bot, 1)
    paused = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
    Announcement.objects.filter(pk=paused.pk).update(status=Announcement.Status.PAUSED)
    client.force_login(superuser)
    draft = text_post(bot, groups)
    del draft["schedule"]

    saved_draft = client.post(NEW, {**draft, "save_draft": "1"})
    edit = f"/console/announcements/{paused.pk}/edit/"
    shown = submitted_form(client.get(edit).content.decode(), "compose")
    saved_edit = client.post(edit, {**shown, "title": "Renamed", "schedule": "1"})

    assert saved_draft.status_code == saved_edit.status_code == 302
    paused.refresh_from_db()
    assert paused.title == "Renamed" and paused.status == Announcement.Status.PAUSED


def test_the_same_page_sent_twice_makes_one_announcement_and_says_so(
    client, bot, make_groups, superuser
):
    """A double click, or Back and Send again: the page's id (`submission`) was used."""
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    shown = submitted_form(client.get(NEW).content.decode(), "compose")
    data = {**shown, **text_post(bot, groups, kind="now")}

    first = post_confirmed(client, NEW, data)
    again = client.post(NEW, {**data, "confirmed": "现在发送给 2 个会话？"}, follow=True)
    other_page = submitted_form(client.get(NEW).content.decode(), "compose")

    announcement = Announcement.objects.get()
    assert first["Location"] == f"/console/announcements/{announcement.pk}/"
    assert again.redirect_chain == [(first["Location"], 302)]
    assert "此页面已保存过这条公告：没有再次保存或发送。" in again.content.decode()
    assert asked_question(client, NEW, data) == ""  # not asked again either
    assert OperatorAction.objects.filter(action="announcement.create").count() == 1
    assert other_page["submission"] != shown["submission"]
    assert re.fullmatch(r"[0-9a-f]{32}", shown["submission"][0])


def test_an_uploaded_image_is_kept_while_the_page_asks_and_sent_when_answered(
    client, bot, make_groups, superuser, settings, tmp_path
):
    """A browser does not send a file again: the page asks with the image already stored."""
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    png = image_bytes("PNG")
    data = compose_post(
        bot,
        make_groups(bot, 1),
        msgtype="image",
        image_file=SimpleUploadedFile("logo.png", png, "image/png"),
    )

    page = client.post(NEW, data)
    shown = submitted_form(page.content.decode(), "compose")
    answered = client.post(NEW, {**shown, "confirmed": asked_on_the_page(page)})

    assert "之前上传的图片已保留" in page.content.decode()
    assert answered.status_code == 302
    url = Announcement.objects.get().body["image"]["url"]
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(stored) == 1 and url.endswith(stored[0].name)
    assert stored[0].read_bytes() == png
