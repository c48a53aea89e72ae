"""End to end with a real Celery worker: an inbound image is fetched from the agent's
/media right after the callback, and forwarded with a link that serves the agent's
exact bytes without a login; a v1 agent's image goes out at once without one."""

from __future__ import annotations

import json

import pytest
import requests
from django.conf import settings

from conversations.demo import DEMO_GROUPS, DEMO_USERS
from conversations.secrets import generate_agent_token
from devtools.processes import celery_worker, database_url, stop_process_group
from devtools.receiver import Receiver
from messaging.models import MessageMedia
from tests.images import image_bytes
from tests.messaging.support import callback_body, purge_broker

JPEG = image_bytes("JPEG", (900, 600))
CDN = callback_body("image")["image"]["cdn"]


@pytest.fixture
def agent():
    from connectors.demo_agent import DemoAgent

    with DemoAgent(token=generate_agent_token(), users=DEMO_USERS, groups=DEMO_GROUPS) as agent:
        agent.media[CDN] = (JPEG, "image/jpeg")
        yield agent


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def worker(transactional_db, live_server, tmp_path):
    purge_broker()  # wake-ups left by earlier tests
    process = celery_worker(
        pool="threads",
        concurrency=2,
        env={
            "DATABASE_URL": database_url(),
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
            "CONN_MAX_AGE": "0",
            # The same media folder as this test process, which serves the links.
            "BOTADMIN_MEDIA_DIR": str(settings.STORAGES["media"]["OPTIONS"]["location"]),
            "BOTADMIN_PUBLIC_URL": live_server.url,
            "BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS": "60",
        },
        stderr=tmp_path / "worker.log",
    )
    yield process
    stop_process_group(process, timeout=0)


def test_an_image_is_fetched_by_the_worker_and_forwarded_with_its_link(
    worker, live_server, agent, receiver, make_bot
):
    bot = make_bot(agent_url=agent.url, agent_token=agent.token, webhook_url=receiver.url("/h"))
    sent = callback_body("image", bot)

    answer = requests.post(live_server.url + "/api/callback", json=sent, timeout=10)

    assert answer.json() == {"errcode": 0, "errmsg": "ok"}
    (request,) = receiver.wait_for(1, timeout=50)
    image = json.loads(request.body)["image"]
    assert {k: image[k] for k in ("cdn_type", "cdn")} == sent["image"]
    assert (image["content_type"], image["size"]) == ("image/jpeg", len(JPEG))
    fetched = requests.get(image["url"], timeout=10)  # no login
    assert fetched.status_code == 200 and fetched.content == JPEG
    assert requests.get(image["url"] + "x", timeout=10).status_code == 403
    assert len(agent.media_requests) == 1


def test_a_v1_agents_image_is_forwarded_without_a_link_well_before_the_wait(
    worker, live_server, agent, receiver, make_bot
):
    agent.serves_media = False
    bot = make_bot(agent_url=agent.url, agent_token=agent.token, webhook_url=receiver.url("/h"))
    sent = callback_body("image", bot)

    requests.post(live_server.url + "/api/callback", json=sent, timeout=10)

    (request,) = receiver.wait_for(1, timeout=30)  # the wait is 60 s: 404 settles it at once
    assert json.loads(request.body)["image"] == sent["image"]
    assert MessageMedia.objects.get().status == "failed"
