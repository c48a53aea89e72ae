import json

from django.core.management.base import BaseCommand, CommandError

from conversations.group_chats import GroupChatError, create_group_chat
from conversations.models import Bot


class Command(BaseCommand):
    help = (
        "Create a group chat through a bot's connector (a WeCom app's appchat/create) and "
        "print it as JSON; it becomes a group conversation at once and is audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bot", required=True, help="The bot's name.")
        parser.add_argument("--name", required=True, help="The chat's name.")
        parser.add_argument("--owner", required=True, help="The owner's userid (a member).")
        parser.add_argument(
            "--members", required=True, help="Member userids, comma-separated (2–2000)."
        )
        parser.add_argument("--chatid", default="", help="Optional chat id to use.")

    def handle(self, *args, **options):
        bot = Bot.objects.filter(name=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot named {options['bot']!r}.")
        try:
            conversation = create_group_chat(
                bot,
                name=options["name"],
                owner=options["owner"],
                members=options["members"].split(","),
                chatid=options["chatid"],
            )
        except GroupChatError as error:
            raise CommandError(str(error)) from None
        result = {
            "bot": bot.name,
            "conversation_id": conversation.conversation_id,
            "name": conversation.name,
            "member_count": conversation.member_count,
        }
        self.stdout.write(json.dumps(result, ensure_ascii=False))
