"""Inbound media are fetched into the archive by a worker right after the message is
stored, and forwarded with a signed link to the copy (bridge spec sections 6 and 7)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.demo import DEMO_GROUPS, DEMO_USERS
from conversations.secrets import generate_agent_token
from media import store
from media.models import StoredFile
from messaging import media_fetch
from messaging.media_links import media_path
from messaging.models import Message, MessageMedia
from messaging.sending import accept_outbound_bulk
from tests.botadmin.test_metrics import scrape  # noqa: F401  (GET /metrics, parsed)
from tests.images import image_bytes

from .support import callback_body, create_pending_deliveries, forward_due

JPEG = image_bytes("JPEG", (64, 48))
SEED_IMAGE = callback_body("image")["image"]


@pytest.fixture
def agent():
    from connectors.demo_agent import DemoAgent

    with DemoAgent(token=generate_agent_token(), users=DEMO_USERS, groups=DEMO_GROUPS) as agent:
        agent.media[SEED_IMAGE["cdn"]] = (JPEG, "image/jpeg")
        yield agent


@pytest.fixture
def media_bot(make_bot, agent, receiver, settings):
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 60
    settings.BOTADMIN_PUBLIC_URL = "http://testserver"
    return make_bot(
        name="media",
        agent_url=agent.url,
        agent_token=agent.token,
        webhook_url=receiver.url("/hook"),
    )


def fetch_due() -> list[str | None]:
    """What the worker woken by the callback does (the task body), run inline."""
    return [media_fetch.fetch(pk) for pk in media_fetch.due_media()]


def test_a_fetched_image_is_forwarded_with_a_signed_link_to_the_agents_exact_bytes(
    media_bot, agent, receiver, post_callback, client
):
    sent = callback_body("image", media_bot)
    post_callback(sent)
    assert create_pending_deliveries() == []  # held back: its copy is being fetched

    assert fetch_due() == ["stored"]
    assert forward_due() == ["success"]

    (request,) = receiver.requests
    image = json.loads(request.body)["image"]
    assert {k: image[k] for k in ("cdn_type", "cdn")} == sent["image"]  # the seed's fields
    assert image["content_type"] == "image/jpeg" and image["size"] == len(JPEG)
    assert image["sha256"] == hashlib.sha256(JPEG).hexdigest()
    client.logout()
    answer = client.get(image["url"].removeprefix("http://testserver"))
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == JPEG
    assert answer["Content-Type"] == "image/jpeg"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Content-Disposition"].startswith("inline; filename=")
    (asked,) = agent.media_requests
    assert asked == {
        "msgid": sent["msgid"],
        "conversation_id": sent["conversation_id"],
        "msgtype": "image",
        **sent["image"],
    }


def test_a_modified_link_is_refused_and_an_old_one_has_expired(
    media_bot, post_callback, client, settings
):
    post_callback(callback_body("image", media_bot))
    fetch_due()
    forward_due()
    row = MessageMedia.objects.get()
    path = media_path(row.pk)
    other = media_path(row.pk + 1)
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")

    assert client.get(forged).status_code == 403
    signed_elsewhere = signing.dumps(row.pk, salt="another purpose", compress=False)
    assert client.get(f"/files/{signed_elsewhere}").status_code == 403
    assert client.get(other).status_code == 404  # signed, but no such media
    settings.BOTADMIN_MEDIA_LINK_DAYS = 7
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert client.get(path).status_code == 410


OLD_KEY, NEW_KEY = "old-secret-key-" + "o" * 40, "new-secret-key-" + "n" * 40


@pytest.mark.parametrize(("fallbacks", "status"), [([OLD_KEY], 200), ([], 403)])
def test_a_link_forwarded_before_the_secret_key_was_rotated_opens_with_the_old_key_in_fallbacks(
    media_bot, receiver, post_callback, client, settings, fallbacks, status
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    post_callback(callback_body("image", media_bot))
    fetch_due()
    assert forward_due() == ["success"]
    forwarded = json.loads(receiver.requests[0].body)["image"]["url"]
    client.logout()

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, fallbacks
    answer = client.get(forwarded.removeprefix("http://testserver"))

    assert answer.status_code == status
    if status == 200:
        assert b"".join(answer.streaming_content) == JPEG
        # New links are signed with the new key alone.
        settings.SECRET_KEY_FALLBACKS = []
        assert client.get(media_path(MessageMedia.objects.get().pk)).status_code == 200


def test_an_agent_without_media_gets_the_message_forwarded_at_once_without_a_link(
    media_bot, agent, receiver, post_callback
):
    agent.serves_media = False
    sent = callback_body("image", media_bot)
    post_callback(sent)

    assert fetch_due() == ["failed"]
    assert forward_due() == ["success"]

    forwarded = json.loads(receiver.requests[0].body)
    assert forwarded["image"] == sent["image"]
    row = MessageMedia.objects.get()
    assert "404" in row.error and row.stored_file is None


def test_a_busy_agent_is_asked_again_and_the_message_goes_out_after_the_wait(
    media_bot, agent, receiver, post_callback
):
    agent.behaviour.media_status = 503
    sent = callback_body("image", media_bot)
    post_callback(sent)

    assert fetch_due() == ["pending"]
    row = MessageMedia.objects.get()
    assert row.status == "pending" and "503" in row.error
    assert row.next_attempt_at > timezone.now()
    assert create_pending_deliveries() == []

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert forward_due() == ["success"]  # the wait is over: without a copy
    assert json.loads(receiver.requests[0].body)["image"] == sent["image"]

    agent.behaviour.media_status = None
    with time_machine.travel(timezone.now() + timedelta(seconds=15)):
        assert fetch_due() == ["stored"]
    assert MessageMedia.objects.get().status == "stored"


def test_a_source_that_stays_busy_is_asked_again_after_growing_waits_then_every_6_hours(
    media_bot, agent, post_callback
):
    # As docs/connectors.md promises: 10 s, 30 s, 2 min, 10 min, 30 min, 2 h, then 6 h (±20 %).
    agent.behaviour.media_status = 503
    post_callback(callback_body("image", media_bot))
    waits, at = [], timezone.now()
    for _ in range(8):
        with time_machine.travel(at, tick=False):
            assert fetch_due() == ["pending"]
        row = MessageMedia.objects.get()
        waits.append((row.next_attempt_at - at).total_seconds())
        at = row.next_attempt_at

    expected = [10, 30, 120, 600, 1800, 7200, 21600, 21600]
    assert all(0.8 * e <= w <= 1.2 * e for w, e in zip(waits, expected, strict=True)), waits


def test_retries_stop_when_the_source_no_longer_keeps_the_media(media_bot, agent, post_callback):
    agent.behaviour.media_status = 503
    post_callback(callback_body("image", media_bot))
    outcomes = []
    for hours in range(0, 30, 3):
        with time_machine.travel(timezone.now() + timedelta(hours=hours)):
            outcomes += fetch_due()

    assert outcomes[-1] == "failed" and set(outcomes[:-1]) == {"pending"}
    row = MessageMedia.objects.get()
    assert row.error.startswith("gave up after") and "503" in row.error


def test_more_than_the_limit_is_not_stored_and_says_why(media_bot, agent, post_callback, settings):
    settings.BOTADMIN_MEDIA_MAX_BYTES = 100
    post_callback(callback_body("image", media_bot))

    assert fetch_due() == ["failed"]

    row = MessageMedia.objects.get()
    assert "100 bytes media limit" in row.error and not StoredFile.objects.exists()


def test_an_image_that_is_not_an_image_is_refused_by_its_content(media_bot, agent, post_callback):
    agent.media[SEED_IMAGE["cdn"]] = (b"<html><script>x</script></html>", "image/jpeg")
    post_callback(callback_body("image", media_bot))

    assert fetch_due() == ["failed"]

    assert MessageMedia.objects.get().error == "not an image (application/octet-stream)"
    assert not StoredFile.objects.exists()


def test_the_same_image_in_many_conversations_is_stored_once(media_bot, post_callback):
    for n in range(5):
        post_callback(callback_body("image", media_bot, msgid=f"m{n}", conversation_id=f"c{n}"))

    assert fetch_due() == ["stored"] * 5

    assert StoredFile.objects.count() == 1
    assert MessageMedia.objects.filter(stored_file__isnull=False).count() == 5


def test_fetch_again_starts_a_failed_fetch_afresh(media_bot, agent, post_callback):
    agent.serves_media = False
    post_callback(callback_body("image", media_bot))
    fetch_due()
    row = MessageMedia.objects.get()
    agent.serves_media = True

    assert media_fetch.fetch_again(row) is True
    assert media_fetch.fetch_again(row) is False  # pending already
    assert fetch_due() == ["stored"]
    assert MessageMedia.objects.get().attempts == 1


def test_a_fetch_is_done_once_when_two_workers_get_it(media_bot, agent, post_callback):
    post_callback(callback_body("image", media_bot))
    (pk,) = media_fetch.due_media()

    assert media_fetch.fetch(pk) == "stored"
    assert media_fetch.fetch(pk) is None
    assert len(agent.media_requests) == 1
    assert Message.objects.get().media.get().status == "stored"


def test_a_task_claims_its_media_together_and_settles_them_in_one_commit(media_bot, post_callback):
    for n in range(3):
        post_callback(callback_body("image", media_bot, msgid=f"m{n}", conversation_id=f"c{n}"))
    due = media_fetch.due_media()
    stored_earlier = 10**9  # not a due row: another worker's, or gone

    with CaptureQueriesContext(connection) as queries:
        assert media_fetch.fetch_many([*due, stored_earlier]) == ["stored"] * 3 + [None]

    # The claim: the rows with their messages, bots and conversations, one lease for all; then
    # for the images fetched, the files' rows (made or found: no read first), the media rows
    # (what they share, then their files), the messages, in one commit.
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert [s for s in statements if s in ("SELECT", "INSERT", "UPDATE")] == [
        "SELECT",
        "UPDATE",
        "INSERT",
        "UPDATE",
        "UPDATE",
        "UPDATE",
    ]
    assert statements.count("SAVEPOINT") == 2, statements  # the claim's and the settle's
    assert media_fetch.fetch_many(due) == [None] * 3  # done: nothing due any more
    rows = MessageMedia.objects.all()
    assert {row.attempts for row in rows} == {1} and len({row.stored_file_id for row in rows}) == 1


def test_a_slow_task_settles_what_it_stored_as_it_goes(media_bot, post_callback, monkeypatch):
    # Rows stored settle at least every SETTLE_EVERY, so a slow image does not hold back
    # the history and forwarding of the ones fetched before it.
    monkeypatch.setattr(media_fetch, "SETTLE_EVERY", timedelta(0))
    for n in range(3):
        post_callback(callback_body("image", media_bot, msgid=f"m{n}", conversation_id=f"c{n}"))

    with CaptureQueriesContext(connection) as queries:
        assert media_fetch.fetch_many(media_fetch.due_media()) == ["stored"] * 3

    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements.count("SAVEPOINT") == 1 + 3, statements  # the claim, then each settle


def test_media_a_worker_cannot_reach_within_its_lease_go_back_for_another(
    media_bot, agent, post_callback
):
    for n in range(3):
        post_callback(callback_body("image", media_bot, msgid=f"m{n}", conversation_id=f"c{n}"))
    due = media_fetch.due_media()

    with time_machine.travel(timezone.now(), tick=False) as clock:

        class SlowSource(dict):
            def get(self, key, default=None):  # the first download takes most of the lease
                clock.shift(media_fetch.LEASE * 0.6)
                return super().get(key, default)

        agent.media = SlowSource(agent.media)
        assert media_fetch.fetch_many(due) == ["stored", None, None]

        assert len(agent.media_requests) == 1
        assert media_fetch.due_media() == due[1:]  # due again at once, for the sweeper or a task
        assert [row.attempts for row in MessageMedia.objects.filter(pk__in=due[1:])] == [0, 0]


def test_a_burst_of_merged_wake_ups_is_fetched_a_few_to_a_task_the_rest_handed_on(
    media_bot, post_callback, monkeypatch
):
    from messaging.tasks import FETCHES_PER_TASK, fetch_media

    handed_on = []
    monkeypatch.setattr(fetch_media, "delay", lambda ids: handed_on.append(ids))
    for n in range(FETCHES_PER_TASK + 3):
        post_callback(callback_body("image", media_bot, msgid=f"m{n}", conversation_id=f"c{n}"))
    due = media_fetch.due_media()

    assert fetch_media(due) == ["stored"] * FETCHES_PER_TASK  # the task body, run inline

    assert handed_on == [due[FETCHES_PER_TASK:]]
    assert media_fetch.due_media() == due[FETCHES_PER_TASK:]


@pytest.mark.django_db(transaction=True)  # the fetch's own transactions, not savepoints
def test_on_postgresql_a_fetchs_commits_do_not_wait_for_the_disk(media_bot, post_callback):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's WAL with synchronous=NORMAL commits so already")
    post_callback(callback_body("image", media_bot))

    with CaptureQueriesContext(connection) as queries:
        assert fetch_due() == ["stored"]

    asynchronous = [q["sql"] for q in queries.captured_queries if "synchronous_commit" in q["sql"]]
    assert asynchronous == ["SET LOCAL synchronous_commit TO OFF"] * 2  # the claim, the settle
    with connection.cursor() as cursor:  # only those transactions: the session is as it was
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


# --- Outbound: what went out is archived too ------------------------------------------


def test_a_sent_base64_image_is_archived_as_sent(bot, group, send):
    png = image_bytes("PNG", (30, 20))
    body = {"msgtype": "image", "image": {"base64": base64.b64encode(png).decode(), "md5": ""}}
    body["image"]["md5"] = hashlib.md5(png).hexdigest()  # noqa: S324 (WeCom's checksum)

    assert send(bot.secret, group.conversation_id, body).json()["errcode"] == 0
    assert fetch_due() == ["stored"]

    row = Message.objects.get().media.get()
    assert row.cdn_type == "base64" and store.read(row.stored_file) == png


def test_an_image_sent_by_url_is_downloaded_once_for_an_announcements_copies(
    bot, make_conversation, receiver
):
    png = image_bytes("PNG", (30, 20))
    receiver.respond(200, png, {"Content-Type": "image/png"})
    conversations = [make_conversation(bot, f"wrMany{n}") for n in range(5)]
    url = receiver.url("/pic.png")

    accept_outbound_bulk(
        bot=bot,
        conversations=conversations,
        body={"msgtype": "image", "image": {"url": url}},
        source="announcement",
    )
    assert fetch_due() == ["stored"] * 5

    assert len(receiver.requests) == 1
    assert StoredFile.objects.count() == 1
    receiver.respond(200, image_bytes("PNG", (8, 8)), {"Content-Type": "image/png"})
    # Later the URL shows another picture: the history keeps the one that went out.
    assert store.read(MessageMedia.objects.first().stored_file) == png


def test_fetches_are_counted_by_connector_and_outcome(
    media_bot,
    agent,
    post_callback,
    scrape,  # noqa: F811
):
    before = scrape()
    post_callback(callback_body("image", media_bot, msgid="ok"))
    post_callback(callback_body("image", media_bot, msgid="x", image={"cdn_type": "c", "cdn": "?"}))

    assert sorted(fetch_due()) == ["failed", "stored"]

    after = scrape()
    for outcome in ("stored", "failed"):
        key = ("botadmin_media_fetches_total", (("connector", "bridge"), ("outcome", outcome)))
        assert after.get(key, 0) - before.get(key, 0) == 1


def test_an_agents_file_is_forwarded_with_its_name_beside_its_own_fields(
    media_bot, agent, receiver, post_callback
):
    agent.media["cdn-file-1"] = (b"%PDF-1.4 minutes", "application/pdf")
    sent = callback_body("image", media_bot)
    del sent["image"]
    sent["msgtype"] = "file"  # not a seed msgtype: stored raw, its media fetched all the same
    sent["file"] = {"cdn_type": "file", "cdn": "cdn-file-1", "filename": "会议纪要.pdf"}
    post_callback(sent)

    assert fetch_due() == ["stored"]
    assert forward_due() == ["success"]

    forwarded = json.loads(receiver.requests[0].body)["file"]
    assert forwarded["filename"] == "会议纪要.pdf" and forwarded["cdn"] == "cdn-file-1"
    assert forwarded["name"] == "会议纪要.pdf"
    assert forwarded["size"] == len(b"%PDF-1.4 minutes")


def test_an_agents_file_name_is_kept_without_folders_or_line_breaks(
    media_bot, agent, receiver, post_callback
):
    agent.media["cdn-file-2"] = (b"%PDF-1.4 minutes", "application/pdf")
    sent = callback_body("image", media_bot)
    del sent["image"]
    sent["msgtype"] = "file"
    sent["file"] = {"cdn_type": "file", "cdn": "cdn-file-2", "filename": "../../报价\r\n单.pdf"}
    post_callback(sent)

    assert fetch_due() == ["stored"]
    assert MessageMedia.objects.get().original_name == "报价单.pdf"
