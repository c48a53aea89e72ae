"""How long a send waits while inbound media are fetched from a slow source: from
/api/send's answer until `sent`.

    .venv/bin/python bench/send_beside_media.py [--images 500] [--rate 20] [--sends 10]
        [--media-seconds 2-5] [--hang 0] [--texts 10] [--backlog-seconds 60]
        [--procfile Procfile]

The web server, the Celery workers and beat run as `make run` starts them (the
Procfile's lines, or those of --procfile to compare another layout); a bridge agent
and a webhook receiver run in this process. The agent answers sends at once and
`POST /media` (the bytes of a received image) after --media-seconds (uniform), or,
for the --hang share of them, not before the bridge's read timeout (the fetch fails
and is retried later), as WeCom's media endpoint on a bad day.

1. Quiet: --sends sends, one after the other, each timed from its answer until
   the status API (GET /api/messages/<msgid>, polled every 0.1 s) says `sent`.
2. Burst: --images inbound image messages of one busy group posted to
   /api/callback at --rate a second; meanwhile --sends sends spread over the burst,
   timed the same way, and --texts inbound text messages, each timed from the
   callback's answer until the webhook receiver has it (forwarding).
3. Backlog: once those are done, as many sends and texts spread over
   --backlog-seconds, while the images are still being fetched.

Prints p50, p95 and max of each, and how far the fetching had got by the end (the
bench does not wait for the rest). Without DATABASE_URL: a throw-away SQLite database and filesystem
broker in var/bench-send-beside-media/ (`make run`'s defaults).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import uuid
from functools import partial
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    PROCFILE,
    prepare_django,
    start_server,
    start_workers_and_beat,
    stop_all,
    worker_layout,
)
from bench.send_beside_forwarding import post_callbacks, timed_send  # noqa: E402
from botadmin.local_http import Answer, LocalServer, Request  # noqa: E402

RUN = uuid.uuid4().hex[:8]
GROUP = "wrBusyGroup"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20, help="image callbacks a second")
    parser.add_argument("--sends", type=int, default=10, help="sends in each phase")
    parser.add_argument("--texts", type=int, default=10, help="inbound texts during the burst")
    parser.add_argument(
        "--media-seconds", default="2-5", help="how long /media takes: LOW-HIGH, uniform"
    )
    parser.add_argument(
        "--hang", type=float, default=0.0, help="share of /media answers held past the timeout"
    )
    parser.add_argument(
        "--backlog-seconds", type=float, default=60,
        help="then as many sends and texts over this many seconds, while the fetches drain",
    )  # fmt: skip
    parser.add_argument("--procfile", type=Path, default=PROCFILE)
    parser.add_argument("--port", type=int, default=8108)
    parser.add_argument("--timeout", type=float, default=1500, help="a send's longest wait (s)")
    return parser.parse_args()


def slow_media_agent(low: float, high: float, hang: float, hang_seconds: float):
    """The demo agent, whose /media answers late (sends stay quick)."""
    from connectors.demo_agent import DemoAgent

    chance = random.Random(RUN)

    class SlowMediaAgent(DemoAgent):
        def _answer_media(self, body: dict) -> Answer:
            held = hang_seconds if chance.random() < hang else chance.uniform(low, high)
            time.sleep(held)
            return super()._answer_media(body)

    return SlowMediaAgent


class ForwardingReceiver(LocalServer):
    """A webhook receiver noting when each msgid first arrived."""

    keep_alive = False

    def __init__(self):
        super().__init__()
        self.arrived: dict[str, float] = {}

    def handle(self, request: Request) -> Answer:
        try:
            msgid = str(json.loads(request.body).get("msgid", ""))
        except ValueError:
            msgid = ""
        self.arrived.setdefault(msgid, time.monotonic())
        return Answer(200, b"ok")


def setup_bot(agent, webhook_url: str, conversations: int):
    from conversations.models import Bot, Conversation

    bot = Bot.objects.create(
        name=f"media-burst-{RUN}",
        agent_url=agent.url,
        agent_token=agent.token,
        webhook_url=webhook_url,
        rate_limit_per_minute=100_000,
    )
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrOut{i}", name=f"out {i}")
        for i in range(conversations)
    )
    return bot


def inbound(secret: str, msgid: str, msgtype: str, n: int) -> dict:
    body = {
        "secret": secret,
        "msgtype": msgtype,
        "conversation_id": GROUP,
        "conversation_type": "group",
        "conversation_name": "Busy group",
        "sender": "zhangsan",
        "sender_name": "张三",
        "msgid": msgid,
        "timestamp": int(time.time()),
    }
    if msgtype == "image":
        body["image"] = {"cdn_type": "wecom_cdn", "cdn": f"demo/images/{n}.jpg"}
    else:
        body["text"] = {"content": f"text during the burst {n}"}
    return body


def image_callback(secret: str, n: int) -> dict:
    return inbound(secret, f"{RUN}-image-{n}", "image", n)


def timed_forward(
    base: str, secret: str, n: int, receiver: ForwardingReceiver, timeout: float
) -> float | None:
    """Seconds from a text callback's answer until the receiver has it (None: not in time)."""
    msgid = f"{RUN}-text-{n}"
    answer = requests.post(
        base + "/api/callback", json=inbound(secret, msgid, "text", n), timeout=30
    ).json()
    posted = time.monotonic()
    if answer.get("errcode") != 0:
        sys.exit(f"/api/callback refused: {answer}")
    while time.monotonic() - posted < timeout:
        if msgid in receiver.arrived:
            return receiver.arrived[msgid] - posted
        time.sleep(0.05)
    return None


