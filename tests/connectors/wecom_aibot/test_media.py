"""Media of AI bot messages: downloaded and decrypted at once, retried while the URL lives."""

import base64
import hashlib
import json
import os
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.utils import timezone

from connectors.aibot_inbound import store_frame
from connectors.wecom_aibot_frames import FrameError, decrypt_media
from media import store
from messaging import media_fetch
from messaging.media_links import media_fields
from messaging.models import Message, MessageMedia
from messaging.signals import inbound_message_stored
from tests.images import image_bytes
from tests.messaging.conftest import receiver  # noqa: F401  (the local webhook receiver)
from tests.messaging.support import forward_due
from tests.polling import wait_until


def encrypted_as_wecom_does(plain: bytes, key: bytes | None = None) -> tuple[bytes, str]:
    """AES-256-CBC, IV = key[:16], PKCS#7 padded to a multiple of 32 bytes."""
    key = key or os.urandom(32)
    padder = padding.PKCS7(256).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize(), base64.b64encode(key).decode()


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 1000])
def test_media_bytes_decrypt_with_the_messages_own_key(size):
    plain = os.urandom(size)
    data, aeskey = encrypted_as_wecom_does(plain)
    assert decrypt_media(data, aeskey) == plain
    assert decrypt_media(data, aeskey.rstrip("=")) == plain  # WeCom's keys come unpadded


def test_a_wrong_key_is_an_error_not_garbage():
    # Fixed keys: with a random wrong key the garbage ends in valid-looking padding about
    # once in 220 tries (a last byte of 1, …), which no check of PKCS#7 can tell apart.
    data, _ = encrypted_as_wecom_does(b"secret picture", bytes(range(32)))
    _, other = encrypted_as_wecom_does(b"", bytes(range(1, 33)))
    with pytest.raises(FrameError):
        decrypt_media(data, other)


def image_message(server, msgid: str, plain: bytes) -> dict:
    url, aeskey = server.media_url(plain)
    return {
        "msgid": msgid,
        "chattype": "single",
        "from": {"userid": "lisi"},
        "msgtype": "image",
        "image": {"url": url, "aeskey": aeskey},
    }


def fetch_due() -> list:
    """What the archive's worker does right after the message is stored."""
    return [media_fetch.fetch(pk) for pk in media_fetch.due_media()]


def stored(row: MessageMedia) -> bytes:
    return store.read(row.stored_file)


def test_an_image_is_fetched_decrypted_and_kept_with_its_message(aibot_server, aibot, connected):
    picture = image_bytes()
    aibot_server.push_message("bot1", image_message(aibot_server, "img1", picture))
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["stored"]
    row = MessageMedia.objects.get()
    assert row.message.upstream_msgid == "img1" and row.kind == "image"
    assert row.stored_file.content_type == "image/png" and row.stored_file.size == len(picture)
    assert stored(row) == picture


def test_a_file_is_retried_after_a_failed_download_while_the_url_lives(
    aibot_server, aibot, connected
):
    aibot_server.fail_downloads = 1
    url, aeskey = aibot_server.media_url(b"%PDF-1.4 report")
    aibot_server.push_message(
        "bot1",
        {"msgid": "f1", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "file",
         "file": {"url": url, "aeskey": aeskey}},
    )  # fmt: skip
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["pending"]  # WeCom busy: tried again within the URL's life
    row = MessageMedia.objects.get()
    assert row.next_attempt_at - row.created_at < timedelta(minutes=5)
    MessageMedia.objects.update(next_attempt_at=timezone.now())
    assert fetch_due() == ["stored"]
    assert stored(MessageMedia.objects.get()) == b"%PDF-1.4 report"


def test_media_whose_url_died_is_recorded_as_failed_not_dropped(aibot_server, aibot, connected):
    aibot_server.media_seconds = 0  # expired before anybody fetched it
    aibot_server.push_message("bot1", image_message(aibot_server, "late", image_bytes()))
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["failed"]
    row = MessageMedia.objects.get()
    assert "404" in row.error and row.stored_file is None


def test_a_mixed_messages_images_are_each_fetched(aibot_server, aibot, connected):
    first, second = image_bytes(size=(4, 4)), image_bytes(size=(5, 5))
    items = []
    for picture in (first, second):
        url, aeskey = aibot_server.media_url(picture)
        items.append({"msgtype": "image", "image": {"url": url, "aeskey": aeskey}})
    aibot_server.push_message(
        "bot1",
        {"msgid": "mx", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "mixed",
         "mixed": {"msg_item": [{"msgtype": "text", "text": {"content": "看"}}, *items]}},
    )  # fmt: skip
    assert wait_until(lambda: MessageMedia.objects.count() == 2, timeout=30)

    assert fetch_due() == ["stored", "stored"]
    message = Message.objects.get(upstream_msgid="mx")
    assert message.msgtype == "text" and message.body["text"]["content"] == "看"
    assert [stored(row) for row in message.media.order_by("pk")] == [first, second]


def file_message(server, msgid: str, plain: bytes, disposition: str) -> dict:
    url, aeskey = server.media_url(plain, disposition)
    return {"msgid": msgid, "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "file",
            "file": {"url": url, "aeskey": aeskey}}  # fmt: skip


