"""The announcement pages: compose, list, detail, actions; operators only for their bots."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import timezone

from announcements.models import Announcement, SavedAudience
from announcements.scheduler import start_due_announcements
from audit.models import OperatorAction
from conversations.models import Conversation
from messaging.sending import accept_outbound
from tests.announcement_posts import post_confirmed
from tests.html_forms import submitted_form
from tests.images import image_bytes


def text_body(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


def compose_post(bot, groups, **overrides):
    data = {
        "bot": bot.pk,
        "title": "Weekly notice",
        "msgtype": "link",
        "link__title": "Release notes",
        "link__url": "https://example.com/notes",
        "link__desc": "What changed",
        "conversations": [g.pk for g in groups],
        "kind": "once",
        "at": "2030-01-02T09:00",
        "timezone": "Asia/Shanghai",
        "schedule": "1",
    }
    data.update(overrides)
    return data


def test_an_operator_composes_a_link_announcement_for_their_bot(
    client, bot, make_groups, make_operator
):
    groups = make_groups(bot, 2)
    operator = make_operator("alice", bot)
    client.force_login(operator)

    page = client.get("/console/announcements/new/")
    response = post_confirmed(client, "/console/announcements/new/", compose_post(bot, groups))

    assert page.status_code == 200
    assert "group 0" in page.content.decode()
    announcement = Announcement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/announcements/{announcement.pk}/"
    assert announcement.body == {
        "msgtype": "link",
        "link": {
            "title": "Release notes",
            "url": "https://example.com/notes",
            "desc": "What changed",
        },
    }
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.next_run_at.isoformat() == "2030-01-02T01:00:00+00:00"
    assert set(announcement.conversations.all()) == set(groups)
    action = OperatorAction.objects.get(action="announcement.create")
    assert (action.actor, action.bot) == (operator, bot)


def test_an_announcement_sent_now_says_it_is_being_sent_not_scheduled(
    client, bot, make_groups, superuser
):
    groups = make_groups(bot, 1)
    client.force_login(superuser)

    now = post_confirmed(
        client, "/console/announcements/new/", compose_post(bot, groups, kind="now"), follow=True
    )
    later = post_confirmed(
        client, "/console/announcements/new/", compose_post(bot, groups), follow=True
    )
    client.cookies["django_language"] = "en"
    english = post_confirmed(
        client, "/console/announcements/new/", compose_post(bot, groups, kind="now"), follow=True
    )

    assert "公告已保存：正在发送。" in now.content.decode()
    assert "公告已计划" not in now.content.decode()
    assert "公告已计划。" in later.content.decode()
    assert "Announcement saved: it is being sent now." in english.content.decode()


def test_an_operator_of_bot_a_cannot_compose_for_or_see_bot_b(
    client, make_bot, make_groups, make_operator, make_announcement
):
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    groups_b = make_groups(bot_b, 1)
    theirs = make_announcement(bot_b, groups_b)
    client.force_login(make_operator("alice", bot_a))

    assert client.get(f"/console/announcements/new/?bot={bot_b.pk}").status_code == 404
    assert (
        client.post("/console/announcements/new/", compose_post(bot_b, groups_b)).status_code == 404
    )
    assert client.get(f"/console/announcements/{theirs.pk}/").status_code == 404
    assert client.post(f"/console/announcements/{theirs.pk}/cancel/").status_code == 404
    assert "Notice" not in client.get("/console/announcements/").content.decode()
    assert Announcement.objects.count() == 1
    assert not OperatorAction.objects.filter(action="announcement.cancel").exists()


def test_recipients_of_another_bot_are_refused(client, make_bot, make_groups, make_operator):
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    make_groups(bot_a, 1)
    foreign = make_groups(bot_b, 1, prefix="wrB")
    client.force_login(make_operator("alice", bot_a))

    response = client.post("/console/announcements/new/", compose_post(bot_a, foreign))

    assert response.status_code == 200
    assert not Announcement.objects.exists()


def test_a_draft_is_saved_without_a_run_and_can_be_edited(client, bot, make_groups, superuser):
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    data = compose_post(bot, groups, kind="now")
    del data["schedule"]
    data["save_draft"] = "1"

    post_confirmed(client, "/console/announcements/new/", data)
    draft = Announcement.objects.get()
    edit_page = client.get(f"/console/announcements/{draft.pk}/edit/")
    post_confirmed(
        client,
        f"/console/announcements/{draft.pk}/edit/",
        compose_post(bot, groups[:1], title="Edited", kind="weekdays", time="18:00"),
    )

    assert draft.status == Announcement.Status.DRAFT and draft.next_run_at is None
    assert 'value="Weekly notice"' in edit_page.content.decode()
    draft.refresh_from_db()
    assert (draft.title, draft.status, draft.schedule_kind) == ("Edited", "active", "weekdays")
    assert draft.conversations.count() == 1
    assert OperatorAction.objects.filter(action="announcement.edit").count() == 1


def test_a_recurring_announcement_is_edited_after_it_has_run_and_its_past_run_keeps_its_text(
    client, bot, make_groups, superuser, make_announcement
):
    from announcements.fanout import fan_out
    from messaging.models import Message

    groups = make_groups(bot, 2)
    announcement = make_announcement(
        bot, groups, kind="daily", schedule={"time": "09:00"}, body=text_body("old text")
    )
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=timezone.now())
    (run_id,) = start_due_announcements()
    client.force_login(superuser)

    # While the run hands out its messages, the body must not change under it.
    busy = client.get(f"/console/announcements/{announcement.pk}/edit/", follow=True)
    assert "不能编辑" in busy.content.decode()
    fan_out(run_id)

    response = post_confirmed(
        client,
        f"/console/announcements/{announcement.pk}/edit/",
        {
            **compose_post(bot, groups[:1], title="Daily, edited", kind="daily", time="10:00"),
            "msgtype": "text",
            "text__content": "new text",
        },
    )

    assert response.status_code == 302
    announcement.refresh_from_db()
    assert (
        announcement.title == "Daily, edited" and announcement.body["text"]["content"] == "new text"
    )
    assert announcement.status == "active" and announcement.next_run_at > timezone.now()
    assert list(announcement.conversations.all()) == groups[:1]
    sent = Message.objects.filter(announcement_run_id=run_id)
    assert sent.count() == 2 and {m.body["text"]["content"] for m in sent} == {"old text"}
    assert OperatorAction.objects.filter(action="announcement.edit").count() == 1


def test_a_finished_announcement_cannot_be_edited(
    client, bot, make_groups, superuser, make_announcement
):
    groups = make_groups(bot, 1)
    announcement = make_announcement(bot, groups)
    start_due_announcements()  # a one-off "now": runs once and finishes
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{announcement.pk}/edit/")
    posted = client.post(
        f"/console/announcements/{announcement.pk}/edit/",
        compose_post(bot, groups, title="Too late"),
    )

    assert page.status_code == 302 and posted.status_code == 302
    announcement.refresh_from_db()
    assert announcement.status == "finished" and announcement.title != "Too late"


def test_the_form_shows_why_a_schedule_or_a_body_is_refused(client, bot, make_groups, superuser):
    groups = make_groups(bot, 1)
    client.force_login(superuser)

    bad_cron = client.post(
        "/console/announcements/new/", compose_post(bot, groups, kind="cron", cron="every day")
    )
    no_recipient = client.post(
        "/console/announcements/new/", compose_post(bot, [], conversations=[])
    )

    assert bad_cron.status_code == 200 and "cron" in bad_cron.content.decode()
    assert no_recipient.status_code == 200
    assert not Announcement.objects.exists()


def test_recipients_can_be_saved_as_an_audience_and_reused(client, bot, make_groups, superuser):
    groups = make_groups(bot, 3)
    client.force_login(superuser)

    post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(bot, groups[:2], save_audience_as="Sales"),
    )
    page = client.get("/console/announcements/new/")

    audience = SavedAudience.objects.get(bot=bot, name="Sales")
    assert set(audience.conversations.all()) == set(groups[:2])
    assert Announcement.objects.get().saved_audience == audience
    assert "Sales" in page.content.decode()


def test_an_uploaded_image_is_stored_and_served_at_the_public_url(
    client, bot, make_groups, superuser, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    settings.BOTADMIN_PUBLIC_URL = "https://botadmin.example.com"
    groups = make_groups(bot, 1)
    client.force_login(superuser)
    png = image_bytes("PNG")

    # The operator browses through an internal name: the worker, the media fetcher and
    # bridge agents reach botadmin at BOTADMIN_PUBLIC_URL instead.
    post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(
            bot,
            groups,
            msgtype="image",
            image_file=SimpleUploadedFile("logo.png", png, "image/png"),
        ),
        HTTP_HOST="127.0.0.1:8000",
    )

    url = Announcement.objects.get().body["image"]["url"]
    prefix = "https://botadmin.example.com/media/announcements/"
    assert url.startswith(prefix) and url.endswith(".png")
    served = client.get(url.removeprefix("https://botadmin.example.com"))
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png


@pytest.mark.parametrize(
    "refused",
    [
        {"kind": "cron", "cron": "0 9 31 2 *"},  # never fires
        {"kind": "once", "at": "2001-01-01T09:00"},  # in the past
        {"title": "x" * 1000},
    ],
)
def test_a_refused_image_announcement_leaves_no_image_behind(
    client, bot, make_groups, superuser, settings, tmp_path, refused
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    png = image_bytes("PNG")
    image = SimpleUploadedFile("logo.png", png, "image/png")

    page = client.post(
        "/console/announcements/new/",
        compose_post(bot, make_groups(bot, 1), msgtype="image", image_file=image, **refused),
    )

    assert page.status_code == 200 and not Announcement.objects.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_detail_shows_runs_with_progress_and_actions_work(
    client, bot, make_groups, superuser, make_announcement
):
    from announcements.fanout import fan_out

    announcement = make_announcement(bot, make_groups(bot, 2))
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{announcement.pk}/")
    partial = client.get(f"/console/announcements/{announcement.pk}/?partial=runs")
    client.post(f"/console/announcements/{announcement.pk}/pause/")
    announcement.refresh_from_db()
    paused = announcement.status
    client.post(f"/console/announcements/{announcement.pk}/resume/")
    client.post(f"/console/announcements/{announcement.pk}/cancel/")
    announcement.refresh_from_db()

    assert page.status_code == 200
    assert 'data-sending="1"' in partial.content.decode()
    assert partial.content.decode().count('data-msgid="') == 2
    assert paused == "paused"
    assert announcement.status == "cancelled"
    assert list(OperatorAction.objects.order_by("pk").values_list("action", flat=True)) == [
        "announcement.create",
        "announcement.pause",
        "announcement.resume",
        "announcement.cancel",
    ]


def test_an_announcement_cancelled_before_it_ran_says_so_instead_of_no_run_yet(
    client, bot, make_groups, superuser, make_announcement
):
    """ "No run yet" suggested a run might still come."""
    cancelled = make_announcement(
        bot, make_groups(bot, 1), kind="daily", schedule={"time": "09:00"}
    )
    waiting = make_announcement(
        bot, make_groups(bot, 1, prefix="wrW"), kind="daily", schedule={"time": "09:00"}
    )
    client.force_login(superuser)
    client.post(f"/console/announcements/{cancelled.pk}/cancel/")

    page = client.get(f"/console/announcements/{cancelled.pk}/").content.decode()
    still_to_run = client.get(f"/console/announcements/{waiting.pk}/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(f"/console/announcements/{cancelled.pk}/").content.decode()

    assert "在首次运行前已取消。" in page and "尚未运行" not in page
    assert "尚未运行。" in still_to_run
    assert "Cancelled before its first run." in english and "No run yet" not in english


def test_each_action_says_what_it_did_in_the_words_of_the_badge(
    client, bot, make_groups, superuser, make_announcement
):
    """Cancelling flashed "已完成。" above a badge saying "已取消"."""
    announcement = make_announcement(bot, make_groups(bot, 2))
    client.force_login(superuser)
    act = f"/console/announcements/{announcement.pk}/%s/"

    paused = client.post(act % "pause", follow=True).content.decode()
    resumed = client.post(act % "resume", follow=True).content.decode()
    cancelled = client.post(act % "cancel", follow=True).content.decode()

    assert "公告已暂停" in paused and "公告已恢复" in resumed
    assert "公告已取消：尚未发送的接收者不会再收到" in cancelled and "已完成" not in cancelled
    announcement.refresh_from_db()
    assert announcement.status == "cancelled"

    client.cookies["django_language"] = "en"
    again = make_announcement(bot, make_groups(bot, 1, prefix="wrEn"))
    english = client.post(f"/console/announcements/{again.pk}/cancel/", follow=True)
    assert "Announcement cancelled: recipients not yet sent" in english.content.decode()


MESSAGE_PREVIEW = "/console/announcements/message-preview/"


def test_the_compose_preview_draws_markdown_as_the_timeline_does(client, bot, make_operator):
    client.force_login(make_operator("alice", bot))
    compose = client.get("/console/announcements/new/").content.decode()

    drawn = client.post(
        MESSAGE_PREVIEW,
        {"msgtype": "markdown", "content": '## 周报\n<font color="comment">第 3 周</font>'},
    )
    table = client.post(MESSAGE_PREVIEW, {"msgtype": "markdown_v2", "content": "|a|\n|-|\n|1|"})
    attack = client.post(
        MESSAGE_PREVIEW,
        {"msgtype": "markdown", "content": "<script>alert(1)</script>[x](javascript:alert(1))"},
    )

    assert f'data-markdown-preview-url="{MESSAGE_PREVIEW}"' in compose
    assert drawn.status_code == 200 and drawn["Content-Type"].startswith("text/html")
    assert drawn.content.decode() == (
        '<div class="md-h md-h2">周报</div>\n<p><span class="md-comment">第 3 周</span></p>\n'
    )
    assert "<td>1</td>" in table.content.decode()
    assert attack.content.decode() == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;[x](javascript:alert(1))</p>\n"
    )


def test_the_compose_preview_is_for_logged_in_operators_and_posts_only(client, superuser):
    refused = client.post(MESSAGE_PREVIEW, {"msgtype": "markdown", "content": "**x**"})
    client.force_login(superuser)
    fetched = client.get(MESSAGE_PREVIEW, {"msgtype": "markdown", "content": "**x**"})

    assert refused.status_code == 302 and "/login" in refused["Location"]
    assert fetched.status_code == 405


def test_the_detail_page_shows_a_markdown_announcement_as_the_chat_does(
    client, bot, make_groups, superuser, make_announcement
):
    body = {
        "msgtype": "markdown",
        "markdown": {"content": '# 停机\n<font color="warning">今晚</font>'},
    }
    announcement = make_announcement(bot, make_groups(bot, 1), body=body)
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    assert '<div class="markdown"><div class="md-h md-h1">停机</div>' in page
    assert '<span class="md-warning">今晚</span>' in page and "# 停机" not in page


def test_schedule_preview_lists_the_next_five_times_in_the_time_zone(client, superuser):
    client.force_login(superuser)

    response = client.get(
        "/console/announcements/schedule-preview/",
        {"kind": "weekly", "time": "18:00", "weekdays": ["0", "2"], "timezone": "Europe/Berlin"},
    )
    refused = client.get("/console/announcements/schedule-preview/", {"kind": "cron", "cron": "x"})

    data = response.json()
    assert data["timezone"] == "Europe/Berlin"
    assert len(data["times"]) == 5
    assert all(t.endswith("18:00") and (" 周一 " in t or " 周三 " in t) for t in data["times"])
    assert refused.json()["error"]
    client.cookies["django_language"] = "en"
    english = client.get(
        "/console/announcements/schedule-preview/",
        {"kind": "weekly", "time": "18:00", "weekdays": ["0"], "timezone": "Europe/Berlin"},
    )
    assert " Mon 18:00" in english.json()["times"][0]


def test_the_next_runs_in_a_repeated_hour_show_which_pass_they_are_in(
    client, bot, make_groups, make_announcement, superuser
):
    """Every 15 minutes in New York, from 01:20 EDT on 1 November 2026, when 01:00-02:00
    happens twice: the preview lists 01:30 and 01:45, then 01:00 again, each with its UTC
    offset, on the compose page and on the announcement's page."""
    client.force_login(superuser)
    expected = [
        "2026-11-01 周日 01:30 UTC-04:00",
        "2026-11-01 周日 01:45 UTC-04:00",
        "2026-11-01 周日 01:00 UTC-05:00",
        "2026-11-01 周日 01:15 UTC-05:00",
        "2026-11-01 周日 01:30 UTC-05:00",
    ]
    schedule = {"cron": "*/15 * * * *"}
    with time_machine.travel(datetime(2026, 11, 1, 5, 20, tzinfo=UTC), tick=False):
        composing = client.get(
            "/console/announcements/schedule-preview/",
            {"kind": "cron", **schedule, "timezone": "America/New_York"},
        ).json()
        announcement = make_announcement(
            bot, make_groups(bot, 1), kind="cron", schedule=schedule, tz="America/New_York"
        )
        detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    assert composing["times"] == expected
    assert "".join(f"<li>{t}</li>" for t in expected) in detail


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            {"kind": "daily", "time": "09:00", "until": "2026-13-45"},
            "请按 YYYY-MM-DD 输入结束日期。",
        ),
        ({"kind": "monthly", "time": "09:00"}, "请选择 1 到 31 之间的日期，或每月最后一天。"),
        (
            {"kind": "monthly", "time": "09:00", "month_day": "first"},
            "请选择 1 到 31 之间的日期，或每月最后一天。",
        ),
        ({"kind": "fortnightly", "time": "09:00"}, "未知的计划类型：fortnightly"),
    ],
    ids=["bad-end-date", "monthly-without-day", "day-not-a-number", "unknown-kind"],
)
def test_the_schedule_preview_says_what_is_wrong_while_the_operator_types(
    client, superuser, query, error
):
    client.force_login(superuser)

    answer = client.get("/console/announcements/schedule-preview/", query).json()

    assert answer == {"times": [], "error": error}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            {"kind": "once", "at": "2026-12-07T10:00"},
            "该时间已经过去，请选择将来的时间。",
        ),
        (
            {"kind": "daily", "time": "08:00", "until": "2026-12-07"},
            "到结束日期 2026-12-07 之前已没有任何一次发送，请选择更晚的结束日期。",
        ),
    ],
    ids=["one-off-time-passed", "end-date-leaves-no-run"],
)
def test_the_schedule_preview_says_at_once_that_a_schedule_has_no_run_left(
    client, superuser, query, error
):
    """At 20:30 in Shanghai, "at 10:00 today" was listed under Next runs, and "every day
    at 08:00 until today" showed nothing at all: both were refused only on Schedule."""
    client.force_login(superuser)

    with time_machine.travel(datetime(2026, 12, 7, 12, 30, tzinfo=UTC), tick=False):
        answer = client.get(
            "/console/announcements/schedule-preview/", {**query, "timezone": "Asia/Shanghai"}
        ).json()

    assert answer == {"times": [], "error": error}


