"""A message received by an app bot has its media fetched with media/get (3 days) into
the archive: images and files alike; an expired media_id fails for good."""

from __future__ import annotations

import json
import time

from media import store
from messaging import media_fetch
from messaging.models import MessageMedia
from tests.images import image_bytes

from .conftest import CORP_ID
from .test_callback import post_encrypted

PNG = image_bytes("PNG", (40, 30))


def received(msgtype: str, media_id: str, msgid: str, extra: str = "") -> str:
    return (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>lisi</FromUserName>"
        f"<CreateTime>1733100001</CreateTime><MsgType>{msgtype}</MsgType>{extra}"
        f"<MediaId>{media_id}</MediaId><MsgId>{msgid}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def fetch_due():
    return [media_fetch.fetch(pk) for pk in media_fetch.due_media()]


def test_an_images_bytes_are_fetched_with_media_get(client, app_bot, app_api):
    app_api.media["MEDIA1"] = (PNG, "image", time.time() + 3600)
    xml = received("image", "MEDIA1", "2", "<PicUrl>https://wework.qpic.cn/x.png</PicUrl>")

    assert post_encrypted(client, app_bot, xml).status_code == 200
    assert fetch_due() == ["stored"]

    row = MessageMedia.objects.get()
    assert (row.kind, row.cdn_type, row.cdn) == ("image", "wecom_app_media", "MEDIA1")
    assert store.read(row.stored_file) == PNG and row.stored_file.content_type == "image/png"
    assert ("media/get", "MEDIA1") in [
        (api, json.loads(query).get("media_id")) for api, query, _ in app_api.requests
    ]


def test_a_voice_message_is_archived_like_an_image(client, app_bot, app_api):
    amr = b"#!AMR\n" + bytes(range(200))
    app_api.media["V1"] = (amr, "voice", time.time() + 3600)

    post_encrypted(client, app_bot, received("voice", "V1", "3", "<Format>amr</Format>"))
    assert fetch_due() == ["stored"]

    row = MessageMedia.objects.get()
    assert row.kind == "voice" and row.stored_file.content_type == "audio/amr"
    assert row.message.body["voice"]["MediaId"] == "V1"  # WeCom's fields stay as sent


def test_an_expired_media_id_fails_for_good(client, app_bot, app_api):
    post_encrypted(client, app_bot, received("image", "GONE", "4"))

    assert fetch_due() == ["failed"]

    assert MessageMedia.objects.get().error.startswith("media/get: 40007")
