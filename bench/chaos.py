"""Fault tolerance under load: nothing lost, nothing twice in a chat, while processes die.

    .venv/bin/python bench/chaos.py [-n 5000] [--inbound 2000] [--conversations 50] [--seed 1]

The web server (gunicorn), a Celery worker and beat run as `make run` starts
them (Procfile). A bridge agent (the demo agent, which shows each message id
once in its chat however often it is posted) and a webhook receiver run in
this process. N messages go to /api/send for 50 conversations and M inbound
messages to /api/callback (forwarded to the receiver), from client threads
that retry with the same Idempotency-Key / msgid until accepted. Meanwhile, at
random moments spread over the run (each when a random share of the messages
was accepted): the worker is SIGKILLed 5 times (its whole process group,
restarted after a moment), a pool child 5 times (nothing restarted; the
threads pool of the filesystem broker has none), the broker restarted once
(Redis mode: a private redis-server of this bench, so no shared one is
touched; it keeps nothing across the restart) and the web server once.

Prints accepted, sent, failed, uncertain, seen by the agent (unique, total),
forwarded (unique webhook-ids, total) and how long after the last accept
everything was done. Required: every accepted message ends `sent`, each id
once in the chat, every inbound message at the receiver under one webhook-id.

Without DATABASE_URL: a throw-away SQLite database and filesystem broker in
var/bench-chaos/. With DATABASE_URL (PostgreSQL): the broker is the private
redis-server; CACHE_URL as set. The delivery sweep runs every 5 s and a send
lease is 10 s here (DELIVERY_SWEEP_INTERVAL, DELIVERY_SENDING_TIMEOUT).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import server_environment  # noqa: E402
from devtools.receiver import Receiver  # noqa: E402

PYTHON = str(ROOT / ".venv/bin/python")
SWEEP_INTERVAL = 5
SENDING_TIMEOUT = 10
FINAL = ("sent", "failed", "uncertain")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("--inbound", type=int, help="inbound messages (default: 2/5 of -n)")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--threads", type=int, default=4, help="client threads per endpoint")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=900, help="give up after (s)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """web, worker, beat (and the private redis-server) as `make run` starts them."""

    def __init__(self, env: dict, folder: Path, redis_port: int | None):
        self.env, self.folder, self.redis_port = env, folder, redis_port
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.running: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}
        self.lock = threading.RLock()  # a kill and its restart, against the supervisor

    def start(self, name: str) -> None:
        commands = {
            "redis": ["redis-server", "--port", str(self.redis_port), "--save", "",
                      "--appendonly", "no", "--bind", "127.0.0.1"],
            "web": [str(ROOT / ".venv/bin/gunicorn"), "-c", "botadmin/gunicorn_conf.py",
                    "botadmin.wsgi"],
            "worker": [str(ROOT / ".venv/bin/celery"), "-A", "botadmin", "worker",
                       "--loglevel=INFO", "--concurrency=2"],
            "beat": [str(ROOT / ".venv/bin/celery"), "-A", "botadmin", "beat",
                     "--loglevel=WARNING", f"--schedule={self.folder / 'celerybeat-schedule'}"],
        }  # fmt: skip
        self.starts[name] = self.starts.get(name, 0) + 1
        with open(self.folder / f"{name}-{self.starts[name]}.log", "wb") as log:
            self.running[name] = subprocess.Popen(
                commands[name],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if name == "web":
            self.wait_for_web()

    def wait_for_web(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/healthz", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        sys.exit("gunicorn did not start")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.running[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def wait_until_ready(self, name: str, timeout: float = 60) -> None:
        """Until the process logged that it is ready (Celery's "ready." line)."""
        log = self.folder / f"{name}-{self.starts[name]}.log"
        deadline = time.monotonic() + timeout
        while b" ready." not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.2)

    def supervise(self, stop: threading.Event, log: list) -> None:
        """A worker that exits by itself is started again, as systemd's Restart=on-failure
        does (`make run`'s honcho would stop everything instead): reported, not hidden."""
        while not stop.wait(0.5):
            with self.lock:
                code = self.running["worker"].poll()
                if code is not None:
                    log.append((time.monotonic(), f"WORKER EXITED BY ITSELF (code {code})"))
                    self.start("worker")

    def pool_children(self) -> list[int]:
        pid = self.running["worker"].pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop_all(self) -> None:
        for name in ("web", "worker", "beat", "redis"):
            if name in self.running and self.running[name].poll() is None:
                os.killpg(self.running[name].pid, signal.SIGTERM)
                try:
                    self.running[name].wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.running[name].pid, signal.SIGKILL)