def test_pages_need_a_login(client):
    response = client.get("/console/announcements/")
    assert response.status_code == 302


def test_pages_are_in_chinese_by_default_and_english_when_chosen(client, bot, superuser):
    client.force_login(superuser)

    chinese = client.get("/console/announcements/new/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get("/console/announcements/new/").content.decode()

    assert "新建公告" in chinese and "所有群聊" in chinese
    assert "New announcement" in english and "All groups" in english


def test_the_preview_of_an_empty_message_says_so_in_the_operators_language(client, bot, superuser):
    """Before any script runs (and while the message is empty) the preview is a muted hint."""
    client.force_login(superuser)

    chinese = client.get("/console/announcements/new/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get("/console/announcements/new/").content.decode()

    hint = "暂无预览：填写消息后会在这里显示。"
    assert f'data-empty="{hint}"><p class="muted">{hint}</p>' in chinese
    hint = "Nothing to preview yet: write the message to see it here."
    assert f'data-empty="{hint}"><p class="muted">{hint}</p>' in english


def test_quiet_hours_are_set_on_the_bot_in_the_admin(client, bot, superuser):
    client.force_login(superuser)

    page = client.get(f"/admin/conversations/bot/{bot.pk}/change/").content.decode()

    assert 'name="quiet_hours_start"' in page and 'name="quiet_hours_end"' in page
    assert 'name="timezone"' in page and "免打扰时段" in page


def test_a_one_off_time_in_the_past_is_refused(client, bot, make_groups, superuser):
    client.force_login(superuser)

    response = client.post(
        "/console/announcements/new/", compose_post(bot, make_groups(bot, 1), at="2020-01-01T09:00")
    )

    assert response.status_code == 200
    assert (
        "That time has passed" in response.content.decode()
        or "已经过去" in response.content.decode()
    )
    assert not Announcement.objects.exists()


def test_a_robot_bot_composes_markdown_and_news_and_text_with_mentions(
    client, make_bot, make_groups, superuser
):
    robot = make_bot(name="robot", connector="wecom_robot", agent_url="", agent_token="")
    groups = make_groups(robot, 1)
    client.force_login(superuser)
    base = {"msgtype": None, "link__title": "", "link__url": ""}

    page = client.get(f"/console/announcements/new/?bot={robot.pk}").content.decode()
    post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(
            robot,
            groups,
            **base
            | {
                "msgtype": "news",
                "news__title": "周报",
                "news__url": "https://example.com/w",
                "news__picurl": "https://example.com/p.png",
            },
        ),
    )
    post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(
            robot,
            groups,
            **base
            | {
                "msgtype": "text",
                "text__content": "开会",
                "text__mentioned_list": "zhangsan, @all",
            },
        ),
    )

    assert 'value="markdown"' in page and 'value="markdown_v2"' in page
    news, text = Announcement.objects.order_by("pk")
    assert news.body == {
        "msgtype": "news",
        "news": {
            "articles": [
                {
                    "title": "周报",
                    "url": "https://example.com/w",
                    "picurl": "https://example.com/p.png",
                }
            ]
        },
    }
    assert text.body == {
        "msgtype": "text",
        "text": {"content": "开会", "mentioned_list": ["zhangsan", "@all"]},
    }


