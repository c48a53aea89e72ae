import json
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.models import Bot
from conversations.services import rotate_secret


class Command(BaseCommand):
    help = (
        "Issue a new API secret for a bot. The old secret keeps working for a grace "
        "period (default BOTADMIN_SECRET_GRACE_HOURS, 24 h), then stops."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The bot's name.")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=None,
            help="How long the old secret keeps working; 0 revokes it at once.",
        )

    def handle(self, *args, **options):
        try:
            bot = Bot.objects.get(name=options["name"])
        except Bot.DoesNotExist:
            raise CommandError(f"No bot named {options['name']!r}.") from None
        hours = options["grace_hours"]
        if hours is None:
            hours = settings.BOTADMIN_SECRET_GRACE_HOURS
        if hours < 0:
            raise CommandError("--grace-hours cannot be negative.")
        bot = rotate_secret(bot, grace=timedelta(hours=hours), via=" from the command line")
        expires = bot.previous_secret_expires_at
        self.stdout.write(
            json.dumps(
                {
                    "id": bot.pk,
                    "name": bot.name,
                    "secret": bot.secret,
                    "previous_secret_valid_until": expires.isoformat() if expires else None,
                },
                indent=2,
            )
        )
