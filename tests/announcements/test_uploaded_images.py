"""Images uploaded for announcements that nothing names any more are deleted by the
nightly run a day after they were stored; one an announcement or a message made from
one names stays."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.scheduler import start_due_announcements
from announcements.tasks import forget_old_recipients
from messaging.models import Message
from messaging.retention import purge_expired
from tests.announcement_posts import post_confirmed
from tests.html_forms import submitted_form
from tests.images import image_bytes

NEW = "/console/announcements/new/"


def image_post(bot, groups, name, **fields):
    png = SimpleUploadedFile(name, image_bytes("PNG"), "image/png")
    return {
        "bot": bot.pk,
        "title": name,
        "msgtype": "image",
        "image_file": png,
        "conversations": [g.pk for g in groups],
        "kind": "daily",
        "time": "09:00",
        "timezone": "Asia/Shanghai",
        "schedule": "1",
        **fields,
    }


def stored_name(announcement: Announcement) -> str:
    return announcement.body["image"]["url"].rsplit("/", 1)[1]


def files(folder) -> set[str]:
    return {p.name for p in (folder / "announcements").iterdir()}


def age(folder, days: float) -> None:
    """As if every file there was stored `days` ago."""
    then = time.time() - days * 86400
    for path in (folder / "announcements").iterdir():
        os.utime(path, (then, then))


def test_an_image_nothing_names_goes_a_day_after_it_was_stored_one_in_use_stays(
    client, bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = 30
    client.force_login(superuser)
    groups = make_groups(bot, 2)
    # Shown again to confirm it (no answer came with the post): stored, never confirmed.
    asked = client.post(NEW, image_post(bot, groups, "never-confirmed.png"))
    assert asked.status_code == 200 and len(files(tmp_path)) == 1
    (staged,) = files(tmp_path)
    # A daily announcement runs once: its messages name the image; then an edit replaces it.
    post_confirmed(client, NEW, image_post(bot, groups, "first.png"))
    daily = Announcement.objects.get(title="first.png")
    first = stored_name(daily)
    Announcement.objects.filter(pk=daily.pk).update(next_run_at=timezone.now())
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    edit = f"/console/announcements/{daily.pk}/edit/"
    form = submitted_form(client.get(edit).content.decode(), "compose")
    form["image_file"] = SimpleUploadedFile("second.png", image_bytes("PNG"), "image/png")
    assert post_confirmed(client, edit, form).status_code == 302
    daily.refresh_from_db()
    second = stored_name(daily)
    # A draft names its image too.
    client.post(NEW, {**image_post(bot, groups, "draft.png"), "save_draft": "1"})
    draft = stored_name(Announcement.objects.get(status=Announcement.Status.DRAFT))
    assert files(tmp_path) == {staged, first, second, draft}

    age(tmp_path, days=0.9)
    forget_old_recipients()  # the nightly run
    assert files(tmp_path) == {staged, first, second, draft}  # a day has not passed

    age(tmp_path, days=2)
    forget_old_recipients()
    # The one never confirmed is gone; the replaced one stays while the history shows
    # the messages that sent it (and a retry would download it again).
    assert files(tmp_path) == {first, second, draft}

    AnnouncementRun.objects.get(pk=run_id).messages.update(  # as the worker leaves them
        status=Message.Status.SENT, sent_at=timezone.now()
    )
    purge_expired(now=timezone.now() + timedelta(days=31))  # past their retention
    assert not AnnouncementRun.objects.get(pk=run_id).messages.exists()
    forget_old_recipients()
    assert files(tmp_path) == {second, draft}


def test_a_compose_page_confirmed_after_its_image_was_deleted_asks_for_it_again(
    client, bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    groups = make_groups(bot, 1)
    asked = client.post(NEW, image_post(bot, groups, "late.png"))
    shown = submitted_form(asked.content.decode(), "compose")
    age(tmp_path, days=2)
    forget_old_recipients()

    page = client.post(NEW, {**shown, "confirmed": "x"})

    assert page.status_code == 200 and not Announcement.objects.exists()
    assert page.context["form"].errors["staged_image"] == [
        "请重新选择图片文件：之前上传的图片已不存在。"
    ]