def test_a_recurring_announcement_that_ends_before_its_first_run_is_refused(
    client, bot, make_groups, superuser
):
    client.force_login(superuser)

    response = client.post(
        "/console/announcements/new/",
        compose_post(bot, make_groups(bot, 1), kind="daily", time="09:00", until="2020-01-01"),
    )

    assert response.status_code == 200
    assert "2020-01-01" in response.content.decode()
    assert "结束日期" in response.content.decode()
    assert not Announcement.objects.exists()


def test_the_detail_page_refreshes_its_header_and_refuses_pause_once_finished(
    client, superuser, bot, make_groups, make_announcement
):
    from announcements.fanout import fan_out
    from messaging.models import Message

    announcement = make_announcement(bot, make_groups(bot, 2))
    client.force_login(superuser)
    detail = f"/console/announcements/{announcement.pk}/"
    assert "暂停" in client.get(detail).content.decode()  # scheduled: may be paused

    (run_id,) = start_due_announcements()
    fan_out(run_id)
    Message.objects.filter(announcement_run_id=run_id).update(status="sent")

    live = client.get(detail + "?partial=runs").content.decode()
    head = live.split('id="announcement-head"')[1].split('id="runs"')[0]
    assert "已完成" in head and "/pause" not in head and "/cancel" not in head
    response = client.post(f"/console/announcements/{announcement.pk}/pause/", follow=True)
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED
    assert "已拒绝：公告已完成，没有待发送的内容。" in response.content.decode()


