"""An Idempotency-Key's retry is compared by what it asks for: `send_at` as an instant.

A client that rebuilds its retry may write the same time in another offset; that is the
same request, answered as the first was. What changes what is sent, to whom or when is
still another request (7000103)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from messaging.models import Message

from .test_send_api import accepted

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
REPORT = {"msgtype": "text", "text": {"content": "weekly report"}}


@pytest.fixture
def when():
    return (timezone.now() + timedelta(days=1)).replace(microsecond=0)


def _scheduled(send_at, **changes) -> dict:
    return {**REPORT, **changes, "send_at": send_at}


@pytest.mark.parametrize(
    "written_again",
    [
        lambda when: when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda when: when.astimezone(NEW_YORK).isoformat(),
        lambda when: int(when.timestamp()),
    ],
    ids=["Z", "-05:00", "unix seconds"],
)
def test_a_retry_writing_the_same_send_at_in_another_offset_gets_the_first_answer(
    send, bot, group, when, written_again
):
    key = {"Idempotency-Key": "report-2026-w50"}
    first = send(bot.secret, "wrGroup1", _scheduled(when.astimezone(SHANGHAI).isoformat()), **key)
    accepted(first)

    again = send(bot.secret, "wrGroup1", _scheduled(written_again(when)), **key)

    assert again.status_code == 200, again.json()
    assert again.json()["msgid"] == first.json()["msgid"]
    assert again["Idempotent-Replayed"] == "true"
    assert datetime.fromisoformat(again.json()["send_at"]) == when
    assert Message.objects.count() == 1


def test_a_retry_with_the_send_at_in_the_query_instead_of_the_body_gets_the_first_answer(
    send, bot, group, when
):
    key = {"Idempotency-Key": "report-2026-w50"}
    in_shanghai = _scheduled(when.astimezone(SHANGHAI).isoformat())
    first = accepted(send(bot.secret, "wrGroup1", in_shanghai, **key))

    again = send(bot.secret, "wrGroup1", REPORT, query={"send_at": int(when.timestamp())}, **key)

    assert again.json()["msgid"] == first.msgid and again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("changed", "label"),
    [
        (lambda when: _scheduled((when + timedelta(minutes=1)).isoformat()), "a minute later"),
        (lambda when: REPORT, "no send_at: send now"),
        (
            lambda when: _scheduled(when.isoformat(), text={"content": "monthly report"}),
            "another text",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_retry_asking_for_another_time_or_text_is_still_refused(
    send, bot, group, when, changed, label
):
    key = {"Idempotency-Key": "report-2026-w50"}
    first = accepted(send(bot.secret, "wrGroup1", _scheduled(when.isoformat()), **key))

    again = send(bot.secret, "wrGroup1", changed(when), **key)

    assert again.status_code == 409, label
    assert again.json() == {
        "errcode": 7000103,
        "errmsg": "Idempotency-Key reused with a different request: "
        f"it was first used for message {first.msgid}",
    }
    assert Message.objects.count() == 1


def test_a_retry_across_the_upgrade_matches_a_first_try_fingerprinted_in_its_offset(
    send, bot, group, when
):
    """Releases before this one fingerprinted send_at in the offset it was written in: a
    retry of such a request, within the 24 hours, still gets its first answer."""
    written = when.astimezone(SHANGHAI).isoformat()
    key = {"Idempotency-Key": "report-2026-w50"}
    first = accepted(send(bot.secret, "wrGroup1", _scheduled(written), **key))
    old_fingerprint = {"body": REPORT, "conversation_id": "wrGroup1", "send_at": written}
    canonical = json.dumps(old_fingerprint, sort_keys=True, separators=(",", ":"))
    Message.objects.filter(pk=first.pk).update(  # the old release's row
        request_hash=hashlib.sha256(canonical.encode()).hexdigest()
    )

    again = send(bot.secret, "wrGroup1", _scheduled(written), **key)

    assert again.json()["msgid"] == first.msgid and again["Idempotent-Replayed"] == "true"
    later = send(bot.secret, "wrGroup1", _scheduled((when + timedelta(hours=1)).isoformat()), **key)
    assert later.json()["errcode"] == 7000103


@pytest.mark.parametrize(
    "written",
    [
        lambda when: when.astimezone(SHANGHAI).isoformat(),
        lambda when: when.astimezone(NEW_YORK).replace(microsecond=250_000).isoformat(),
        lambda when: timezone.make_naive(when).isoformat(),  # the server's TIME_ZONE
    ],
    ids=["+08:00", "-05:00 with microseconds", "naive"],
)
def test_a_replay_answers_byte_for_byte_what_the_first_answer_said(send, bot, group, when, written):
    key = {"Idempotency-Key": "report-2026-w50"}
    first = send(bot.secret, "wrGroup1", _scheduled(written(when)), **key)
    accepted(first)

    again = send(bot.secret, "wrGroup1", _scheduled(written(when)), **key)
    in_utc = datetime.fromisoformat(first.json()["send_at"]).astimezone(UTC).isoformat()
    rewritten = send(bot.secret, "wrGroup1", _scheduled(in_utc), **key)

    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert rewritten.content == first.content  # the same instant, written otherwise


def test_a_replay_of_a_row_stored_before_the_answer_was_kept_answers_the_instant_in_utc(
    send, bot, group, when
):
    """A message stored by a release that kept no answer: its replay says the same time,
    as the database holds it (UTC), as that release's replays did."""
    key = {"Idempotency-Key": "report-2026-w50"}
    first = accepted(
        send(bot.secret, "wrGroup1", _scheduled(when.astimezone(SHANGHAI).isoformat()), **key)
    )
    Message.objects.filter(pk=first.pk).update(send_at_answered=None)  # the old release's row

    again = send(bot.secret, "wrGroup1", _scheduled(when.astimezone(SHANGHAI).isoformat()), **key)

    assert again.json() == {
        "errcode": 0,
        "errmsg": "ok",
        "msgid": first.msgid,
        "send_at": when.astimezone(UTC).isoformat(),
    }


def test_a_replay_of_a_message_sent_at_once_answers_no_send_at(send, bot, group):
    key = {"Idempotency-Key": "report-now"}
    first = send(bot.secret, "wrGroup1", REPORT, **key)
    accepted(first)

    again = send(bot.secret, "wrGroup1", REPORT, **key)

    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content and "send_at" not in again.json()
