"""An errmsg that names what the caller sent shows it as errmsg_value does: its first
characters, "…" when cut, a control character as its escape (a terminal or log that
shows the answer must show what was sent, not clear the screen)."""

from tests.messaging.support import callback_body
from tests.messaging.test_send_api import TEXT, refused

CLEAR_SCREEN = "\x1b[2J"


def test_an_unknown_conversation_id_is_named_escaped_and_cut_at_64_characters(send, bot, group):
    conversation_id = "wr" + CLEAR_SCREEN + "x" * 100

    errmsg = refused(send(bot.secret, conversation_id, TEXT), 7000101, 404)

    assert errmsg == (
        "unknown conversation_id: wr\\x1b[2J" + "x" * 58 + "… is not a user or group of this bot"
    )


def test_a_content_type_is_named_escaped(send, bot, group):
    answer = send(bot.secret, "wrGroup1", TEXT, content_type="text/x" + CLEAR_SCREEN)

    errmsg = refused(answer, 7000003, 415)

    assert errmsg == "Content-Type must be application/json, not text/x\\x1b[2j"


def test_a_key_holding_what_no_database_stores_is_named_escaped(post_callback, bot):
    body = callback_body("text", bot, extra={CLEAR_SCREEN: "a\x00b"})

    answer = post_callback(body)

    assert answer.status_code == 400
    assert answer.json() == {
        "errcode": 40035,
        "errmsg": "invalid parameter: body.extra.\\x1b[2J contains a NUL character",
    }


def test_an_unknown_api_path_is_named_escaped(client):
    answer = client.get("/api/no" + CLEAR_SCREEN)

    assert answer.status_code == 404
    assert answer.json()["errmsg"].startswith("no such endpoint: /api/no\\x1b[2J; ")