def test_a_finished_announcement_still_sending_its_last_run_says_sending_not_finished(
    client, superuser, bot, make_groups, make_announcement
):
    """Its only run started: nothing is left to start, but "已完成" beside "2 待发送" and a
    Pause button read as a contradiction."""
    from announcements.fanout import fan_out
    from messaging.models import Message

    announcement = make_announcement(bot, make_groups(bot, 2))
    client.force_login(superuser)
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED

    def badges():
        head = client.get(f"/console/announcements/{announcement.pk}/?partial=runs")
        head = head.content.decode().split('id="announcement-head"')[1].split('id="runs"')[0]
        listing = client.get("/console/announcements/").content.decode()
        row = listing.split(f'href="/console/announcements/{announcement.pk}/"')[1]
        return head, row.split("</tr>")[0]

    head, row = badges()
    assert "发送中" in head and "已完成" not in head and "/pause" in head
    assert "发送中" in row and "已完成" not in row

    Message.objects.filter(announcement_run_id=run_id).update(status="sent")
    head, row = badges()
    assert "已完成" in head and "发送中" not in head
    assert "已完成" in row and "发送中" not in row


def test_a_finished_run_with_a_failure_and_a_deleted_recipient_shows_a_full_bar_that_adds_up(
    client, superuser, bot, make_groups, make_announcement
):
    from announcements.fanout import fan_out
    from messaging.models import Message

    groups = make_groups(bot, 4)
    announcement = make_announcement(bot, groups)
    (run_id,) = start_due_announcements()
    groups[3].delete()  # before its message was made: it will never get one
    fan_out(run_id)
    first, second, third = Message.objects.filter(announcement_run_id=run_id).order_by("pk")
    Message.objects.filter(pk__in=[first.pk, second.pk]).update(status="sent")
    Message.objects.filter(pk=third.pk).update(status="failed")
    client.force_login(superuser)

    runs = client.get(f"/console/announcements/{announcement.pk}/?partial=runs").content.decode()
    run = runs.split('class="panel run')[1]

    assert "已完成" in run  # not "发送中" forever
    assert "2 已发送 · 1 失败 · " in run and "1 已跳过" in run and " · 0 待发送，共 4" in run
    assert 'aria-valuenow="100"' in run
    assert '<rect class="progress-sent" width="50" height="1"/>' in run
    assert '<rect class="progress-failed" x="50" width="25" height="1"/>' in run
    assert '<rect class="progress-other" x="75" width="25" height="1"/>' in run


