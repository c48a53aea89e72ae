"""An image, file or voice names one source: media_id, url or base64 (with its md5)."""

import base64
import hashlib

import pytest

from messaging.models import Message
from tests.messaging.test_send_api import AMR, PNG, refused


def in_base64(raw: bytes) -> dict:
    return {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}


@pytest.mark.parametrize(
    "msgtype, payload, errmsg",
    [
        (
            "image",
            {"url": "https://example.com/a.png", **in_base64(PNG)},
            "invalid field: image takes url or base64, not both",
        ),
        (
            "file",
            {"url": "https://example.com/a.pdf", **in_base64(b"%PDF-1.4")},
            "invalid field: file takes media_id, url or base64, not several",
        ),
        (
            "voice",
            {"url": "https://example.com/a.amr", **in_base64(AMR)},
            "invalid field: voice takes media_id, url or base64, not several",
        ),
    ],
    ids=["image", "file", "voice"],
)
def test_a_url_beside_base64_is_40058_and_nothing_is_stored(
    send, robot_bot, robot_group, msgtype, payload, errmsg
):
    body = {"msgtype": msgtype, msgtype: payload}

    assert refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400) == errmsg
    assert not Message.objects.exists()
