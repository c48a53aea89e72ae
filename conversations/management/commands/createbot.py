import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from conversations.models import Bot
from conversations.secrets import generate_agent_token


class Command(BaseCommand):
    help = "Create a bot and print it as JSON (id, name, secret, signing_secret)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--connector", required=True, choices=[value for value, _ in Bot.Connector.choices]
        )
        parser.add_argument(
            "--agent-url", default="", help="Bridge connector: the agent's base URL."
        )
        parser.add_argument(
            "--agent-token",
            default="",
            help="Bridge connector: shared token (≥ 32 characters); generated and printed if omitted.",
        )
        parser.add_argument(
            "--webhook-url", default="", help="Where inbound messages are forwarded."
        )
        parser.add_argument("--rate-limit", type=int, default=None, help="Messages per minute.")

    def handle(self, *args, **options):
        bot = Bot(
            name=options["name"],
            connector=options["connector"],
            agent_url=options["agent_url"],
            agent_token=options["agent_token"],
            webhook_url=options["webhook_url"],
        )
        generated_token = False
        if bot.connector == Bot.Connector.BRIDGE and not bot.agent_token:
            bot.agent_token = generate_agent_token()
            generated_token = True
        if options["rate_limit"] is not None:
            bot.rate_limit_per_minute = options["rate_limit"]
        try:
            bot.full_clean()
        except ValidationError as error:
            raise CommandError(_format_errors(error)) from None
        bot.save()
        result = {
            "id": bot.pk,
            "name": bot.name,
            "connector": bot.connector,
            "secret": bot.secret,
            "signing_secret": bot.signing_secret,
        }
        if generated_token:
            result["agent_token"] = bot.agent_token
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))


def _format_errors(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)