def test_the_run_estimate_says_seconds_for_a_short_run(
    client, superuser, bot, make_groups, make_announcement
):
    bot.rate_limit_per_minute = 20
    bot.save()
    announcement = make_announcement(bot, make_groups(bot, 2))
    client.force_login(superuser)
    html = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    assert "约 6 秒" in html and "约 1 分钟" not in html


def test_the_run_estimate_counts_the_messages_already_waiting_for_the_bot(
    client, superuser, bot, make_groups, make_announcement
):
    bot.rate_limit_per_minute = 20
    bot.save()
    groups = make_groups(bot, 5)
    for group in groups[:3]:  # the bot's pace is shared: these go first
        accept_outbound(
            bot=bot,
            conversation_id=group.conversation_id,
            body={"msgtype": "text", "text": {"content": "earlier"}},
            source="api",
        )
    announcement = make_announcement(bot, groups[3:])
    client.force_login(superuser)
    html = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    estimate = html.split('id="run-estimate">')[1].split("</p>")[0]
    assert "3" in estimate and "约 15 秒" in estimate


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"msgtype": "text", "text__content": "  "}, "text__content"),
        ({"msgtype": "markdown", "markdown__content": ""}, "markdown__content"),
        ({"link__title": ""}, "link__title"),
        ({"msgtype": "news", "news__url": "https://example.com/n"}, "news__title"),
    ],
)
def test_an_empty_message_field_is_shown_on_that_field_in_the_operators_language(
    client, bot, make_groups, superuser, overrides, field
):
    from django import forms

    groups = make_groups(bot, 1)
    client.force_login(superuser)

    response = client.post("/console/announcements/new/", compose_post(bot, groups, **overrides))

    assert response.status_code == 200
    required = str(forms.Field.default_error_messages["required"])
    assert response.context["form"].errors == {field: [required]}
    html = response.content.decode()
    assert "is missing" not in html and "is empty" not in html
    assert not Announcement.objects.exists()


