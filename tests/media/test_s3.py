"""The media archive against a real S3 API on 127.0.0.1 (moto's standalone server):
files kept once under the prefix, served through signed links, deleted with their
rows, and a bucket that is down loses nothing (the fetch is retried)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conversations.demo import DEMO_GROUPS, DEMO_USERS
from conversations.secrets import generate_agent_token
from devtools.s3 import S3Server
from media import store
from media.models import StoredFile
from messaging import media_fetch
from messaging.models import Message, MessageMedia
from tests.images import image_bytes
from tests.messaging.support import callback_body, forward_due

pytestmark = pytest.mark.django_db(transaction=True)

JPEG = image_bytes("JPEG", (640, 480))
BUCKET = "botadmin-media"
PREFIX = "prod/media"


@pytest.fixture(scope="module")
def s3_server():
    with S3Server() as server:
        yield server


@pytest.fixture
def s3(s3_server, settings):
    if s3_server.process is None:  # stopped by a test
        s3_server.start()
    s3_server.create_bucket(BUCKET)
    settings.STORAGES = {**settings.STORAGES, "media": s3_server.storage_settings(BUCKET, PREFIX)}
    yield s3_server
    client = s3_server.client()
    for key in s3_server.keys(BUCKET):
        client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_bucket(Bucket=BUCKET)


def test_bytes_are_kept_once_under_the_prefix_and_a_thumbnail_beside_them(s3):
    first = store.store_bytes(JPEG)
    again = store.store_bytes(JPEG)

    assert again.pk == first.pk
    assert s3.keys(BUCKET) == [f"{PREFIX}/{first.name}"]
    thumbnail = store.thumbnail(first)
    assert s3.keys(BUCKET) == [f"{PREFIX}/{first.name}", f"{PREFIX}/{thumbnail}"]
    body = s3.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/{first.name}")["Body"].read()
    assert body == JPEG and store.read(first) == JPEG


def test_deleting_a_file_removes_its_objects(s3):
    stored = store.store_bytes(JPEG)
    store.thumbnail(stored)

    assert store.delete_files([stored]) == 1

    assert s3.keys(BUCKET) == [] and not StoredFile.objects.exists()


@pytest.fixture
def agent():
    from connectors.demo_agent import DemoAgent

    with DemoAgent(token=generate_agent_token(), users=DEMO_USERS, groups=DEMO_GROUPS) as agent:
        agent.media[callback_body("image")["image"]["cdn"]] = (JPEG, "image/jpeg")
        yield agent


@pytest.fixture
def media_bot(make_bot, agent, receiver, settings):
    settings.BOTADMIN_PUBLIC_URL = "http://testserver"
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 60
    return make_bot(
        name="s3", agent_url=agent.url, agent_token=agent.token, webhook_url=receiver.url("/h")
    )


@pytest.fixture
def receiver():
    from devtools.receiver import Receiver

    with Receiver() as server:
        yield server


def fetch_due():
    return [media_fetch.fetch(pk) for pk in media_fetch.due_media()]


def test_a_received_image_is_served_from_the_bucket_through_its_signed_link(
    s3, media_bot, receiver, client
):
    client.post("/api/callback", callback_body("image", media_bot), content_type="application/json")

    assert fetch_due() == ["stored"] and forward_due() == ["success"]

    url = json.loads(receiver.requests[0].body)["image"]["url"]
    answer = client.get(url.removeprefix("http://testserver"))
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == JPEG


def test_a_bucket_that_is_down_loses_nothing(s3, media_bot, receiver, client):
    s3.stop()
    sent = callback_body("image", media_bot)

    answer = client.post("/api/callback", sent, content_type="application/json")

    assert answer.json()["errcode"] == 0 and Message.objects.count() == 1
    assert fetch_due() == ["pending"]
    row = MessageMedia.objects.get()
    assert row.error.startswith("media store unavailable") and row.next_attempt_at
    assert not StoredFile.objects.exists()

    s3.start()
    s3.create_bucket(BUCKET)  # moto kept it in memory only
    with time_machine.travel(timezone.now() + timedelta(seconds=15)):
        assert fetch_due() == ["stored"]
        assert forward_due() == ["success"]

    image = json.loads(receiver.requests[0].body)["image"]
    assert image["size"] == len(JPEG)
    assert s3.keys(BUCKET)[0].startswith(PREFIX + "/")


def test_a_bucket_that_is_down_is_named_without_the_credentials_in_its_endpoint(
    s3, media_bot, settings, client
):
    """botocore quotes the endpoint URL it could not reach, the user part included
    (`https://minio:password@s3.internal`): operators read the reason on the message."""
    media = settings.STORAGES["media"]
    endpoint = media["OPTIONS"]["endpoint_url"].replace("://", "://minio:Pa55-not-shown@")
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {**media, "OPTIONS": {**media["OPTIONS"], "endpoint_url": endpoint}},
    }
    s3.stop()
    client.post("/api/callback", callback_body("image", media_bot), content_type="application/json")
    try:
        assert fetch_due() == ["pending"]
    finally:
        s3.start()
        s3.create_bucket(BUCKET)  # for the fixture to empty and remove

    error = MessageMedia.objects.get().error
    assert error.startswith("media store unavailable: EndpointConnectionError")
    assert "://********@127.0.0.1:" in error and "Pa55-not-shown" not in error