class Pusher:
    """Posts bodies from threads, each until accepted (a restarted server is retried)."""

    def __init__(self, url: str, bodies: list[tuple[dict, dict, dict]], threads: int):
        self.url, self.bodies, self.threads = url, bodies, threads
        self.accepted: dict[int, dict] = {}
        self.retries = 0
        self.last_accept = 0.0
        self._next = iter(range(len(bodies)))
        self._lock = threading.Lock()

    def run(self) -> None:
        workers = [threading.Thread(target=self._work) for _ in range(self.threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

    def _work(self) -> None:
        session = requests.Session()
        while True:
            with self._lock:
                index = next(self._next, None)
            if index is None:
                return
            params, headers, body = self.bodies[index]
            while True:
                try:
                    answer = session.post(
                        self.url, params=params, headers=headers, json=body, timeout=30
                    )
                    if answer.status_code == 200 and answer.json().get("errcode") == 0:
                        break
                except (requests.RequestException, ValueError):
                    session = requests.Session()
                with self._lock:
                    self.retries += 1
                time.sleep(0.2)
            with self._lock:
                self.accepted[index] = answer.json()
                self.last_accept = time.monotonic()


def configure(args) -> tuple[dict, Path, int | None]:
    redis_port = None
    extra = {
        "DELIVERY_SWEEP_INTERVAL": str(SWEEP_INTERVAL),
        "DELIVERY_SENDING_TIMEOUT": str(SENDING_TIMEOUT),
        "DELIVERY_CONVERSATION_MIN_GAP": "0",
        "BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }
    if os.environ.get("DATABASE_URL"):
        redis_port = free_port()
        extra["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env = server_environment(free_port(), "bench-chaos", **extra)
    env.pop("BOTADMIN_BENCH_VIEWS", None)
    folder = Path(env.get("BOTADMIN_VAR_DIR", ROOT / "var" / "bench-chaos"))
    folder.mkdir(parents=True, exist_ok=True)
    return env, folder, redis_port


def setup_bot(agent_url: str, agent_token: str, webhook_url: str, conversations: int) -> str:
    from conversations.models import Bot, Conversation

    bot = Bot.objects.create(
        name=f"chaos-{uuid.uuid4().hex[:8]}",
        agent_url=agent_url,
        agent_token=agent_token,
        webhook_url=webhook_url,
        rate_limit_per_minute=10_000_000,
    )
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrChaos{i}", name=f"chaos {i}")
        for i in range(conversations)
    )
    return bot.secret


def chaos(
    processes: Processes, pool: str, progress: Callable[[], float], rng: random.Random, log: list
) -> None:
    """The faults, in random order at random moments while the messages go in: each when
    a random share of them (2–98 %) was accepted, so they spread over the whole run."""
    faults = ["worker"] * 5 + ["child"] * 5 + ["web"]
    if processes.redis_port:
        faults.append("broker")
    rng.shuffle(faults)
    shares = sorted(rng.uniform(0.02, 0.98) for _ in faults)
    for fault, share in zip(faults, shares, strict=True):
        while progress() < share:
            time.sleep(0.1)
        at = time.monotonic()
        if fault == "worker":
            with processes.lock:
                processes.kill("worker")
                time.sleep(rng.uniform(0, 1))
                processes.start("worker")
        elif fault == "child":
            if pool == "prefork":
                # A child killed before the worker is ready makes Celery give up
                # ("Could not start worker processes"; systemd starts it again):
                # the OOM killer picks processes that have been working.
                processes.wait_until_ready("worker")
                time.sleep(1)
            children = processes.pool_children()
            if not children:
                log.append((at, f"no pool child to kill ({pool} pool)"))
                continue
            os.kill(rng.choice(children), signal.SIGKILL)
        elif fault == "web":
            processes.kill("web", signal.SIGTERM)
            processes.start("web")
        elif fault == "broker":
            processes.kill("redis")
            processes.start("redis")
        log.append((at, fault))


def main() -> None:
    args = parse_args()
    inbound_n = args.inbound if args.inbound is not None else args.messages * 2 // 5
    rng = random.Random(args.seed)
    env, folder, redis_port = configure(args)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from connectors.demo_agent import DemoAgent
    from conversations.secrets import generate_agent_token
    from messaging.models import Message

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    run = uuid.uuid4().hex[:8]
    print(
        f"botadmin chaos: {args.messages} messages to {args.conversations} conversations, "
        f"{inbound_n} inbound; database "
        f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, broker "
        f"{settings.CELERY_BROKER_URL.split(':', 1)[0]} (pool {settings.CELERY_WORKER_POOL}), "
        f"sweep {SWEEP_INTERVAL} s, send lease {SENDING_TIMEOUT} s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    processes = Processes(env, folder, redis_port)
    fault_log: list = []
    with DemoAgent(token=generate_agent_token()) as agent, Receiver() as receiver:
        secret = setup_bot(agent.url, agent.token, receiver.url("/hook"), args.conversations)
        stop = threading.Event()
        supervisor = threading.Thread(target=processes.supervise, args=(stop, fault_log))
        try:
            for name in (["redis"] if redis_port else []) + ["web", "worker", "beat"]:
                processes.start(name)
            outbound = Pusher(
                processes.base + "/api/send",
                [
                    (
                        {"secret": secret, "conversation_id": f"wrChaos{i % args.conversations}"},
                        {"Idempotency-Key": f"{run}-out-{i}"},
                        {"msgtype": "text", "text": {"content": f"chaos {run} {i}"}},
                    )
                    for i in range(args.messages)
                ],
                args.threads,
            )
            inbound = Pusher(
                processes.base + "/api/callback",
                [({}, {}, callback(secret, f"{run}-in-{i}")) for i in range(inbound_n)],
                args.threads,
            )

            def progress() -> float:
                done = len(outbound.accepted) + len(inbound.accepted)
                return done / (len(outbound.bodies) + len(inbound.bodies))

            faults = threading.Thread(
                target=chaos,
                args=(processes, settings.CELERY_WORKER_POOL, progress, rng, fault_log),
            )
            began = time.monotonic()
            supervisor.start()
            faults.start()
            pushers = [threading.Thread(target=p.run) for p in (outbound, inbound)]
            for thread in pushers:
                thread.start()
            for thread in pushers:
                thread.join()
            faults.join()
            last_accept = max(outbound.last_accept, inbound.last_accept)
            accepted_ids = {answer["msgid"] for answer in outbound.accepted.values()}
            done = wait_until_done(
                accepted_ids, inbound_n, run, receiver, agent, last_accept, args.timeout
            )
            report(
                outbound, inbound, accepted_ids, agent, receiver, run, Message,
                began, last_accept, done, fault_log, processes,
            )  # fmt: skip
        finally:
            stop.set()
            if supervisor.is_alive():
                supervisor.join()
            processes.stop_all()


def callback(secret: str, msgid: str) -> dict:
    return {
        "secret": secret,
        "msgtype": "text",
        "conversation_id": "wrChaosInbound",
        "sender": "zhangsan",
        "text": {"content": f"chaos inbound {msgid}"},
        "msgid": msgid,
        "timestamp": int(time.time()),
        "conversation_type": "group",
        "conversation_name": "Chaos inbound",
        "sender_name": "张三",
    }


def forwarded(receiver) -> list[tuple[str, str]]:
    """(msgid, webhook-id) of every post the receiver got (the body carries the msgid)."""
    posts = []
    for request in list(receiver.requests):
        try:
            msgid = str(json.loads(request.body).get("msgid", ""))
        except (ValueError, AttributeError):
            msgid = ""
        posts.append((msgid, request.headers.get("webhook-id", "")))
    return posts


def webhook_ids_by_msgid(posts, msgids: set[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for msgid, webhook_id in posts:
        if msgid in msgids:
            seen.setdefault(msgid, set()).add(webhook_id)
    return seen


def wait_until_done(accepted_ids, inbound_n, run, receiver, agent, last_accept, timeout) -> float:
    """Seconds after the last accept until every message is final and every inbound forwarded
    (None: not within `timeout`)."""
    from messaging.models import Message

    deadline = last_accept + timeout
    while time.monotonic() < deadline:
        final = Message.objects.filter(msgid__in=accepted_ids, status__in=FINAL).count()
        arrived = {m for m, _ in forwarded(receiver) if m.startswith(f"{run}-in-")}
        if final == len(accepted_ids) and len(arrived) >= inbound_n:
            return time.monotonic() - last_accept
        time.sleep(0.5)
    return None


def report(outbound, inbound, accepted_ids, agent, receiver, run, Message, began, last_accept,
           done, fault_log, processes) -> None:  # fmt: skip
    statuses = dict.fromkeys(FINAL, 0)
    for status in Message.objects.filter(msgid__in=accepted_ids).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    ours = [body for body in list(agent.send_requests) if body.get("id") in accepted_ids]
    chat = [msgid for msgid in agent.sent if msgid in accepted_ids]
    inbound_ids = {f"{run}-in-{i}" for i in inbound.accepted}
    posts = [(msgid, wid) for msgid, wid in forwarded(receiver) if msgid in inbound_ids]
    by_msgid = webhook_ids_by_msgid(posts, inbound_ids)
    webhook_ids = {wid for ids in by_msgid.values() for wid in ids}
    forward_total = len(posts)
    lost = len(accepted_ids) - len(chat)
    not_forwarded = len(inbound_ids - set(by_msgid))
    two_ids = sum(1 for ids in by_msgid.values() if len(ids) > 1)
    print(
        "  faults (s after the start): "
        + ", ".join(f"{k} {t - began:.1f}" for t, k in sorted(fault_log))
    )
    print(f"  processes started: {processes.starts}")
    print(
        f"  accepted   {len(accepted_ids)} of {len(outbound.bodies)} sends "
        f"({outbound.retries} client retries), {len(inbound.accepted)} of "
        f"{len(inbound.bodies)} callbacks ({inbound.retries} retries), "
        f"last accept {last_accept - began:.1f} s after the start"
    )
    print(
        f"  outbound   sent {statuses['sent']}, failed {statuses['failed']}, "
        f"uncertain {statuses['uncertain']}, other {len(accepted_ids) - sum(statuses.values())}"
    )
    print(f"  agent      saw {len(chat)} unique ids in the chat, {len(ours)} posts in total")
    print(
        f"  forwarded  {len(webhook_ids)} unique webhook-ids, {forward_total} posts in total; "
        f"{not_forwarded} inbound never arrived, {two_ids} under more than one webhook-id"
    )
    last_fault = max(t for t, _ in fault_log) - last_accept
    # The agent's longest pause after the last fault: a stall, if work was still waiting.
    wall = time.time() - time.monotonic()
    marks = [last_accept + last_fault + wall] + sorted(
        message.at for msgid, message in list(agent.sent.items()) if msgid in accepted_ids
    )
    marks = [mark for mark in marks if mark >= marks[0]]
    pause = max((b - a for a, b in zip(marks, marks[1:], strict=False)), default=0.0)
    # The target: after the last fault, everything (forwarding too) done within 2 sweep
    # intervals of the agent going idle (its last send, or the last fault if later).
    after_idle = (last_accept + (done or 0.0) + wall) - marks[-1]
    print(
        "  done       "
        + (
            f"{done:.1f} s after the last accept, {done - last_fault:.1f} s after the last "
            f"fault; the agent's longest pause after it {pause:.1f} s, everything done "
            f"{max(after_idle, 0.0):.1f} s after the agent went idle "
            f"(2 sweep intervals: {2 * SWEEP_INTERVAL} s)"
            if done is not None
            else "NOT within the timeout"
        )
    )
    ok = (
        lost == 0
        and statuses["sent"] == len(accepted_ids)
        and not_forwarded == 0
        and two_ids == 0
        and len(accepted_ids) == len(outbound.bodies)
        and len(inbound.accepted) == len(inbound.bodies)
    )
    exits = sum(1 for _, kind in fault_log if kind.startswith("WORKER EXITED"))
    print(
        f"  result     {'OK: nothing lost, nothing twice' if ok else 'FAILED'} (lost {lost}); "
        f"the worker exited by itself {exits} times"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