def test_an_empty_form_shows_every_error_on_the_first_submit(client, bot, superuser):
    """The empty text was marked only after the title and recipients were given: two round
    trips for one form."""
    client.force_login(superuser)
    data = {"bot": bot.pk, "msgtype": "text", "kind": "once", "timezone": "Asia/Shanghai"}

    response = client.post("/console/announcements/new/", {**data, "schedule": "1"})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"title", "text__content", "conversations", "kind"}
    html = response.content.decode()
    assert html.count("这个字段是必填项。") == 2
    assert "请至少选择一个接收者。" in html and "请输入发送日期和时间。" in html
    assert not Announcement.objects.exists()


def test_a_draft_may_keep_a_time_that_has_passed_but_not_an_empty_text(
    client, bot, make_groups, superuser
):
    groups = make_groups(bot, 1)
    client.force_login(superuser)
    past = compose_post(bot, groups, at="2020-01-01T09:00", save_draft="1")
    del past["schedule"]

    empty = client.post("/console/announcements/new/", {**past, "link__title": ""})
    saved = client.post("/console/announcements/new/", past)

    assert set(empty.context["form"].errors) == {"link__title"}
    assert saved.status_code == 302
    assert Announcement.objects.get().status == Announcement.Status.DRAFT


def test_run_times_are_shown_in_the_announcements_time_zone_not_the_servers(
    client, bot, make_groups, make_announcement, superuser
):
    """Daily 09:00 in New York runs at 13:00 UTC (21:00 in the server's Asia/Shanghai):
    every time of it the operator reads says 09:00, next to the zone it names."""
    groups = make_groups(bot, 1)
    client.force_login(superuser)
    with time_machine.travel(datetime(2026, 5, 4, 12, 0, tzinfo=UTC), tick=False) as clock:
        announcement = make_announcement(
            bot, groups, kind="daily", schedule={"time": "09:00"}, tz="America/New_York"
        )
        clock.move_to(datetime(2026, 5, 4, 13, 0, tzinfo=UTC))
        start_due_announcements()
        detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
        listing = client.get("/console/announcements/").content.decode()

    assert "America/New_York" in detail and "America/New_York" in listing
    assert "21:00" not in detail and "21:00" not in listing
    assert "<strong>09:00</strong>" in detail  # the run that started, just now
    assert "下次运行 明天 09:00" in detail  # the next day in New York: "tomorrow"
    assert "<li>2026-05-05 周二 09:00</li>" in detail  # the next runs panel
    assert "明天 09:00" in listing and '<span class="nowrap">09:00</span>' in listing
    assert "2026-05-05" not in listing  # its next run is tomorrow's, said as such


def test_the_list_pages_through_every_announcement_fifty_at_a_time(client, bot, superuser):
    Announcement.objects.bulk_create(
        Announcement(bot=bot, title=f"通知 {i:03}", msgtype="text", body=text_body("hi"))
        for i in range(205)
    )
    client.force_login(superuser)

    first = client.get("/console/announcements/").content.decode()
    last = client.get("/console/announcements/?page=5").content.decode()

    assert "通知 204" in first and "通知 154" not in first
    assert "第 1 / 5 页" in first and "?page=2" in first
    assert "通知 000" in last and "通知 004" in last and "通知 005" not in last


def test_the_edit_page_shows_the_announcements_time_zone_chosen_among_all(
    client, bot, make_groups, superuser, make_announcement
):
    from botadmin.timezones import offered_zone_names
    from tests.html_forms import submitted_form

    announcement = make_announcement(
        bot, make_groups(bot, 1), kind="daily", schedule={"time": "09:00"}, tz="America/New_York"
    )
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{announcement.pk}/edit/").content.decode()

    assert submitted_form(page, "compose")["timezone"] == ["America/New_York"]
    assert page.count('<option value="') >= len(offered_zone_names())


def test_switching_the_bot_keeps_what_was_typed_but_not_the_other_bots_recipients(
    client, superuser, make_bot, make_groups
):
    """The bot menu posts the compose form: the operator's title, message and schedule
    come back for the other bot; the conversations chosen were the first bot's."""
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    groups_a = make_groups(bot_a, 2)
    make_groups(bot_b, 1, prefix="wrB")
    client.force_login(superuser)
    typed = compose_post(
        bot_a,
        groups_a,
        title="周报",
        msgtype="text",
        text__content="本周例会改到周四\n请准时参加",
        kind="weekly",
        time="09:30",
        weekdays=["0", "3"],
        timezone="Europe/Berlin",
    )
    del typed["schedule"]

    response = client.post(
        "/console/announcements/new/", {**typed, "switch_to": bot_b.pk, "switch_bot": ""}
    )

    assert response.status_code == 200
    assert not Announcement.objects.exists()
    shown = submitted_form(response.content.decode(), "compose")
    assert shown["bot"] == [str(bot_b.pk)]
    assert shown["title"] == ["周报"]
    assert shown["msgtype"] == ["text"]
    assert shown["text__content"] == ["本周例会改到周四\n请准时参加"]
    assert (shown["kind"], shown["time"], shown["weekdays"]) == (["weekly"], ["09:30"], ["0", "3"])
    assert shown["timezone"] == ["Europe/Berlin"]
    assert shown["conversations"] == [""]
    page = response.content.decode()
    assert f'<option value="{bot_b.pk}" selected>b</option>' in page
    assert "正在为 b 撰写：请重新选择接收者" in page
    assert "group 0" in page  # bot b's conversations are offered


