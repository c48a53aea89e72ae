"""manage.py export_messages --bot N [--since DATE] [--before DATE]: JSON lines, for those
who archive before retention deletes (messaging/retention.py). Each export is in the audit
log (the bot, the period, how many messages, where to), also one that failed half-way."""

import json
import sys
from datetime import datetime

from django.core.management.base import BaseCommand

from audit.services import record_action
from botadmin.command_arguments import bot_by_id_or_name, parse_moment
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
            help="YYYY-MM-DD (midnight in TIME_ZONE) or an ISO 8601 time; messages created earlier.",
        )
        parser.add_argument("--since", help="The same: messages created then or later.")
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args, bot, before=None, since=None, output=None, **options):
        the_bot = bot_by_id_or_name(bot)
        period = {
            "since": since and parse_moment(since, "--since"),
            "before": before and parse_moment(before, "--before"),
        }
        messages = Message.objects.filter(bot=the_bot)
        if period["since"]:
            messages = messages.filter(created_at__gte=period["since"])
        if period["before"]:
            messages = messages.filter(created_at__lt=period["before"])
        messages = messages.select_related("conversation").order_by("pk")
        said = " ".join(f"{name} {value}" for name, value in period.items() if value)
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
                summary=f"Exported {count} messages created {said or 'ever'} from the command line.",
                details={
                    "filters": {name: value.isoformat() for name, value in period.items() if value},
                    "count": count,
                    "output": output or "standard output",
                    "via": "command line",
                },
            )
        self.stderr.write(f"Exported {count} messages of bot {the_bot.name} {said}".rstrip() + ".")


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else str(value)
