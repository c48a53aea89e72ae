"""A paused announcement: its header says it is paused, and it can be edited (pausing is
how an operator stops one to fix it), but never so that its message goes out again."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.utils import timezone

from announcements import operator_actions, scheduler
from announcements.fanout import fan_out, fan_out_batch
from announcements.models import Announcement, AnnouncementRun
from audit.models import OperatorAction
from messaging.models import Message
from tests.html_forms import submitted_form

# Monday 2026-05-04 08:00 in Shanghai.
MONDAY_EIGHT = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)


def detail(client, announcement) -> str:
    return client.get(f"/console/announcements/{announcement.pk}/").content.decode()


def head(page: str) -> str:
    return page.split('id="announcement-head"')[1].split('id="runs"')[0]


def test_a_paused_announcement_says_so_and_is_edited_without_resuming_it(
    client, bot, make_groups, superuser, make_announcement
):
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    with time_machine.travel(MONDAY_EIGHT, tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:30"})
        client.post(f"/console/announcements/{announcement.pk}/pause/")
        clock.move_to(MONDAY_EIGHT + timedelta(days=2))  # two 09:30 runs passed meanwhile

        page = head(detail(client, announcement))
        edit = client.get(f"/console/announcements/{announcement.pk}/edit/").content.decode()
        form = submitted_form(edit, "compose")
        saved = client.post(
            f"/console/announcements/{announcement.pk}/edit/",
            {**form, "title": "Fixed", "time": "10:00", "schedule": "1"},
        )
        after = head(detail(client, announcement))

    assert "已暂停：恢复后下次运行 09:30" in page and "下次运行 2026-05-04" not in page
    assert f'href="/console/announcements/{announcement.pk}/edit/"' in page
    assert "已暂停，保存后仍保持暂停" in edit
    assert "保存（保持暂停）" in edit and 'name="save_draft"' not in edit
    assert saved.status_code == 302
    announcement.refresh_from_db()
    assert (announcement.title, announcement.status) == ("Fixed", "paused")
    assert "已暂停：恢复后下次运行 10:00" in after
    assert not AnnouncementRun.objects.exists()
    assert OperatorAction.objects.filter(action="announcement.edit").count() == 1


def test_a_paused_announcement_is_not_saved_as_a_draft(
    client, bot, make_groups, superuser, make_announcement
):
    """A draft can be neither resumed nor cancelled: a paused run's held recipients
    would wait for good."""
    groups = make_groups(bot, 2)
    client.force_login(superuser)
    announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:30"})
    operator_actions.pause(superuser, announcement)
    form = submitted_form(
        client.get(f"/console/announcements/{announcement.pk}/edit/").content.decode(), "compose"
    )

    response = client.post(
        f"/console/announcements/{announcement.pk}/edit/",
        {**form, "title": "As a draft", "save_draft": "1"},
    )

    assert response.status_code == 200
    assert "暂停的公告在编辑后仍保持暂停" in response.content.decode()
    announcement.refresh_from_db()
    assert (announcement.title, announcement.status) == ("Notice", "paused")


def test_an_announcement_paused_while_sending_its_last_run_cannot_be_edited(
    client, bot, make_groups, superuser, make_announcement
):
    """A one-off paused while it still sends: saving it would schedule it a second time."""
    groups = make_groups(bot, 2)
    announcement = make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()
    fan_out(run_id)
    operator_actions.pause(superuser, announcement)
    client.force_login(superuser)

    page = head(detail(client, announcement))
    opened = client.get(f"/console/announcements/{announcement.pk}/edit/", follow=True)
    posted = client.post(
        f"/console/announcements/{announcement.pk}/edit/",
        {
            "bot": bot.pk,
            "title": "Again",
            "msgtype": "text",
            "text__content": "hello",
            "conversations": [g.pk for g in groups],
            "kind": "now",
            "timezone": "Asia/Shanghai",
            "schedule": "1",
        },
    )

    assert "/edit/" not in page and "已暂停：尚未发送的接收者等待恢复" in page
    assert "不能编辑" in opened.content.decode() and posted.status_code == 302
    announcement.refresh_from_db()
    assert (announcement.title, announcement.next_run_at) == ("Notice", None)
    assert AnnouncementRun.objects.count() == 1


def test_a_run_paused_while_handing_out_continues_with_the_edited_text_when_resumed(
    client, bot, make_groups, superuser, make_announcement
):
    """The messages it made keep theirs; those it makes after the edit take the new text,
    as a failed run retried after an edit does."""
    groups = make_groups(bot, 4)
    announcement = make_announcement(
        bot,
        groups,
        kind="daily",
        schedule={"time": "09:30"},
        body={"msgtype": "text", "text": {"content": "typo"}},
    )
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=timezone.now())
    (run_id,) = scheduler.start_due_announcements()
    fan_out_batch(run_id, 2)
    operator_actions.pause(superuser, announcement)
    client.force_login(superuser)
    form = submitted_form(
        client.get(f"/console/announcements/{announcement.pk}/edit/").content.decode(), "compose"
    )

    saved = client.post(
        f"/console/announcements/{announcement.pk}/edit/",
        {**form, "text__content": "fixed", "schedule": "1"},
    )
    operator_actions.resume(superuser, announcement)
    fan_out(run_id)

    assert saved.status_code == 302
    texts = Message.objects.filter(announcement_run=run_id).order_by("pk")
    assert [m.body["text"]["content"] for m in texts] == ["typo", "typo", "fixed", "fixed"]
    assert AnnouncementRun.objects.count() == 1
