"""GET /api/messages/<msgid>?secret=…: a bot's API user sees what happened to a message."""

import pytest

from messaging.delivery import deliver


@pytest.fixture
def failed_then_sent(agent, bridge_group, queue_message, clock):
    agent.behaviour.errcode, agent.behaviour.errcode_times = 45009, 1
    message = queue_message(bridge_group, {"msgtype": "text", "text": {"content": "hi"}})
    deliver(message.pk, clock)
    clock.advance(3600)
    deliver(message.pk, clock)
    return message


def test_status_shows_status_attempts_and_timestamps(client, bridge_bot, failed_then_sent):
    response = client.get(f"/api/messages/{failed_then_sent.msgid}", {"secret": bridge_bot.secret})

    assert response.status_code == 200
    data = response.json()
    assert (data["errcode"], data["errmsg"]) == (0, "ok")
    message = data["message"]
    assert message["msgid"] == failed_then_sent.msgid
    assert message["status"] == "sent"
    assert message["conversation_id"] == "wrDemoGroup0001"
    assert message["attempt_count"] == 2
    assert message["sent_at"] and message["created_at"]
    assert [(a["outcome"], a["errcode"]) for a in message["attempts"]] == [
        ("retry", 45009),
        ("sent", 0),
    ]
    assert message["attempts"][0]["response"] == "simulated errcode 45009"


def test_status_shows_the_last_error_of_a_failed_message(
    client, agent, bridge_bot, bridge_group, queue_message, clock
):
    agent.behaviour.errcode = 40058
    message = queue_message(bridge_group, {"msgtype": "text", "text": {"content": "hi"}})
    deliver(message.pk, clock)

    data = client.get(f"/api/messages/{message.msgid}", {"secret": bridge_bot.secret}).json()

    assert data["message"]["status"] == "failed"
    assert data["message"]["last_error"] == "simulated errcode 40058"


def test_another_bots_message_is_no_such_message(client, make_bot, failed_then_sent):
    other = make_bot(name="other")
    response = client.get(f"/api/messages/{failed_then_sent.msgid}", {"secret": other.secret})
    assert response.status_code == 404
    assert response.json() == {
        "errcode": 7000104,
        "errmsg": f"no such message: {failed_then_sent.msgid}",
    }


@pytest.mark.parametrize(
    "msgid, named",
    [
        ("nope", "nope"),
        # A NUL (which PostgreSQL refuses in a query) was a 503; now it is simply unknown.
        ("a%00b", "a\\x00b"),
        ("x" * 33, "x" * 33),
        # Control characters are named escaped, never reflected as they are.
        ("a%0Ab%1B%5B31m", "a\\nb\\x1b[31m"),
        ("%E2%80%AEabc", "\\u202eabc"),
        # A very long one is named by its start.
        ("y" * 5000, "y" * 64 + "…"),
    ],
)
def test_unknown_msgid_is_no_such_message_naming_it(client, bridge_bot, msgid, named):
    for response in (
        client.get(f"/api/messages/{msgid}", {"secret": bridge_bot.secret}),
        client.post(f"/api/messages/{msgid}/cancel?secret={bridge_bot.secret}"),
    ):
        assert response.status_code == 404
        assert response.json() == {"errcode": 7000104, "errmsg": f"no such message: {named}"}


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-" + "x" * 30])
def test_wrong_or_missing_secret_is_93000(client, failed_then_sent, secret):
    params = {} if secret is None else {"secret": secret}
    response = client.get(f"/api/messages/{failed_then_sent.msgid}", params)
    assert response.status_code == 401
    assert response.json()["errcode"] == 93000
