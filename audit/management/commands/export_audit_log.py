"""manage.py export_audit_log [--since DATE] [--before DATE] [--bot N] [--action CODE]:
the operator-action log as CSV, newest first, streamed (audit/export.py), for those who
keep it longer than BOTADMIN_AUDIT_RETENTION_DAYS. The export is itself an entry."""

import sys

from django.core.management.base import BaseCommand

from audit.export import audit_csv_lines, entries, to_row
from audit.services import record_action
from botadmin.command_arguments import bot_by_id_or_name, parse_moment


class Command(BaseCommand):
    help = "Write the operator-action (audit) log as CSV, newest first."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="YYYY-MM-DD (midnight in TIME_ZONE) or an ISO 8601 time: from then."
        )
        parser.add_argument("--before", help="The same: entries recorded earlier only.")
        parser.add_argument("--bot", help="The bot's id or name: its entries only.")
        parser.add_argument("--action", default="", help="An action code, e.g. secret.rotate.")
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args, since=None, before=None, bot=None, action="", output=None, **options):
        the_bot = bot_by_id_or_name(bot) if bot else None
        filters = {
            "since": since and parse_moment(since, "--since"),
            "before": before and parse_moment(before, "--before"),
        }
        rows = entries(bot_id=the_bot and the_bot.pk, action=action, **filters)
        stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        count = 0

        def counted(values: tuple) -> tuple:
            nonlocal count
            count += 1
            return to_row(values)

        try:
            for lines in audit_csv_lines(rows, counted):
                stream.write(lines)
        finally:
            if output:
                stream.close()
            record_action(
                None,
                "audit.export",
                bot=the_bot,
                summary=f"Exported {count} audit log entries from the command line.",
                details={
                    "filters": {
                        **{name: value.isoformat() for name, value in filters.items() if value},
                        **({"action": action} if action else {}),
                    },
                    "count": count,
                    "output": output or "standard output",
                    "via": "command line",
                },
            )
        self.stderr.write(f"Exported {count} audit log entries.")
