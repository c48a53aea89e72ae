"""POST /api/send: `send_at` in the query string beside, or instead of, the body's."""

import json
from datetime import timedelta

from django.utils import timezone

from messaging.models import Message

from .test_send_api import accepted, refused

LATER = {"msgtype": "text", "text": {"content": "later"}}


def _send_with_query(client, query: str, body: dict = LATER):
    return client.post(f"/api/send?{query}", data=json.dumps(body), content_type="application/json")


def test_an_empty_send_at_in_the_query_leaves_the_body_s_send_at_to_schedule(client, bot, group):
    # A URL template whose send_at= is left blank, with the time in the body: the
    # message waits for its time rather than going out at once.
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    query = f"secret={bot.secret}&conversation_id=wrGroup1&send_at="
    response = _send_with_query(client, query, {**LATER, "send_at": when.isoformat()})
    message = accepted(response)
    assert message.status == Message.Status.SCHEDULED
    assert message.scheduled_at == when
    assert response.json()["send_at"] == when.isoformat()


def test_two_different_send_ats_in_the_query_are_refused_and_nothing_is_stored(client, bot, group):
    # A tool appending its own send_at to a URL that has one: botadmin does not pick.
    first = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    second = first + timedelta(days=1)
    query = (
        f"secret={bot.secret}&conversation_id=wrGroup1"
        f"&send_at={int(first.timestamp())}&send_at={int(second.timestamp())}"
    )
    errmsg = refused(_send_with_query(client, query), 40035, 400)
    assert errmsg == "invalid parameter: send_at is given twice with different values"


def test_the_same_send_at_twice_in_the_query_is_one(client, bot, group):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    seconds = int(when.timestamp())
    query = f"secret={bot.secret}&conversation_id=wrGroup1&send_at={seconds}&send_at={seconds}"
    message = accepted(_send_with_query(client, query))
    assert message.scheduled_at == when