def test_switching_to_the_bot_already_chosen_keeps_its_recipients_too(
    client, superuser, bot, make_groups
):
    """ "Switch bot" pressed with the bot already chosen changes nothing typed. (Enter in a
    one-line field saves a draft instead: test_browser's
    test_enter_in_the_title_saves_a_draft_rather_than_switching_bots.)"""
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    typed = compose_post(bot, groups, title="周报")
    del typed["schedule"]

    response = client.post(
        "/console/announcements/new/", {**typed, "switch_to": bot.pk, "switch_bot": ""}
    )

    shown = submitted_form(response.content.decode(), "compose")
    assert shown["title"] == ["周报"]
    assert shown["conversations"] == [",".join(str(g.pk) for g in groups)]
    assert "请重新选择接收者" not in response.content.decode()
    assert not Announcement.objects.exists()


def test_switching_to_a_bot_of_someone_else_is_not_found(
    client, make_bot, make_groups, make_operator
):
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    groups_a = make_groups(bot_a, 1)
    client.force_login(make_operator("alice", bot_a))

    response = client.post(
        "/console/announcements/new/",
        {**compose_post(bot_a, groups_a), "switch_to": bot_b.pk, "switch_bot": ""},
    )

    assert response.status_code == 404
    assert not Announcement.objects.exists()


def switch_menu(page: str) -> list[str]:
    """The "Switch bot" menu's bots, the selected one marked "*"; [] when the page has none."""
    menu = re.search(r'<select name="switch_to"[^>]*>(.*?)</select>', page, re.S)
    if menu is None:
        assert 'name="switch_bot"' not in page
        return []
    options = re.findall(r'<option value="\d+"( selected)?>([^<]*)</option>', menu.group(1))
    return [("*" if selected else "") + name for selected, name in options]


def test_a_duplicate_offers_to_switch_to_the_operators_other_bots_an_edit_does_not(
    client, make_bot, make_groups, make_operator, make_announcement
):
    """The duplicate page hid the menu, so a copy could not be made for another bot."""
    bot_a, bot_b, _theirs = make_bot(name="a"), make_bot(name="b"), make_bot(name="c")
    original = make_announcement(
        bot_a, make_groups(bot_a, 1), kind="daily", schedule={"time": "09:00"}
    )
    client.force_login(make_operator("alice", bot_a, bot_b))

    def menu(url: str) -> list[str]:
        return switch_menu(client.get(url).content.decode())

    assert menu(f"/console/announcements/new/?from={original.pk}") == ["*a", "b"]
    assert menu(f"/console/announcements/new/?bot={bot_b.pk}") == ["a", "*b"]
    assert menu(f"/console/announcements/{original.pk}/edit/") == []


def test_with_one_bot_no_compose_page_offers_a_switch(
    client, make_bot, make_groups, make_operator, make_announcement
):
    """A menu of one bot has nothing to choose (another operator's bot is not counted)."""
    bot_a, _theirs = make_bot(name="a"), make_bot(name="c")
    original = make_announcement(
        bot_a, make_groups(bot_a, 1), kind="daily", schedule={"time": "09:00"}
    )
    client.force_login(make_operator("alice", bot_a))

    for url in (
        "/console/announcements/new/",
        f"/console/announcements/new/?from={original.pk}",
        f"/console/announcements/{original.pk}/edit/",
    ):
        page = client.get(url)
        assert page.status_code == 200 and "group 0" in page.content.decode(), url
        assert switch_menu(page.content.decode()) == [], url


def post_a_switch(client, url: str, bot, **changes):
    """Post the form `url` shows, with `changes`, as "Switch bot" to `bot` would (a
    duplicate's menu, or a hand-made request to an edit page, which offers no switch).
    Returns what the page posted and the answer."""
    typed = submitted_form(client.get(url).content.decode(), "compose")
    return typed, client.post(url, {**typed, **changes, "switch_to": bot.pk, "switch_bot": ""})


def test_a_switch_posted_to_a_duplicate_switches_its_bot_and_saves_nothing(
    client, superuser, make_bot, make_groups, make_announcement
):
    """A duplicate is a new announcement: the switch wins, as on "New announcement"; the
    copy's text comes back for the other bot, and its recipients, the first bot's, do not."""
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    original = make_announcement(bot_a, make_groups(bot_a, 2), title="周报")
    make_groups(bot_b, 1, prefix="wrB")
    client.force_login(superuser)

    _typed, response = post_a_switch(
        client, f"/console/announcements/new/?from={original.pk}", bot_b, title="周报（b）"
    )

    assert response.status_code == 200
    assert list(Announcement.objects.values_list("title", "bot")) == [("周报", bot_a.pk)]
    shown = submitted_form(response.content.decode(), "compose")
    assert shown["bot"] == [str(bot_b.pk)] and shown["title"] == ["周报（b）"]
    assert shown["conversations"] == [""]
    assert "正在为 b 撰写：请重新选择接收者" in response.content.decode()
    assert switch_menu(response.content.decode()) == ["a", "*b"]

    # Saved from there, the copy is bot b's; the original stays bot a's.
    group_b = Conversation.objects.get(bot=bot_b)
    saved = client.post(
        f"/console/announcements/new/?from={original.pk}",
        {**shown, "conversations": str(group_b.pk), "save_draft": "1"},
    )
    copy = Announcement.objects.exclude(pk=original.pk).get()
    assert saved.status_code == 302 and saved["Location"] == f"/console/announcements/{copy.pk}/"
    assert (copy.bot, copy.title, copy.body) == (bot_b, "周报（b）", original.body)
    assert list(copy.conversations.all()) == [group_b]
    assert list(original.conversations.values_list("bot", flat=True)) == [bot_a.pk] * 2


