"""Benchmark of the AI bot gateway: the fake long-connection server pushes messages to it.

    .venv/bin/python bench/aibot.py [--events 2000] [--rate 50] [--latency-events 500]

1. Starts gunicorn as `make run` does and posts N text events to /api/callback
   (the baseline: what an agent reporting the same messages achieves on the
   same database).
2. Starts `manage.py aibot_gateway` against the fake server of the tests
   (devtools/fake_wecom_aibot.py, a real WebSocket on 127.0.0.1), pushes N
   callbacks as fast as the socket takes them and measures stored messages
   per second (first push → last row's created_at). Target: ≥ 0.7 of the
   /api/callback rate.
3. With a Celery worker running, pushes M callbacks at `--rate` per second
   and measures, per message, frame sent → stored (created_at) and frame
   sent → forwarded (arrival at a local webhook receiver). Targets at
   50/s: p95 ≤ 200 ms stored, ≤ 1 s forwarded.

Runs on its own SQLite database in var/bench-aibot/ unless DATABASE_URL /
CACHE_URL / CELERY_BROKER_URL are set.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PYTHON, ROOT, manage, post_many, server_environment, start_server  # noqa: E402
from devtools.processes import celery_worker, stop_process_group  # noqa: E402
from devtools.receiver import Receiver  # noqa: E402

SETUP = """
import json
from conversations.models import Bot, Conversation
bot = Bot.objects.filter(name="bench-aibot").first() or Bot(name="bench-aibot", connector="wecom_aibot")
bot.connector_settings = {{"bot_id": "benchbot", "bot_secret": "bench-secret"}}
bot.webhook_url = "{webhook_url}"
bot.save()
agent = Bot.objects.filter(name="bench-agent").first() or Bot(name="bench-agent", agent_url="http://127.0.0.1:9")
agent.save()
print(json.dumps({{"bot": bot.pk, "agent_secret": agent.secret}}))
"""
RUN = uuid.uuid4().hex[:8]


class TimedReceiver(Receiver):
    """The webhook receiver, noting when each forwarded msgid arrived."""

    def __init__(self):
        super().__init__()
        self.arrived: dict[str, float] = {}

    def handle(self, request):
        try:
            self.arrived.setdefault(json.loads(request.body).get("msgid", ""), time.time())
        except ValueError:
            pass
        return super().handle(request)


def callback(secret: str, n: int) -> bytes:
    return json.dumps(
        {"secret": secret, "msgtype": "text", "conversation_id": "wrBench", "sender": "zhangsan",
         "text": {"content": "bench: 明天上午十点开会"}, "msgid": f"{RUN}-cb-{n}",
         "conversation_type": "group"},
        ensure_ascii=False,
    ).encode()  # fmt: skip


def frame_body(msgid: str) -> dict:
    return {
        "msgid": msgid,
        "chatid": "wrBench",
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "create_time": int(time.time()),
        "msgtype": "text",
        "text": {"content": "@助手 明天上午十点开会"},
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def stored_times(prefix: str) -> dict[str, float]:
    from messaging.models import Message

    rows = Message.objects.filter(upstream_msgid__startswith=prefix).values_list(
        "upstream_msgid", "created_at"
    )
    return {msgid: created.timestamp() for msgid, created in rows}


def wait_stored(prefix: str, count: int, timeout: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = stored_times(prefix)
        if len(times) >= count:
            return times
        time.sleep(0.2)
    sys.exit(f"only {len(stored_times(prefix))} of {count} stored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8107")))
    args = parser.parse_args()

    from devtools.fake_wecom_aibot import FakeAIBotServer

    env = server_environment(args.port, "bench-aibot")
    os.environ.update(env)  # this process reads the same database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    print(f"database: {env.get('DATABASE_URL', 'sqlite (var/bench-aibot)').split('@')[-1]}")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    with TimedReceiver() as receiver, FakeAIBotServer({"benchbot": "bench-secret"}) as fake:
        ids = json.loads(
            manage(env, "shell", "-c", SETUP.format(webhook_url=receiver.url("/hook")), capture=True)
            .splitlines()[-1]
        )  # fmt: skip
        base = f"http://127.0.0.1:{args.port}"
        server = start_server(env, base)
        try:
            post_many(
                f"{base}/api/callback",
                lambda n: callback(ids["agent_secret"], -n - 1),
                100,
                args.threads,
            )
            accepted, callback_rate, p50, p99 = post_many(
                f"{base}/api/callback", lambda n: callback(ids["agent_secret"], n), args.events, args.threads
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
        gateway_env = {**env, "WECOM_AIBOT_WS_URL": fake.url, "WECOM_AIBOT_POLL_SECONDS": "1"}
        gateway = subprocess.Popen(
            [PYTHON, "manage.py", "aibot_gateway"], cwd=ROOT, env=gateway_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        worker = None
        try:
            fake.wait_connected("benchbot", timeout=30)
            for n in range(50):  # warm up: connections, the conversation row
                fake.push_message("benchbot", frame_body(f"{RUN}-warm-{n}"))
            wait_stored(f"{RUN}-warm-", 50)

            began = time.time()
            for n in range(args.events):
                fake.push_message("benchbot", frame_body(f"{RUN}-burst-{n}"))
            times = wait_stored(f"{RUN}-burst-", args.events)
            gateway_rate = args.events / (max(times.values()) - began)

            worker = celery_worker(pool=None, concurrency=2, env=env)
            fake.push_message("benchbot", frame_body(f"{RUN}-fwarm"))
            deadline = time.monotonic() + 60
            while f"{RUN}-fwarm" not in receiver.arrived and time.monotonic() < deadline:
                time.sleep(0.1)
            sent: dict[str, float] = {}
            interval = 1 / args.rate
            start = time.monotonic()
            for n in range(args.latency_events):
                time.sleep(max(0.0, start + n * interval - time.monotonic()))
                msgid = f"{RUN}-paced-{n}"
                sent[msgid] = time.time()
                fake.push_message("benchbot", frame_body(msgid))
            stored = wait_stored(f"{RUN}-paced-", args.latency_events)
            deadline = time.monotonic() + 120
            while len([m for m in sent if m in receiver.arrived]) < len(sent):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            if worker is not None:
                stop_process_group(worker, timeout=30)
            stop_process_group(gateway, timeout=30)
    to_stored = [(stored[m] - sent[m]) * 1000 for m in sent]
    to_forwarded = [(receiver.arrived[m] - sent[m]) * 1000 for m in sent if m in receiver.arrived]
    print(
        f"/api/callback: {accepted}/{args.events} accepted, {callback_rate:.0f}/s "
        f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms, {args.threads} client threads)"
    )
    print(
        f"gateway: {args.events} pushed callbacks stored at {gateway_rate:.0f}/s; "
        f"ratio to /api/callback {gateway_rate / callback_rate:.2f} (aim ≥ 0.70)"
    )
    print(f"at {args.rate:g}/s, {args.latency_events} callbacks: frame → stored "
          f"p50 {statistics.median(to_stored):.0f} ms, p95 {percentile(to_stored, 0.95):.0f} ms "
          f"(aim ≤ 200); frame → forwarded ({len(to_forwarded)} arrived) "
          f"p50 {statistics.median(to_forwarded):.0f} ms, p95 {percentile(to_forwarded, 0.95):.0f} ms "
          f"(aim ≤ 1000)")  # fmt: skip


if __name__ == "__main__":
    main()
