"""manage.py export_messages --bot N --before DATE: JSON lines, for those who archive
before retention deletes (messaging/retention.py). Each export is in the audit log
(the bot, the date, how many messages, where to), also one that failed half-way."""

import json
import sys
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import record_action
from conversations.models import Bot
from messaging.models import Message

FIELDS = (
    "msgid",
    "direction",
    "msgtype",
    "body",
    "status",
    "source",
    "sender_id",
    "sender_name",
    "upstream_msgid",
    "attempt_count",
    "last_error",
    "scheduled_at",
    "sent_at",
    "created_at",
)


class Command(BaseCommand):
    help = "Write a bot's messages created before a date as JSON lines (one message a line)."

    def add_arguments(self, parser):
        parser.add_argument("--bot", required=True, help="The bot's id or name.")
        parser.add_argument(
            "--before",
            required=True,
            help="YYYY-MM-DD (midnight in TIME_ZONE) or an ISO 8601 time; messages created earlier.",
        )
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args, bot, before, output=None, **options):
        found = Bot.objects.filter(pk=int(bot)) if bot.isdigit() else Bot.objects.filter(name=bot)
        the_bot = found.first()
        if the_bot is None:
            raise CommandError(f"No bot {bot!r}.")
        cutoff = _parse_before(before)
        messages = (
            Message.objects.filter(bot=the_bot, created_at__lt=cutoff)
            .select_related("conversation")
            .order_by("pk")
        )
        stream = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        count = 0
        try:
            for message in messages.iterator(chunk_size=1000):
                row = {name: getattr(message, name) for name in FIELDS}
                row["bot"] = the_bot.name
                row["conversation_id"] = message.conversation.conversation_id
                stream.write(json.dumps(row, ensure_ascii=False, default=_iso) + "\n")
                count += 1
        finally:
            if output:
                stream.close()
            record_action(
                None,
                "messages.export",
                bot=the_bot,
                summary=f"Exported {count} messages created before {cutoff} from the command line.",
                details={
                    "filters": {"before": cutoff.isoformat()},
                    "count": count,
                    "output": output or "standard output",
                    "via": "command line",
                },
            )
        self.stderr.write(f"Exported {count} messages of bot {the_bot.name} before {cutoff}.")


def _parse_before(text: str) -> datetime:
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return timezone.make_aware(datetime.combine(day, time.min))
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--before: {error}") from error
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else str(value)