def test_a_switch_posted_to_an_edit_is_refused_and_saves_nothing(
    client, superuser, make_bot, make_groups, make_announcement
):
    """It was saved as an edit, switch ignored: a request to switch bots scheduled the
    announcement. Its runs went to its bot's conversations, so it keeps that bot; the
    page comes back with what was typed and says why nothing was saved."""
    bot_a, bot_b = make_bot(name="a"), make_bot(name="b")
    groups = make_groups(bot_a, 2)
    announcement = make_announcement(
        bot_a, groups, title="周报", kind="daily", schedule={"time": "09:00"}
    )
    before = Announcement.objects.values().get()
    client.force_login(superuser)

    typed, response = post_a_switch(
        client, f"/console/announcements/{announcement.pk}/edit/", bot_b, title="周报（改）"
    )

    assert response.status_code == 200
    assert Announcement.objects.values().get() == before
    page = response.content.decode()
    assert "未保存：公告只属于创建它的机器人。" in page
    assert "请复制公告，再切换副本的机器人。" in page
    shown = submitted_form(page, "compose")
    assert shown["bot"] == [str(bot_a.pk)] and shown["title"] == ["周报（改）"]
    assert shown["conversations"] == typed["conversations"]
    assert not OperatorAction.objects.filter(action="announcement.edit").exists()


def test_a_new_announcement_offers_places_and_utc_not_pseudo_zones(
    client, bot, make_groups, superuser
):
    """ "localtime" and "Factory" were offered as if someone lived there."""
    groups = make_groups(bot, 1)
    client.force_login(superuser)

    page = client.get("/console/announcements/new/").content.decode()
    refused = client.post(
        "/console/announcements/new/", compose_post(bot, groups, timezone="Factory")
    )

    for pseudo in ("localtime", "Factory", "Etc/GMT-8", "EST5EDT", "Zulu", "GMT"):
        assert f'<option value="{pseudo}"' not in page
    for place in ("UTC", "Asia/Shanghai", "America/New_York"):
        assert f'<option value="{place}"' in page
    assert refused.status_code == 200 and not Announcement.objects.exists()


def test_the_time_zone_select_offers_common_zones_first_and_no_deprecated_alias(
    client, bot, superuser
):
    client.force_login(superuser)

    page = client.get("/console/announcements/new/").content.decode()

    select = page.split('name="timezone"')[1].split("</select>")[0]
    common, every = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select)
    assert (common[0], every[0]) == ("常用时区", "所有时区")
    assert re.findall(r'value="([^"]+)"', common[1])[:4] == [
        "Asia/Shanghai", "UTC", "Asia/Hong_Kong", "Asia/Taipei"
    ]  # fmt: skip
    for alias in ("PRC", "Asia/Calcutta", "Asia/Chungking", "US/Pacific", "Canada/Eastern"):
        assert f'value="{alias}"' not in select


@pytest.mark.parametrize("page", ["{pk}/edit/", "new/?from={pk}"], ids=["edit", "duplicate"])
def test_an_announcement_saved_with_a_pseudo_zone_keeps_it_when_edited_or_duplicated(
    client, bot, make_groups, superuser, make_announcement, page
):
    """A duplicate started on the server's zone, silently."""
    from tests.html_forms import submitted_form

    original = make_announcement(
        bot, make_groups(bot, 1), kind="daily", schedule={"time": "09:00"}, tz="Factory"
    )
    client.force_login(superuser)
    url = "/console/announcements/" + page.format(pk=original.pk)

    form = submitted_form(client.get(url).content.decode(), "compose")
    saved = post_confirmed(client, url, {**form, "title": "Renamed"})

    assert form["timezone"] == ["Factory"]
    assert saved.status_code == 302
    announcement = Announcement.objects.get(title="Renamed")
    assert announcement.timezone == "Factory"


@pytest.mark.parametrize("msgtype", ["text", "markdown", "markdown_v2"])
def test_an_announcement_typed_over_lines_is_stored_with_the_apis_line_breaks(
    client, bot, make_groups, superuser, msgtype
):
    """Browsers post a textarea's line breaks as \\r\\n; the API stores the \\n a caller sent."""
    client.force_login(superuser)
    typed = {f"{msgtype}__content": "第一行\r\n第二行\r\n\r\n第四行"}

    response = post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(bot, make_groups(bot, 1), msgtype=msgtype, **typed),
    )

    assert response.status_code == 302
    assert Announcement.objects.get().body[msgtype]["content"] == "第一行\n第二行\n\n第四行"


def test_right_after_send_now_the_page_says_sending_and_preparing_not_scheduled(
    client, bot, make_groups, superuser
):
    """The flash said "正在发送" above a badge saying 已排期, "尚未运行" and a next run."""
    client.force_login(superuser)

    page = post_confirmed(
        client,
        "/console/announcements/new/",
        compose_post(bot, make_groups(bot, 2), kind="now"),
        follow=True,
    ).content.decode()

    status = page.split('id="announcement-status">')[1].split("</span></span>")[0]
    assert "发送中" in status and "已排期" not in status
    assert "正在准备接收者…" in page and "尚未运行" not in page
    assert "下次运行" not in page


def test_the_title_is_marked_required_and_said_to_be_internal_only(client, bot, superuser):
    client.force_login(superuser)

    page = client.get("/console/announcements/new/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get("/console/announcements/new/").content.decode()

    label = page.split('<label class="field"><span>')[1].split("</label>")[0]
    assert label.startswith(
        '标题（仅内部可见） <span class="required-mark" aria-hidden="true">*</span>'
    )
    assert re.search(r'<input type="text" name="title"[^>]* required', label)
    assert "Title (internal only)" in english
