"""A frame whose fields are of other types than WeCom's is logged and skipped: the
connection goes on, and the callbacks after it are stored."""

import json

import pytest

from messaging.models import Message
from tests.polling import wait_until

from .test_inbound import direct_text


def inbound():
    return Message.objects.filter(direction=Message.Direction.IN).order_by("pk")


@pytest.mark.parametrize(
    "frame",
    [
        {"cmd": "aibot_msg_callback", "headers": ["cb_1"], "body": direct_text("m0")},
        {"cmd": "aibot_msg_callback", "headers": {"req_id": "cb_1"}, "body": "m0"},
    ],
    ids=["headers-not-an-object", "body-not-an-object"],
)
def test_a_frame_of_wrong_field_types_is_skipped_and_the_connection_goes_on(
    aibot_server, aibot, connected, frame
):
    aibot_server.push_raw("bot1", json.dumps(frame))
    aibot_server.push_message("bot1", direct_text("after"))

    assert wait_until(lambda: inbound().filter(upstream_msgid="after").exists(), timeout=30)
    assert aibot_server.subscriptions == [("bot1", 0)]  # never reconnected