@pytest.mark.parametrize(
    "disposition",
    [
        "attachment; filename*=UTF-8''%E5%91%A8%E6%8A%A5%20v2.pdf",
        "attachment; filename=\"weekly.pdf\"; filename*=UTF-8''%E5%91%A8%E6%8A%A5%20v2.pdf",
        'attachment; filename="周报 v2.pdf"',  # raw UTF-8 bytes in the header
        'attachment; filename="%E5%91%A8%E6%8A%A5%20v2.pdf"',  # percent-encoded, as the SDK reads it
    ],
)
def test_a_received_file_keeps_the_name_its_download_gives(
    disposition, aibot_server, aibot, connected, client
):
    aibot_server.push_message(
        "bot1", file_message(aibot_server, "f1", b"%PDF-1.4 report", disposition)
    )
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["stored"]
    row = MessageMedia.objects.get()
    assert row.original_name == "周报 v2.pdf"
    # A webhook receiver following the forwarded link gets the file under its name.
    answer = client.get(media_fields(row.message)["url"])
    assert "filename*=UTF-8''%E5%91%A8%E6%8A%A5%20v2.pdf" in answer["Content-Disposition"]


def test_a_received_files_name_loses_its_folders_and_control_characters(
    aibot_server, aibot, connected
):
    disposition = (
        "attachment; filename*=UTF-8''..%2F..%2Fetc%2F%E6%8A%A5%0D%0A%E4%BB%B7%E2%80%AE.pdf"
    )
    aibot_server.push_message("bot1", file_message(aibot_server, "f2", b"%PDF-1.4 x", disposition))
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["stored"]
    assert MessageMedia.objects.get().original_name == "报价.pdf"


def test_a_received_files_name_reaches_the_webhook_in_the_forwarded_body(
    aibot_server,
    aibot,
    connected,
    receiver,  # noqa: F811  (the imported fixture)
    settings,
):
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 60
    settings.BOTADMIN_PUBLIC_URL = "http://testserver"
    aibot.webhook_url = receiver.url("/hook")
    aibot.save()
    disposition = "attachment; filename*=UTF-8''%E5%91%A8%E6%8A%A5%20v2.pdf"
    sent = file_message(aibot_server, "f3", b"%PDF-1.4 report", disposition)
    aibot_server.push_message("bot1", sent)
    assert wait_until(lambda: MessageMedia.objects.exists(), timeout=30)

    assert fetch_due() == ["stored"]
    assert forward_due() == ["success"]

    (request,) = receiver.requests
    forwarded = json.loads(request.body)["file"]
    assert forwarded["name"] == "周报 v2.pdf"
    assert forwarded["aeskey"] == sent["file"]["aeskey"]  # WeCom's own fields stay
    assert forwarded["cdn_type"] == "wecom_aibot" and forwarded["size"] == 15
    assert forwarded["url"].startswith("http://testserver/files/")


def test_a_mixed_messages_images_reach_the_webhook_each_with_its_archived_copy(
    aibot_server,
    aibot,
    connected,
    receiver,  # noqa: F811  (the imported fixture)
    settings,
):
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 60
    settings.BOTADMIN_PUBLIC_URL = "http://testserver"
    aibot.webhook_url = receiver.url("/hook")
    aibot.save()
    first, second = image_bytes(size=(4, 4)), image_bytes(size=(5, 5))
    items = []
    for picture in (first, second):
        url, aeskey = aibot_server.media_url(picture)
        items.append({"msgtype": "image", "image": {"url": url, "aeskey": aeskey}})
    text = {"msgtype": "text", "text": {"content": "看"}}
    aibot_server.push_message(
        "bot1",
        {"msgid": "mx", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "mixed",
         "mixed": {"msg_item": [text, *items]}},
    )  # fmt: skip
    assert wait_until(lambda: MessageMedia.objects.count() == 2, timeout=30)

    assert fetch_due() == ["stored", "stored"]
    assert forward_due() == ["success"]

    (request,) = receiver.requests
    forwarded = json.loads(request.body)["mixed"]["msg_item"]
    assert forwarded[0] == text
    for item, sent, picture in zip(forwarded[1:], items, (first, second), strict=True):
        image = item["image"]
        assert image["aeskey"] == sent["image"]["aeskey"]  # WeCom's own fields stay
        assert image["url"].startswith("http://testserver/files/")
        assert (image["size"], image["content_type"]) == (len(picture), "image/png")
        assert image["sha256"] == hashlib.sha256(picture).hexdigest()


def test_a_mixed_message_forwarded_the_moment_it_commits_waits_for_its_images(
    aibot_server,
    aibot,
    receiver,  # noqa: F811  (the imported fixture)
    settings,
):
    # A forwarding worker runs the instant the message is committed (the window a second
    # transaction for the images left open): it must hold the message back like an image.
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 60
    settings.BOTADMIN_PUBLIC_URL = "http://testserver"
    aibot.webhook_url = receiver.url("/hook")
    aibot.save()
    picture = image_bytes(size=(4, 4))
    url, aeskey = aibot_server.media_url(picture)
    image = {"msgtype": "image", "image": {"url": url, "aeskey": aeskey}}
    frame = {"cmd": "aibot_msg_callback", "body": {
        "msgid": "mx", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "mixed",
        "mixed": {"msg_item": [{"msgtype": "text", "text": {"content": "看"}}, image]}}}  # fmt: skip
    forwarded_at_commit = []

    def forward_at_once(sender, message_ids, **kwargs):
        forwarded_at_commit.extend(forward_due())

    inbound_message_stored.connect(forward_at_once, dispatch_uid="test-forward-at-once")
    try:
        store_frame(aibot, frame, time.time(), None)
    finally:
        inbound_message_stored.disconnect(dispatch_uid="test-forward-at-once")

    assert forwarded_at_commit == [] and receiver.requests == []
    assert fetch_due() == ["stored"]
    assert forward_due() == ["success"]
    (request,) = receiver.requests
    item = json.loads(request.body)["mixed"]["msg_item"][1]["image"]
    assert item["sha256"] == hashlib.sha256(picture).hexdigest()
    assert item["url"].startswith("http://testserver/files/")
