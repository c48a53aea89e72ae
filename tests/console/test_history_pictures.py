"""Pictures on other sites: a news article's `picurl`, a link's `image_url`, a mini
program's icon, an image's URL that was not archived and a markdown image are named by
their host in the console, never loaded by the operator's browser (which would tell that
site who reads the console, and when). Archived images show from botadmin's own media
archive. The pages' Content-Security-Policy allows images from botadmin only."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from announcements.editing import Draft, save_announcement
from media import store
from messaging.models import Message, MessageMedia
from tests.images import image_bytes

PICTURE = "https://pics.example.net/banner.png"
NAMED = "pics.example.net 上的图片（未加载）"


class _ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def image_sources(html: str) -> list[str]:
    parser = _ImageSources()
    parser.feed(html)
    return parser.sources


def from_botadmin(source: str) -> bool:
    """A path on botadmin's own host: no scheme, no other host (not `//host/…`)."""
    return source.startswith("/") and not source.startswith("//")


def archived_image(make_message, group) -> tuple[Message, MessageMedia]:
    """A received image whose bytes are in the media archive."""
    body = {"msgtype": "image", "image": {"cdn_type": "wecom_cdn", "cdn": "x/1"}}
    message = make_message(group, msgtype="image", body=body)
    media = MessageMedia.objects.create(
        message=message,
        kind="image",
        cdn_type="wecom_cdn",
        cdn="x/1",
        status="stored",
        stored_file=store.store_bytes(image_bytes("PNG", (40, 30))),
    )
    return message, media


@pytest.fixture
def history_url(bot, group):
    return reverse("console:history", args=[bot.pk, group.pk])


def test_the_timeline_names_pictures_on_other_sites_and_loads_only_archived_ones(
    client, operator_client, bot, group, history_url, make_message
):
    sent = [
        {"msgtype": "news", "news": {"articles": [{"title": "季度报告", "url": "https://example.com/r", "picurl": PICTURE}]}},
        {"msgtype": "link", "link": {"title": "退货政策", "url": "https://example.com/l", "image_url": PICTURE}},
        {"msgtype": "markdown", "markdown": {"content": f"横幅 ![横幅]({PICTURE})"}},
    ]  # fmt: skip
    for body in sent:
        answer = client.post(
            f"/api/send?secret={bot.secret}&conversation_id={group.conversation_id}",
            body,
            content_type="application/json",
        )
        assert answer.json()["errcode"] == 0
    # Received from an agent, and an image stored before the media archive existed.
    make_message(group, msgtype="link", body={"msgtype": "link", "link": {"title": "t", "url": "https://example.com", "image_url": PICTURE}})  # fmt: skip
    make_message(group, msgtype="miniprogram", body={"msgtype": "miniprogram", "miniprogram": {"appname": "商城", "title": "订单", "appicon": PICTURE}})  # fmt: skip
    make_message(group, direction="out", msgtype="image", body={"msgtype": "image", "image": {"url": PICTURE}})  # fmt: skip
    archived, media = archived_image(make_message, group)

    response = operator_client.get(history_url)
    html = response.content.decode()

    sources = image_sources(html)
    assert sources == [f"{history_url}messages/{archived.pk}/media/{media.pk}/thumbnail"]
    assert all(from_botadmin(source) for source in sources)
    # The news card, both link cards and the unarchived image; the icon only in its title.
    assert html.count(f">{NAMED}<") == 4
    assert f'title="{NAMED}"' in html
    assert f'<a class="remote-picture" href="{PICTURE}" target="_blank"' in html  # opens on a click
    assert f'<a class="md-image" href="{PICTURE}"' in html
    assert "; img-src 'self' data: blob:; " in response.headers["Content-Security-Policy"]


def test_an_announcements_page_names_its_pictures_instead_of_loading_them(
    operator_client, operator, bot, group
):
    announcement = save_announcement(
        operator,
        Draft(
            bot=bot,
            title="退货政策",
            body={
                "msgtype": "link",
                "link": {"title": "退货政策", "url": "https://example.com/l", "image_url": PICTURE},
            },  # fmt: skip
            conversation_ids=[group.pk],
            kind="daily",
            schedule={"time": "09:30"},
            timezone="Asia/Shanghai",
        ),
        as_draft=True,
    )

    html = operator_client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    assert NAMED in html
    assert all(from_botadmin(source) for source in image_sources(html))


def test_pages_allow_images_from_botadmin_only_and_archived_files_keep_their_sandbox(
    operator_client, group, history_url, make_message
):
    archived, media = archived_image(make_message, group)

    page = operator_client.get(reverse("console:dashboard"))
    login = operator_client.get(reverse("console:login"))
    file = operator_client.get(f"{history_url}messages/{archived.pk}/media/{media.pk}")

    for answer in (page, login):
        assert "; img-src 'self' data: blob:; " in answer.headers["Content-Security-Policy"]
    assert file.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
