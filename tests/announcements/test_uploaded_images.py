"""Images uploaded for announcements that nothing names any more are deleted by the
nightly run a day after they were stored; one an announcement names stays, and one a
message names (an announcement's, or an `/api/send` body with its address) while the
message is still to be sent or was made in the last week."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.scheduler import start_due_announcements
from announcements.staged_images import public_image_url
from announcements.tasks import forget_old_recipients
from announcements.uploaded_images import delete_unused_images
from messaging.models import Message
from messaging.retention import purge_expired
from tests.announcement_posts import post_confirmed
from tests.counted_queries import counting_queries
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
    stored = folder / "announcements"
    return {p.name for p in stored.iterdir()} if stored.exists() else set()


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
    run_id = run_now(daily)
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
    # The one never confirmed is gone; the replaced one stays while the messages that
    # sent it are recent (a retry would download it again).
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


def run_now(announcement: Announcement) -> int:
    """Its run due now, started and its messages made: the run's id."""
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=timezone.now())
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    return run_id


def uploaded(client, bot, groups, tmp_path, name) -> str:
    """An image uploaded on the compose page and never confirmed: its storage name."""
    before = files(tmp_path)
    assert client.post(NEW, image_post(bot, groups, name)).status_code == 200
    (new,) = files(tmp_path) - before
    return f"announcements/{new}"


def three_uploads(client, bot, group, superuser, settings, tmp_path) -> list[str]:
    """Three images uploaded by an operator on the compose page, never confirmed."""
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    return [uploaded(client, bot, [group], tmp_path, name) for name in ("a.png", "b.png", "c.png")]


def send(client, bot, body, **query) -> Message:
    url = f"/api/send?secret={bot.secret}&conversation_id=wrGroup1"
    url += "".join(f"&{key}={value}" for key, value in query.items())
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response.json()["errcode"] == 0, response.content
    return Message.objects.get(msgid=response.json()["msgid"])


def news(picture_url: str) -> dict:
    article = {"title": "Sale", "url": "https://example.com/sale", "picurl": picture_url}
    return {"msgtype": "news", "news": {"articles": [article]}}


def test_an_image_an_api_message_names_stays_while_it_waits_and_a_week_after_it_was_made(
    client, bot, group, superuser, settings, tmp_path
):
    queued, scheduled, unnamed = three_uploads(client, bot, group, superuser, settings, tmp_path)
    # Its public address pasted into bodies: a news picture, sent now; a markdown link,
    # sent in ten days.
    sent_now = send(client, bot, news(public_image_url(queued)))
    in_ten_days = int((timezone.now() + timedelta(days=10)).timestamp())
    markdown = {
        "msgtype": "markdown",
        "markdown": {"content": f"![b]({public_image_url(scheduled)})"},
    }
    later = send(client, bot, markdown, send_at=in_ten_days)
    assert (sent_now.status, later.status) == (Message.Status.QUEUED, Message.Status.SCHEDULED)
    age(tmp_path, days=2)

    forget_old_recipients()  # the nightly run

    assert files(tmp_path) == {queued.split("/")[1], scheduled.split("/")[1]}
    Message.objects.filter(pk=sent_now.pk).update(  # as the worker leaves it
        status=Message.Status.SENT, sent_at=timezone.now()
    )
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        forget_old_recipients()
    assert files(tmp_path) == {queued.split("/")[1], scheduled.split("/")[1]}
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        forget_old_recipients()
    # Sent more than a week ago: let go of. Still to be sent: kept, however old.
    assert files(tmp_path) == {scheduled.split("/")[1]}


def test_with_retention_off_old_messages_let_go_of_a_replaced_image(
    client, bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = None
    client.force_login(superuser)
    groups = make_groups(bot, 2)
    post_confirmed(client, NEW, image_post(bot, groups, "first.png"))
    daily = Announcement.objects.get(title="first.png")
    first = stored_name(daily)
    run_id = run_now(daily)
    AnnouncementRun.objects.get(pk=run_id).messages.update(status=Message.Status.SENT)
    daily.body = {"msgtype": "text", "text": {"content": "no picture today"}}
    daily.save()
    age(tmp_path, days=2)
    forget_old_recipients()
    assert files(tmp_path) == {first}  # its messages were made today

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        forget_old_recipients()

    assert Message.objects.filter(announcement_run=run_id).count() == 2  # kept, and history
    assert files(tmp_path) == set()


def test_images_announcements_name_do_not_make_the_nightly_run_read_messages(
    client, bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    groups = make_groups(bot, 1)
    post_confirmed(client, NEW, image_post(bot, groups, "kept.png"))
    run_now(Announcement.objects.get(title="kept.png"))
    age(tmp_path, days=400)  # however old: no window of messages is opened for it

    with counting_queries() as queries:
        assert delete_unused_images() == 0

    assert len(files(tmp_path)) == 1
    assert not [q for q in queries if "messaging_message" in q["sql"]]


def test_an_address_under_another_host_keeps_its_image_too(
    client, bot, group, superuser, settings, tmp_path
):
    """Bodies saved before BOTADMIN_PUBLIC_URL was used name the operator's host."""
    in_body, in_message, unnamed = three_uploads(client, bot, group, superuser, settings, tmp_path)
    post_confirmed(client, NEW, image_post(bot, [group], "saved.png"))
    saved = Announcement.objects.get(title="saved.png")
    saved.body = {"msgtype": "image", "image": {"url": f"http://intranet:8000/media/{in_body}"}}
    saved.save()
    send(client, bot, news(f"http://10.0.0.7/media/{in_message}"))
    age(tmp_path, days=2)

    forget_old_recipients()

    # (The one the edit replaced went, as the unnamed one did.)
    assert files(tmp_path) == {in_body.split("/")[1], in_message.split("/")[1]}
