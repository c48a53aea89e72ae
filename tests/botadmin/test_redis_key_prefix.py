"""Two installations in one Redis database, each with its BOTADMIN_REDIS_KEY_PREFIX: neither
sees the other's tasks or cache keys. Each installation is a process of its own, started
with the settings it would run with (the broker and the cache on the same Redis database)."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

BROKER_URL = settings.CELERY_BROKER_URL
pytestmark = pytest.mark.skipif(
    not BROKER_URL.startswith(("redis://", "rediss://")),
    reason="needs a Redis: CELERY_BROKER_URL=redis://… (the cache is put in the same database)",
)

# One installation, told what to do line by line on its input: "publish" a task and a cache
# key, "look" at what it sees of both, "clean" what it left; it answers each in a line.
INSTALLATION = """
import json, sys, django
django.setup()
from django.core.cache import cache
from botadmin.celery import app

queue, mark = sys.argv[1:]
with app.connection_for_write() as connection:
    channel = connection.default_channel
    for action in sys.stdin:
        action = action.strip()
        if action == "publish":
            app.send_task("redis-key-prefix-probe", args=[mark], queue=queue)
            cache.set(queue, mark, timeout=60)
        elif action == "clean":
            channel.queue_purge(queue)
            # The queue's bindings too: its declaration by the task's publisher made them.
            channel.client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            cache.delete(queue)
            break
        waiting = channel.queue_declare(queue=queue).message_count
        message = channel.basic_get(queue) if waiting else None
        if message is not None:
            message.requeue()
        args = message.decode()[0] if message is not None else None
        print(json.dumps({"waiting": waiting, "task_args": args, "cached": cache.get(queue)}))
        sys.stdout.flush()
"""


class Installation:
    def __init__(self, prefix: str, queue: str):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "botadmin.settings",
            "CELERY_BROKER_URL": BROKER_URL,
            "CACHE_URL": BROKER_URL,
            "BOTADMIN_REDIS_KEY_PREFIX": prefix,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", INSTALLATION, queue, f"from {prefix or 'none'}"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def do(self, action: str) -> dict | None:
        self.process.stdin.write(action + "\n")
        self.process.stdin.flush()
        if action == "clean":
            self.process.stdin.close()
            assert self.process.wait(timeout=60) == 0
            return None
        line = self.process.stdout.readline()
        assert line, f"the installation stopped ({self.process.wait(timeout=60)})"
        return json.loads(line)


def test_two_prefixes_in_one_redis_database_see_only_their_own_tasks_and_cache():
    queue = f"prefix-probe-{uuid.uuid4().hex[:8]}"
    a, b = f"a{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
    installations = {a: Installation(a, queue), b: Installation(b, queue)}
    unprefixed = Installation("", queue)
    try:
        installations[a].do("publish")
        installations[b].do("publish")

        seen_by_a = installations[a].do("look")
        seen_by_b = installations[b].do("look")
        seen_without_prefix = unprefixed.do("look")
    finally:
        for installation in (*installations.values(), unprefixed):
            installation.do("clean")

    assert seen_by_a == {"waiting": 1, "task_args": [f"from {a}"], "cached": f"from {a}"}
    assert seen_by_b == {"waiting": 1, "task_args": [f"from {b}"], "cached": f"from {b}"}
    assert seen_without_prefix == {"waiting": 0, "task_args": None, "cached": None}
