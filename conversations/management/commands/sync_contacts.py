import json
import time

from django.core.management.base import BaseCommand, CommandError

from audit.services import record_action
from conversations.models import Bot, SyncRun
from conversations.sync import sync_now


class Command(BaseCommand):
    help = (
        "Sync the users and groups of one bot (or of every active bot) from its connector, "
        "in this process, and print each run as JSON. If a sync of the bot is already "
        "running, wait for it instead of starting another. Exits non-zero if a sync failed; "
        "a bot whose connector cannot list contacts is reported as not_possible, with why."
    )

    def add_arguments(self, parser):
        parser.add_argument("bot", nargs="?", help="The bot's name; all active bots if omitted.")
        parser.add_argument(
            "--wait-seconds",
            type=float,
            default=600,
            help="How long to wait for a sync another process runs.",
        )

    def handle(self, *args, **options):
        if options["bot"]:
            bots = list(Bot.objects.filter(name=options["bot"]))
            if not bots:
                raise CommandError(f"No bot named {options['bot']!r}.")
        else:
            bots = list(Bot.objects.filter(is_active=True))
        failed = []
        for bot in bots:
            run = sync_now(bot, SyncRun.Trigger.COMMAND)
            record_action(
                None,
                "contacts.sync",
                bot=bot,
                target=run,
                summary="Contact sync from the command line.",
                details={"run": run.pk, "via": "command line"},
            )
            run = self._wait(run, options["wait_seconds"])
            self.stdout.write(json.dumps(_summary(run), ensure_ascii=False))
            # "not possible" (the connector cannot list contacts) is an answer, not a failure.
            if run.outcome not in (SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.NOT_POSSIBLE):
                failed.append(bot.name)
        if failed:
            raise CommandError(f"Sync failed or did not finish for: {', '.join(failed)}")

    def _wait(self, run: SyncRun, seconds: float) -> SyncRun:
        """A sync another process runs: follow it until it ends."""
        deadline = time.monotonic() + seconds
        while run.is_active and time.monotonic() < deadline:
            time.sleep(0.5)
            run.refresh_from_db()
        return run


def _summary(run: SyncRun) -> dict:
    return {
        "bot": run.bot.name,
        "run": run.pk,
        "outcome": run.outcome,
        "pages_fetched": run.pages_fetched,
        **{f"{kind}s": counts for kind, counts in run.counts().items()},
        "groups_unchecked": run.groups_unchecked,
        "groups_not_working": run.groups_not_working,
        "error": run.error,
    }
