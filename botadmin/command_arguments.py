"""What management commands are given: times (`--since`, `--before`), a bot (`--bot`)."""

from datetime import datetime, time

from django.core.management.base import CommandError
from django.utils import timezone


def parse_moment(text: str, option: str) -> datetime:
    """`YYYY-MM-DD` (midnight in TIME_ZONE) or an ISO 8601 time (in TIME_ZONE unless it
    says its offset); CommandError naming `option` otherwise."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return timezone.make_aware(datetime.combine(day, time.min))
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"{option}: {error}") from error
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def bot_by_id_or_name(text: str):
    """The bot with this id or, else, this name; CommandError when there is none."""
    from conversations.models import Bot

    bot = (
        Bot.objects.filter(pk=int(text)) if text.isdigit() else Bot.objects.filter(name=text)
    ).first()
    if bot is None:
        raise CommandError(f"No bot {text!r}.")
    return bot
