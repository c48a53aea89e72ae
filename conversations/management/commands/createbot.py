import json

from django import forms
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import translation

from audit.services import record_action
from botadmin.forms import WebhookURLField
from connectors import bot_settings
from connectors.registry import CONNECTORS
from conversations.bot_changes import created_summary
from conversations.models import Bot


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


class Command(BaseCommand):
    help = (
        "Create a bot and print it as JSON (id, name, secret, and with --webhook-url the "
        "signing_secret of that webhook endpoint). "
        "Each connector's settings are options; see docs/bots.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--connector", required=True, choices=list(CONNECTORS))
        # One option per setting of any connector (the connector's settings form).
        seen: dict[str, list[str]] = {}
        for kind, connector in CONNECTORS.items():
            for name in bot_settings.fields(connector):
                seen.setdefault(name, []).append(kind)
        for name, kinds in seen.items():
            connector = CONNECTORS[kinds[0]]
            field = bot_settings.fields(connector)[name]
            generated = (
                " (generated when left empty)" if name in connector.generated_settings else ""
            )
            help_text = (
                f"{', '.join(kinds)} connector: {field.label}. {field.help_text}{generated}".strip()
            )
            if isinstance(field, forms.BooleanField):
                # A flag: a value would be stored as written, and the string "false" reads as on.
                parser.add_argument(
                    _option(name), dest=f"setting_{name}", action="store_true", help=help_text
                )
                continue
            parser.add_argument(
                _option(name),
                dest=f"setting_{name}",
                metavar=name.upper(),
                default="",
                help=help_text,
            )
        parser.add_argument(
            "--webhook-url",
            default="",
            help="Where inbound messages are forwarded; a private or loopback address only "
            "in the networks of BOTADMIN_WEBHOOK_NETWORKS (or with BOTADMIN_ALLOW_PRIVATE_URLS, "
            "for development).",
        )
        parser.add_argument("--rate-limit", type=int, default=None, help="Messages per minute.")

    def handle(self, *args, **options):
        connector = CONNECTORS[options["connector"]]
        if options["webhook_url"]:
            # The field every form setting a webhook URL uses: forwarding would refuse it
            # later. Its value is the URL as the forms store it (normalised).
            with translation.override("en"):
                try:
                    options["webhook_url"] = WebhookURLField().clean(options["webhook_url"])
                except ValidationError as refused:
                    raise CommandError(f"--webhook-url: {' '.join(refused.messages)}") from None
        bot = Bot(
            name=options["name"],
            connector=options["connector"],
            webhook_url=options["webhook_url"],
            rate_limit_per_minute=options["rate_limit"] or connector.default_rate_limit,
        )
        given = {
            name: options[f"setting_{name}"]
            for name in bot_settings.fields(connector)
            if options.get(f"setting_{name}")
        }
        bot_settings.store(connector, bot, given)
        generated = bot_settings.generate_missing(connector, bot)
        try:
            bot.full_clean()
        except ValidationError as error:
            raise CommandError(_format_errors(error)) from None
        with transaction.atomic():
            bot.save()
            record_action(
                None,
                "bot.create",
                bot=bot,
                target=bot,
                summary=created_summary(connector, bot.name, from_command_line=True),
                details={"connector": bot.connector, "via": "command line"},
            )
        # The webhook URL's endpoint, made when the bot was saved, signs with its own secret.
        endpoint = bot.webhook_endpoints.filter(is_primary=True).first()
        result = {
            "id": bot.pk,
            "name": bot.name,
            "connector": bot.connector,
            "secret": bot.secret,
            **({"signing_secret": endpoint.signing_secret} if endpoint else {}),
            **generated,
            **connector.printed_settings(bot),
        }
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))


def _format_errors(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)
