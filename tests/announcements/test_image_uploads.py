"""Announcement images are checked by content against the bot's connector, on the form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from announcements.models import Announcement
from messaging.models import Message
from tests.announcement_posts import post_confirmed
from tests.images import image_bytes


def post_image(client, bot, groups, upload):
    return post_confirmed(
        client,
        "/console/announcements/new/",
        {
            "bot": bot.pk,
            "title": "Poster",
            "msgtype": "image",
            "image_file": upload,
            "conversations": [g.pk for g in groups],
            "kind": "now",
            "timezone": "Asia/Shanghai",
            "schedule": "1",
        },
    )


@pytest.fixture
def robot_bot(make_bot):
    return make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_a_gif_or_webp_for_a_robot_bot_is_refused_on_the_form_and_nothing_is_sent(
    client, robot_bot, make_groups, superuser, settings, tmp_path, fmt
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    # Named .png: the content decides, not the name.
    upload = SimpleUploadedFile("poster.png", image_bytes(fmt), "image/png")

    page = post_image(client, robot_bot, make_groups(robot_bot, 2), upload)

    assert page.status_code == 200
    (error,) = page.context["form"].errors["image_file"]
    name = {"GIF": "GIF", "WEBP": "WebP"}[fmt]
    assert error == f"企业微信群机器人只能发送 JPG/PNG 图片；此图片是 {name}。"
    assert error in page.content.decode()
    assert not Announcement.objects.exists() and not Message.objects.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_reason_is_in_english_when_chosen(
    client, robot_bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    upload = SimpleUploadedFile("poster.gif", image_bytes("GIF"), "image/gif")

    page = post_image(client, robot_bot, make_groups(robot_bot, 1), upload)

    assert page.context["form"].errors["image_file"] == [
        "A WeCom group robot bot sends only JPG/PNG images; this one is GIF."
    ]


def test_a_file_that_is_no_image_is_refused_whatever_its_name(
    client, bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    upload = SimpleUploadedFile("logo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")

    page = post_image(client, bot, make_groups(bot, 1), upload)

    assert page.status_code == 200 and "image_file" in page.context["form"].errors
    assert not Announcement.objects.exists()


def test_an_image_larger_than_the_connector_takes_is_refused_with_the_sizes(
    client, robot_bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    big = image_bytes("PNG", size=(1200, 1200))
    settings.BOTADMIN_UPLOAD_MAX_BYTES = len(big) - 1
    upload = SimpleUploadedFile("big.png", big, "image/png")

    page = post_image(client, robot_bot, make_groups(robot_bot, 1), upload)

    (error,) = page.context["form"].errors["image_file"]
    assert error.startswith("此图片大小为 ") and "最多发送" in error
    assert not Announcement.objects.exists()


def test_a_jpeg_for_a_robot_bot_is_accepted_and_stored_with_its_real_suffix(
    client, robot_bot, make_groups, superuser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(superuser)
    upload = SimpleUploadedFile("photo.png", image_bytes("JPEG"), "image/png")

    post_image(client, robot_bot, make_groups(robot_bot, 1), upload)

    assert Announcement.objects.get().body["image"]["url"].endswith(".jpg")
