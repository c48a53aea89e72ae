"""How long a send waits while forwarding is busy: from /api/send's answer until `sent`.

    .venv/bin/python bench/send_beside_forwarding.py [--callbacks 2000] [--rate 50] [--sends 10]

The web server, the Celery workers and beat run as `make run` starts them (the
Procfile's lines); a bridge agent (the demo agent) and two webhook receivers run
in this process. The bot has 3 webhook endpoints: one answers 200, two answer
500, so that each inbound message makes two deliveries that fail and are retried
5 s later, and again.

1. Quiet: --sends sends, one after the other, each timed from its answer until
   the status API (GET /api/messages/<msgid>, polled every 0.1 s) says `sent`.
2. Burst: --callbacks callbacks to /api/callback at --rate a second; meanwhile
   --sends sends spread over the burst, timed the same way.

Prints p50 and max of each, how far forwarding had got when the burst ended, when
the good endpoint had every message, and the forwarding task messages published by then
(received by the forwarder, as its log says, and still queued).
Without DATABASE_URL: a throw-away SQLite database and filesystem broker in
var/bench-send-beside-forwarding/ (`make run`'s defaults).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos import callback  # noqa: E402
from bench.harness import (  # noqa: E402
    prepare_django,
    start_server,
    start_workers_and_beat,
    stop_all,
    task_messages_waiting,
    tasks_received,
    worker_layout,
)
from devtools.receiver import Receiver  # noqa: E402

RUN = uuid.uuid4().hex[:8]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50, help="callbacks a second")
    parser.add_argument("--sends", type=int, default=10, help="sends in each phase")
    parser.add_argument("--port", type=int, default=8107)
    parser.add_argument("--timeout", type=float, default=300, help="a send's longest wait (s)")
    return parser.parse_args()


def setup_bot(agent, ok_url: str, failing_url: str, conversations: int):
    from conversations.models import Bot, Conversation
    from forwarding.models import WebhookEndpoint

    bot = Bot.objects.create(
        name=f"fairness-{RUN}",
        agent_url=agent.url,
        agent_token=agent.token,
        webhook_url=ok_url,  # the primary endpoint
        rate_limit_per_minute=100_000,
    )
    for n in (1, 2):
        WebhookEndpoint.objects.create(bot=bot, url=f"{failing_url}/{n}", description="failing")
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrOut{i}", name=f"out {i}")
        for i in range(conversations)
    )
    return bot


def timed_send(base: str, secret: str, conversation_id: str, timeout: float) -> float | None:
    """Seconds from /api/send's answer until the status API says `sent` (None: not in time)."""
    session = requests.Session()
    answer = session.post(
        base + "/api/send",
        params={"secret": secret, "conversation_id": conversation_id},
        json={"msgtype": "text", "text": {"content": f"operator reply {conversation_id}"}},
        timeout=30,
    ).json()
    accepted = time.monotonic()
    if answer.get("errcode") != 0:
        sys.exit(f"/api/send refused: {answer}")
    while time.monotonic() - accepted < timeout:
        status = session.get(
            f"{base}/api/messages/{answer['msgid']}", params={"secret": secret}, timeout=30
        ).json()["message"]["status"]
        if status == "sent":
            return time.monotonic() - accepted
        if status in ("failed", "uncertain"):
            sys.exit(f"a send ended {status}")
        time.sleep(0.1)
    return None


def post_callbacks(
    base: str, body: Callable[[int], dict], total: int, rate: float, threads: int = 4
) -> None:
    """`total` callbacks, the nth `body(n)`, at `rate` a second (each thread keeps its
    share of the pace)."""
    began = time.monotonic()

    def work(first: int) -> None:
        session = requests.Session()
        for n in range(first, total, threads):
            delay = began + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            answer = session.post(base + "/api/callback", json=body(n), timeout=30)
            if answer.json().get("errcode") != 0:
                sys.exit(f"/api/callback refused: {answer.text}")

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def summary(waits: list[float | None], timeout: float) -> str:
    done = [wait for wait in waits if wait is not None]
    late = len(waits) - len(done)
    text = f"p50 {statistics.median(done):.1f} s, max {max(done):.1f} s" if done else "none sent"
    return text + (f", {late} not sent within {timeout:.0f} s" if late else "")


def main() -> None:
    args = parse_args()
    env, folder = prepare_django(args.port, "bench-send-beside-forwarding")
    from connectors.demo_agent import DemoAgent
    from conversations.secrets import generate_agent_token
    from forwarding.models import WebhookDelivery

    print(worker_layout())
    base = f"http://127.0.0.1:{args.port}"
    sends = args.sends
    with (
        DemoAgent(token=generate_agent_token()) as agent,
        Receiver() as ok,
        Receiver() as failing,
    ):
        failing.respond(500)
        bot = setup_bot(agent, ok.url("/hook"), failing.url("/hook"), 2 * sends)
        secret = bot.secret
        server = start_server(env, base)
        processes = start_workers_and_beat(env, folder)
        try:
            # Ready: a first send goes through (the workers' start-up is not counted).
            if timed_send(base, secret, "wrOut0", 120) is None:
                sys.exit("the workers did not start")
            quiet = [timed_send(base, secret, f"wrOut{i}", args.timeout) for i in range(sends)]
            print(f"quiet: {sends} sends, one after the other: {summary(quiet, args.timeout)}")

            burst = threading.Thread(
                target=post_callbacks,
                args=(base, lambda n: callback(secret, f"{RUN}-in-{n}"), args.callbacks, args.rate),
            )
            seconds = args.callbacks / args.rate
            waits: list[float | None] = []
            senders = [
                threading.Thread(
                    target=lambda i=i: waits.append(
                        timed_send(base, secret, f"wrOut{sends + i}", args.timeout)
                    )
                )
                for i in range(sends)
            ]
            began = time.monotonic()
            burst.start()
            for i, sender in enumerate(senders):  # spread over the burst's second to last tenth
                time.sleep(max(0.0, began + seconds * (i + 1) / (sends + 1) - time.monotonic()))
                sender.start()
            burst.join()
            posted = time.monotonic() - began
            forwarded_then = len(ok.requests)
            for sender in senders:
                sender.join()
            print(
                f"burst: {args.callbacks} callbacks at {args.rate:.0f}/s in {posted:.1f} s, to 3 "
                f"endpoints (2 answer 500); {forwarded_then} delivered to the good one by then"
            )
            print(
                f"sends during the burst, from the answer until `sent`: "
                f"{summary(waits, args.timeout)}"
            )
            ok.wait_for(args.callbacks, timeout=args.timeout)
            print(
                f"forwarding: {len(ok.requests)} of {args.callbacks} at the good endpoint "
                f"{time.monotonic() - began - posted:.1f} s after the last callback; "
                f"{WebhookDelivery.objects.filter(message__bot=bot, retry_step__gt=0).count()} deliveries "
                f"to the failing ones waiting for their retries"
            )
            received = tasks_received(folder / "forwarder.log")
            print(
                f"forwarding task messages: {received.total()} received by the forwarder ("
                + ", ".join(f"{name} {n}" for name, n in received.most_common())
                + f"), {task_messages_waiting('forwarding')} still queued"
            )
        finally:
            stop_all(processes, server, timeout=30)


if __name__ == "__main__":
    main()
