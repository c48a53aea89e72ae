"""Benchmark of the media archive: inbound images fetched from a bridge agent and stored.

    .venv/bin/python bench/media.py [--images 1000] [--same 10000]

1. N images (JPEG, 50 KB–2 MB, log-uniform) served by the demo agent's
   `POST /media` on 127.0.0.1. A plain loop asks the agent for each and writes
   the bytes to the same storage (the floor); then N inbound image messages are
   recorded and the archive's worker body (`messaging.media_fetch.fetch_many`,
   one task after another as one worker slot does, or in `--slots` threads as a
   worker's --concurrency) fetches, checks and stores each. A burst's wake-ups
   are merged, so a task claims tasks.FETCHES_PER_TASK ids together; `--per-task
   1` measures one image per task instead. Prints images/s and MB/s of both and
   the ratio (aim ≥ 0.5).
2. The same image received in `--same` conversations: fetched for each
   message, stored as one file (checked).

Runs in-process on its own SQLite database and media folder in var/bench-media/
unless DATABASE_URL / BOTADMIN_MEDIA_* are set (an S3 bucket works too).
"""

import argparse
import hashlib
import io
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = ROOT / "var" / "bench-media"


def setup_django() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    if "DATABASE_URL" not in os.environ:  # a fresh database each run
        for leftover in VAR.glob("bench.sqlite3*"):
            leftover.unlink()
        os.environ["DATABASE_URL"] = f"sqlite:///{VAR / 'bench.sqlite3'}"
    if not os.environ.get("BOTADMIN_MEDIA_S3_BUCKET"):
        store = VAR / "store"
        shutil.rmtree(store, ignore_errors=True)
        os.environ.setdefault("BOTADMIN_MEDIA_DIR", str(store))
    os.environ.setdefault("BOTADMIN_ALLOW_PRIVATE_URLS", "1")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_images(n: int, seed: int = 7) -> list[bytes]:
    """JPEGs of noise (they do not compress) between 50 KB and 2 MB."""
    from PIL import Image

    rng = random.Random(seed)
    images = []
    for _ in range(n):
        target = math.exp(rng.uniform(math.log(50_000), math.log(2_000_000)))
        side = int(math.sqrt(target / 1.2))  # noise at quality 90: ~1.2 bytes a pixel
        noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=90)
        images.append(out.getvalue())
    return images


def plain_loop(agent, images: list[bytes]) -> float:
    """Ask the agent for each image and write it to the storage: seconds."""
    import requests
    from django.core.files.base import ContentFile

    from media.store import media_storage

    storage = media_storage()
    session = requests.Session()
    started = time.perf_counter()
    for n, _image in enumerate(images):
        answer = session.post(
            agent.url + "/media",
            json={"msgid": f"p{n}", "conversation_id": "c", "msgtype": "image",
                  "cdn_type": "bench", "cdn": f"img/{n}"},
            headers={"Authorization": f"Bearer {agent.token}"},
            timeout=30,
        )  # fmt: skip
        content = answer.content
        storage.save(f"plain/{hashlib.sha256(content).hexdigest()}.jpg", ContentFile(content))
    return time.perf_counter() - started


def record(bot, count: int, cdn_of, run: str) -> list[int]:
    import json

    from messaging.inbound import parse_callback, record_inbound

    for n in range(count):
        body = {
            "secret": bot.secret, "msgtype": "image", "conversation_id": f"wrBench{n % 500}",
            "sender": "zhangsan", "msgid": f"{run}-{n}",
            "image": {"cdn_type": "bench", "cdn": cdn_of(n)},
        }  # fmt: skip
        record_inbound(bot, parse_callback(json.dumps(body).encode()))
    from messaging.media_fetch import due_media

    return due_media(limit=count + 1)


def archive_loop(ids: list[int], slots: int = 1, per_task: int = 1) -> tuple[float, list]:
    """The worker body over `ids`, `per_task` at a time, in `slots` threads (a worker's
    --concurrency)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from messaging.media_fetch import fetch_many

    def run(part: list[int]) -> list:
        try:
            return [
                outcome
                for start in range(0, len(part), per_task)
                for outcome in fetch_many(part[start : start + per_task])
            ]
        finally:
            if slots > 1:
                connection.close()

    started = time.perf_counter()
    if slots == 1:
        outcomes = run(ids)
    else:
        with ThreadPoolExecutor(slots) as pool:
            outcomes = [
                o for part in pool.map(run, [ids[i::slots] for i in range(slots)]) for o in part
            ]
    return time.perf_counter() - started, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--same", type=int, default=10_000)
    parser.add_argument(
        "--slots", type=int, default=1, help="fetches at once, as a worker's --concurrency"
    )
    parser.add_argument(
        "--per-task",
        type=int,
        help="ids a task claims together; default: a burst's merged wake-ups "
        "(messaging.tasks.FETCHES_PER_TASK); 1: one image per task",
    )
    args = parser.parse_args()
    setup_django()
    from messaging.tasks import FETCHES_PER_TASK

    args.per_task = args.per_task or FETCHES_PER_TASK

    from connectors.demo_agent import DemoAgent
    from conversations.models import Bot
    from conversations.secrets import generate_agent_token
    from media.models import StoredFile

    images = make_images(args.images, seed=time.time_ns())  # new bytes in a kept database
    megabytes = sum(map(len, images)) / 1e6
    print(f"{args.images} images, {megabytes:.0f} MB, {megabytes / args.images * 1000:.0f} KB avg")
    run = f"{time.time():.0f}"
    with DemoAgent(token=generate_agent_token()) as agent:
        for n, image in enumerate(images):
            agent.media[f"img/{n}"] = (image, "image/jpeg")
        bot = Bot.objects.create(
            name=f"bench-media-{run}", agent_url=agent.url, agent_token=agent.token
        )

        plain = plain_loop(agent, images)
        ids = record(bot, args.images, lambda n: f"img/{n}", run)
        archived, outcomes = archive_loop(ids, args.slots, args.per_task)
        assert outcomes == ["stored"] * args.images, set(outcomes)
        for name, seconds in (("plain loop", plain), ("archive", archived)):
            print(
                f"{name:>10}: {args.images / seconds:7.1f} images/s "
                f"{megabytes / seconds:6.1f} MB/s ({seconds:.1f} s)"
            )
        print(
            f"     ratio: {plain / archived:.2f} (aim >= 0.5; {args.slots} slot(s), "
            f"{args.per_task} per task)"
        )

        ids = record(bot, args.same, lambda n: "img/0", run + "-same")
        seconds, outcomes = archive_loop(ids)
        assert outcomes == ["stored"] * args.same, set(outcomes)
        sha = hashlib.sha256(images[0]).hexdigest()
        files = StoredFile.objects.filter(sha256=sha).count()
        print(
            f"same image to {args.same} conversations: {files} stored file "
            f"({args.same / seconds:.0f} messages/s)"
        )
        assert files == 1


if __name__ == "__main__":
    main()
