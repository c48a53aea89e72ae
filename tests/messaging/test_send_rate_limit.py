"""The send rate limit holds across the processes of a server and concurrent requests,
on the database cache and on Redis."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command

from devtools.processes import database_url
from messaging.models import Message

from .conftest import running_gunicorn

CONFIGURED_CACHE = os.environ.get("CACHE_URL", "")
LIMIT, REQUESTS, THREADS = 100, 240, 8


@pytest.fixture(
    params=[
        "dbcache://botadmin_cache",
        pytest.param(
            CONFIGURED_CACHE,
            id="redis",
            marks=pytest.mark.skipif(
                not CONFIGURED_CACHE.startswith("redis://"), reason="CACHE_URL is not a Redis"
            ),
        ),
    ],
    ids=["database", "redis"],
)
def server(request, transactional_db, tmp_path):
    """gunicorn (two worker processes, four threads each) on the test database and this cache."""
    call_command("createcachetable", "botadmin_cache")  # there already unless CACHE_URL is Redis
    cache.clear()
    environment = {"CACHE_URL": request.param, "BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    with running_gunicorn(database_url(), tmp_path / "server.log", environment) as base_url:
        yield base_url
    cache.clear()


def post_concurrently(url: str, params: dict) -> list[int]:
    body = json.dumps({"msgtype": "text", "text": {"content": "hi"}})

    def post(_):
        with requests.Session() as session:
            return [
                session.post(url, params=params, data=body, timeout=60).json()["errcode"]
                for _ in range(REQUESTS // THREADS)
            ]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return [code for codes in pool.map(post, range(THREADS)) for code in codes]


def test_concurrent_requests_to_several_processes_are_accepted_up_to_the_limit(
    server, make_bot, make_conversation
):
    # The limit counts per clock minute: a run that straddles one is repeated
    # with a fresh bot (it takes seconds, so the second cannot straddle too).
    for attempt in range(2):
        bot = make_bot(name=f"busy-{attempt}")
        group = make_conversation(bot, "wrBusy")
        minute = int(time.time() // 60)
        errcodes = post_concurrently(
            f"{server}/api/send", {"secret": bot.secret, "conversation_id": "wrBusy"}
        )
        if int(time.time() // 60) == minute:
            break

    assert len(errcodes) == REQUESTS and set(errcodes) <= {0, 45009}
    assert errcodes.count(0) == LIMIT
    assert Message.objects.filter(conversation=group).count() == LIMIT
