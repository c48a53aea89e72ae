"""The timeline shows archived media: image thumbnails that open full size, files as
download links, "still fetching" and "could not be fetched: reason" with "fetch again";
another bot's operator gets 404."""

from __future__ import annotations

import io
import re

import pytest
from django.core.cache import cache
from django.urls import reverse
from PIL import Image

from audit.models import OperatorAction
from botadmin.reasons import Reason
from media import store
from media.models import StoredFile
from messaging import media_links, uploads
from messaging.models import Message, MessageMedia
from messaging.sending import accept_outbound
from tests.counted_queries import get_counting_queries
from tests.images import image_bytes

PNG = image_bytes("PNG", (800, 600))


@pytest.fixture
def history_url(bot, group):
    return reverse("console:history", args=[bot.pk, group.pk])


def image_message(make_message, conversation, status="stored", **fields):
    message = make_message(
        conversation,
        msgtype="image",
        body={"msgtype": "image", "image": {"cdn_type": "wecom_cdn", "cdn": "x/1.jpg"}},
    )
    if status == "stored":
        fields["stored_file"] = store.store_bytes(fields.pop("content", PNG))
    media = MessageMedia.objects.create(
        message=message, kind="image", cdn_type="wecom_cdn", cdn="x/1.jpg", status=status, **fields
    )
    return message, media


def media_url(history_url, media, suffix=""):
    return f"{history_url}messages/{media.message_id}/media/{media.pk}{suffix}"


def test_a_stored_image_shows_as_a_thumbnail_that_opens_full_size(
    operator_client, group, history_url, make_message
):
    _message, media = image_message(make_message, group)

    html = operator_client.get(history_url).content.decode()

    full, thumb = media_url(history_url, media), media_url(history_url, media, "/thumbnail")
    assert f'<a class="media-image" href="{full}"' in html and f'src="{thumb}"' in html
    answer = operator_client.get(thumb)
    with Image.open(io.BytesIO(b"".join(answer.streaming_content))) as small:
        assert small.format == "JPEG" and max(small.size) == 320
    answer = operator_client.get(full)
    assert b"".join(answer.streaming_content) == PNG
    assert answer["Content-Type"] == "image/png" and answer["X-Content-Type-Options"] == "nosniff"


def test_a_thumbnail_has_its_drawn_size_in_the_page_before_it_loads(
    operator_client, group, history_url, make_message
):
    """The size read when the image was stored, shrunk into the timeline's 240 px box:
    the page keeps its layout while lazy thumbnails arrive. An image whose size is not
    known has none (the stylesheet gives it a fixed box)."""
    _wide, wide = image_message(make_message, group)  # 800 x 600
    _tall, tall = image_message(make_message, group, content=image_bytes("PNG", (300, 900)))
    _small, small = image_message(make_message, group, content=image_bytes("PNG", (90, 60)))
    _unknown, unknown = image_message(make_message, group, content=image_bytes("PNG", (5, 5)))
    StoredFile.objects.filter(pk=unknown.stored_file_id).update(width=None, height=None)

    html = operator_client.get(history_url).content.decode()

    def img(media):
        return re.search(rf'<img [^>]*src="[^"]*/media/{media.pk}/thumbnail"[^>]*>', html)[0]

    assert 'width="240" height="180"' in img(wide)
    assert 'width="80" height="240"' in img(tall)
    assert 'width="90" height="60"' in img(small)
    assert "width=" not in img(unknown) and "height=" not in img(unknown)