class Timings:
    """Sends and inbound texts started at moments spread over a window, each timed on a
    thread of its own (a send as `timed_send`, a text as `timed_forward`)."""

    def __init__(self, base, secret, receiver, timeout: float, first: int):
        self.base, self.secret, self.receiver, self.timeout = base, secret, receiver, timeout
        self.first = first  # the first conversation (and text) number of this phase
        self.sends: list[float | None] = []
        self.texts: list[float | None] = []
        self.threads: list[threading.Thread] = []

    def spread(self, sends: int, texts: int, start: float, seconds: float) -> None:
        """Start them one by one over `seconds` from `start` (in a shuffled order)."""
        self.threads = [
            threading.Thread(target=self._send, args=(self.first + i,)) for i in range(sends)
        ] + [threading.Thread(target=self._text, args=(self.first + n,)) for n in range(texts)]
        random.Random(f"{RUN}-{self.first}").shuffle(self.threads)
        for i, thread in enumerate(self.threads):
            moment = start + seconds * (i + 1) / (len(self.threads) + 1)
            time.sleep(max(0.0, moment - time.monotonic()))
            thread.start()

    def _send(self, n: int) -> None:
        self.sends.append(timed_send(self.base, self.secret, f"wrOut{n}", self.timeout))

    def _text(self, n: int) -> None:
        self.texts.append(timed_forward(self.base, self.secret, n, self.receiver, self.timeout))

    def report(self, when: str, sends: int, texts: int) -> None:
        for thread in self.threads:
            thread.join()
        print(
            f"{sends} sends {when}, from the answer until `sent`: "
            f"{summary(self.sends, self.timeout)}"
        )
        if texts:
            print(
                f"{texts} texts received {when}, from the callback's answer until the webhook "
                f"has it: {summary(self.texts, self.timeout)}"
            )


def summary(waits: list[float | None], timeout: float) -> str:
    done = sorted(wait for wait in waits if wait is not None)
    late = len(waits) - len(done)
    if not done:
        text = "none in time"
    else:
        p95 = done[min(len(done) - 1, round(0.95 * (len(done) - 1)))]
        text = f"p50 {statistics.median(done):.1f} s, p95 {p95:.1f} s, max {done[-1]:.1f} s"
    return text + (f", {late} not within {timeout:.0f} s" if late else "")


def main() -> None:
    args = parse_args()
    low, high = (float(s) for s in args.media_seconds.split("-"))
    env, folder = prepare_django(args.port, "bench-send-beside-media")
    from django.conf import settings

    from conversations.secrets import generate_agent_token
    from messaging.models import MessageMedia

    hang_seconds = settings.BRIDGE_READ_TIMEOUT + 1
    print(worker_layout(args.procfile))
    print(
        f"the agent's /media answers after {low:g}-{high:g} s"
        + (f", {args.hang:.0%} of them after {hang_seconds:g} s (timed out)" if args.hang else "")
    )
    base = f"http://127.0.0.1:{args.port}"
    sends = args.sends
    agent_class = slow_media_agent(low, high, args.hang, hang_seconds)
    with agent_class(token=generate_agent_token()) as agent, ForwardingReceiver() as receiver:
        bot = setup_bot(agent, receiver.url("/hook"), 3 * sends)
        secret = bot.secret
        server = start_server(env, base)
        processes = start_workers_and_beat(env, folder, args.procfile)
        try:
            # Ready: a first send goes through (the workers' start-up is not counted).
            if timed_send(base, secret, "wrOut0", 120) is None:
                sys.exit("the workers did not start")
            quiet = [timed_send(base, secret, f"wrOut{i}", args.timeout) for i in range(sends)]
            print(f"quiet: {sends} sends, one after the other: {summary(quiet, args.timeout)}")

            media = MessageMedia.objects.filter(message__bot=bot)
            seconds = args.images / args.rate
            image = partial(image_callback, secret)
            burst = threading.Thread(
                target=post_callbacks, args=(base, image, args.images, args.rate)
            )
            began = time.monotonic()
            burst.start()
            during = Timings(base, secret, receiver, args.timeout, first=sends)
            during.spread(sends, args.texts, began, seconds)
            burst.join()
            posted = time.monotonic() - began
            print(
                f"burst: {args.images} image callbacks at {args.rate:g}/s in {posted:.1f} s; "
                f"{media.filter(status=MessageMedia.Status.STORED).count()} images stored by then"
            )
            during.report("during the burst", sends, args.texts)
            # Each send wakes a worker; one woken drains every send due. Those accepted once
            # the burst's are out wait for their own wake-ups, behind the fetches queued.
            after = Timings(base, secret, receiver, args.timeout, first=2 * sends)
            after.spread(sends, args.texts, time.monotonic(), args.backlog_seconds)
            after.report(
                f"over the next {args.backlog_seconds:g} s (the fetches draining)",
                sends,
                args.texts,
            )
            stored = media.filter(status=MessageMedia.Status.STORED).count()
            pending = media.filter(status=MessageMedia.Status.PENDING).count()
            print(
                f"media {time.monotonic() - began:.0f} s after the burst began: {stored} stored, "
                f"{pending} pending, {len(agent.media_requests)} asked of the agent"
            )
        finally:
            stop_all(processes, server, timeout=0)


if __name__ == "__main__":
    main()
