"""Benchmark a contact sync of 20,000 users and 3,000 groups from the fake agent.

    .venv/bin/python bench/contact_sync.py                    # SQLite in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/contact_sync.py

It starts the bridge protocol's demo agent (connectors/demo_agent.py) on 127.0.0.1 and
syncs one bot from it in this process (`conversations.sync.sync_now`, what a worker runs)
four times: the first sync (everything added), one that changes nothing, one after 1% of
the users left and 1% were renamed, and one with every user on a single page (the
protocol sets no page size). It prints each run's outcome, pages, seconds and the peak
Python memory the run allocated (tracemalloc), and the process's peak RSS.
Everything stays on 127.0.0.1; the bot it makes is named `bench-sync`.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def contacts(users: int, groups: int) -> tuple[list[dict], list[dict]]:
    return (
        [{"conversation_id": f"wmBench{n:06d}", "name": f"用户{n} User {n}"} for n in range(users)],
        [
            {"conversation_id": f"wrBench{n:05d}", "name": f"群聊{n}", "member_count": n % 500}
            for n in range(groups)
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=3_000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        os.environ["BOTADMIN_VAR_DIR"] = tempfile.mkdtemp(prefix="botadmin-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from connectors.demo_agent import DemoAgent
    from conversations import sync
    from conversations.models import Bot, SyncRun
    from conversations.secrets import generate_agent_token

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    Bot.objects.filter(name="bench-sync").delete()
    users, groups = contacts(args.users, args.groups)
    with DemoAgent(token=generate_agent_token(), users=users, groups=groups) as agent:
        agent.behaviour.page_size = args.page_size
        bot = Bot.objects.create(
            name="bench-sync", connector="bridge", agent_url=agent.url, agent_token=agent.token
        )

        def measure(label: str) -> None:
            tracemalloc.start()
            started = time.monotonic()
            run = sync.sync_now(bot, SyncRun.Trigger.COMMAND)
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            changes = {
                f"{kind}s {change}": n
                for kind, counts in run.counts().items()
                for change, n in counts.items()
                if n
            }
            print(
                f"{label:<28} {run.outcome:<9} {run.pages_fetched:>4} pages "
                f"{seconds:6.1f} s  peak {peak / 1e6:5.1f} MB  {changes} {run.error}"
            )

        measure("first sync")
        measure("nothing changed")
        gone = len(agent.users) // 100
        del agent.users[:gone]
        for user in agent.users[:gone]:
            user["name"] += " (renamed)"
        measure("1% left, 1% renamed")
        agent.behaviour.page_size = len(agent.users)
        measure("every user on one page")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {rss:.0f} MB")
    Bot.objects.filter(name="bench-sync").delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