def test_a_file_is_a_download_link_with_its_name_and_size(
    operator_client, group, history_url, make_message
):
    message = make_message(
        group, msgtype="file", body={"msgtype": "file", "file": {"cdn_type": "c", "cdn": "f"}}
    )
    pdf = b"%PDF-1.7\n" + b"0" * 2048
    media = MessageMedia.objects.create(
        message=message,
        kind="file",
        original_name="报价单.pdf",
        status="stored",
        stored_file=store.store_bytes(pdf),
    )

    html = operator_client.get(history_url).content.decode()

    link = re.search(r'<a class="media-file" href="([^"]+)" download>([^<]+)<span', html)
    assert link and link.group(1) == media_url(history_url, media)
    assert "报价单.pdf" in link.group(2) and "2.0" in html
    answer = operator_client.get(link.group(1))
    assert answer["Content-Type"] == "application/pdf"
    assert answer["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95.pdf" in answer["Content-Disposition"]


def test_a_file_without_a_name_is_called_a_file_in_the_operators_language(
    operator_client, group, history_url, make_message
):
    """It showed the bare msgtype, "file", on the Chinese page."""
    message = make_message(
        group, msgtype="file", body={"msgtype": "file", "file": {"cdn_type": "c", "cdn": "f"}}
    )
    MessageMedia.objects.create(
        message=message, kind="file", status="stored", stored_file=store.store_bytes(b"%PDF-1.7")
    )

    def link_text() -> str:
        html = operator_client.get(history_url).content.decode()
        return re.search(r'<a class="media-file" [^>]*>([^<]+)<span', html).group(1).strip()

    assert link_text() == "文件"
    operator_client.cookies["django_language"] = "en"
    assert link_text() == "File"


def test_still_fetching_and_could_not_be_fetched_are_shown_with_fetch_again(
    operator_client, operator, group, history_url, make_message
):
    pending, _ = image_message(make_message, group, status="pending")
    failed, media = image_message(
        make_message, group, status="failed", error="the agent cannot get this media (HTTP 404)"
    )

    html = operator_client.get(history_url).content.decode()

    assert "正在获取" in html or "Still fetching" in html
    assert f'id="m{pending.pk}" class="msg in" data-pending="{pending.pk}"' in html
    assert "the agent cannot get this media (HTTP 404)" in html
    again = media_url(history_url, media, "/fetch-again")
    assert f'hx-post="{again}"' in html

    answer = operator_client.post(again, headers={"HX-Request": "true"})

    assert answer.status_code == 200
    media.refresh_from_db()
    assert (media.status, media.error) == ("pending", "")
    assert f'id="m{failed.pk}"' in answer.content.decode()
    assert "HTTP 404" not in answer.content.decode()
    entry = OperatorAction.objects.get(action="media.fetch_again")
    assert entry.actor == operator and entry.bot == group.bot
    assert entry.target_id == str(failed.pk) and entry.details["media"] == media.pk

    operator_client.post(again, headers={"HX-Request": "true"})  # already pending: nothing done
    assert OperatorAction.objects.filter(action="media.fetch_again").count() == 1


def test_a_fetch_that_is_retried_says_why_the_last_try_failed(
    operator_client, group, history_url, make_message
):
    retried, _ = image_message(
        make_message,
        group,
        status="pending",
        attempts=3,
        error=Reason("cannot download the image: %(error)s", error="ConnectionError"),
    )

    html = operator_client.get(history_url).content.decode()

    assert "正在获取…上次尝试失败：无法下载图片：ConnectionError" in html


def test_another_bots_operator_gets_404(
    client, make_operator, other_bot, group, history_url, make_message
):
    _message, media = image_message(make_message, group, status="failed", error="x")
    MessageMedia.objects.filter(pk=media.pk).update(
        status="stored", stored_file=store.store_bytes(PNG)
    )
    client.force_login(make_operator("mallory", other_bot))

    for suffix in ("", "/thumbnail"):
        assert client.get(media_url(history_url, media, suffix)).status_code == 404
    assert client.post(media_url(history_url, media, "/fetch-again")).status_code == 404
    assert not OperatorAction.objects.filter(action="media.fetch_again").exists()
    own = reverse("console:history", args=[other_bot.pk, group.pk])
    assert client.get(media_url(own, media)).status_code == 404


def test_media_of_another_message_is_not_found_under_this_one(
    operator_client, group, history_url, make_message
):
    _message, media = image_message(make_message, group)
    text = make_message(group)

    wrong = f"{history_url}messages/{text.pk}/media/{media.pk}"

    assert operator_client.get(wrong).status_code == 404


def test_a_page_of_images_reads_its_media_in_one_query(
    operator_client, group, history_url, make_message
):
    for n in range(3):
        image_message(make_message, group, content=image_bytes("PNG", (10 + n, 10)))
    operator_client.get(history_url)
    cache.clear()  # every bubble drawn (a shared cache would keep them)
    few = get_counting_queries(operator_client, history_url)
    for n in range(20):
        image_message(make_message, group, content=image_bytes("PNG", (20 + n, 10)))

    cache.clear()
    many = get_counting_queries(operator_client, history_url)
    html = many.response.content.decode()

    assert html.count('class="media-image"') == 23
    assert len(many) == len(few), [q["sql"] for q in many]


def test_a_file_sent_by_an_uploaded_media_id_is_a_download_link_with_the_uploaded_name(
    client, make_bot, make_conversation, make_operator
):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    group = make_conversation(robot, "wrSales", robot_key="key-sales")
    client.force_login(make_operator("bob", robot))
    pdf = b"%PDF-1.7\n" + b"1" * 100
    upload = uploads.store_upload(robot, "file", "周报.pdf", pdf)
    accept_outbound(
        bot=robot,
        conversation_id="wrSales",
        body={"msgtype": "file", "file": {"media_id": upload.media_id}},
        source=Message.Source.API,
    )

    html = client.get(reverse("console:history", args=[robot.pk, group.pk])).content.decode()

    link = re.search(r'<a class="media-file" href="([^"]+)" download>([^<]+)<span', html)
    assert link and "周报.pdf" in link.group(2)
    assert b"".join(client.get(link.group(1)).streaming_content) == pdf


def test_a_file_whose_name_has_a_line_break_downloads_with_the_break_replaced(
    operator_client, group, history_url, make_message
):
    # A row stored before names were cleaned when received; a header cannot hold a line break.
    message = make_message(
        group, msgtype="file", body={"msgtype": "file", "file": {"cdn_type": "c", "cdn": "f"}}
    )
    media = MessageMedia.objects.create(
        message=message,
        kind="file",
        original_name="报价\r\nSet-Cookie: a=b.pdf",
        status="stored",
        stored_file=store.store_bytes(b"%PDF-1.7\n" + b"0" * 64),
    )

    for url in (media_url(history_url, media), media_links.media_path(media.pk)):
        answer = operator_client.get(url)

        assert answer.status_code == 200, url
        assert "Set-Cookie" not in answer.headers
        disposition = answer["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert "filename*=UTF-8''%E6%8A%A5%E4%BB%B7__Set-Cookie%3A%20a%3Db.pdf" in disposition
