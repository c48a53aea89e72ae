import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from conversations import demo
from conversations.models import Bot, Conversation
from conversations.secrets import generate_agent_token

CREDENTIALS_FILE = "first-run-credentials"


class Command(BaseCommand):
    help = (
        "First-run setup for `make run`: an `admin` superuser (password from "
        "BOTADMIN_ADMIN_PASSWORD or generated) and a demo bot with demo contacts. "
        "Safe to run again: it changes nothing that exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-password", default=None)

    def handle(self, *args, **options):
        password = options["admin_password"] or os.environ.get("BOTADMIN_ADMIN_PASSWORD")
        with transaction.atomic():
            created_admin = self._ensure_admin(password or secrets.token_urlsafe(12))
            self._ensure_demo_bot()
        if created_admin:
            self.stdout.write("Created the superuser `admin`.")

    def _ensure_admin(self, password: str) -> bool:
        User = get_user_model()
        if User.objects.filter(username="admin").exists():
            return False
        User.objects.create_superuser("admin", email="", password=password)
        # The startup banner prints this once, then deletes the file.
        path = settings.VAR_DIR / CREDENTIALS_FILE
        path.write_text(f"admin\n{password}\n")
        path.chmod(0o600)
        return True

    def _ensure_demo_bot(self):
        bot, created = Bot.objects.get_or_create(
            name=demo.DEMO_BOT_NAME,
            defaults={
                "connector": Bot.Connector.BRIDGE,
                "agent_url": demo.demo_agent_url(),
                "agent_token": generate_agent_token(),
            },
        )
        if not created:
            return
        for kind, contacts in (
            (Conversation.Kind.USER, demo.DEMO_USERS),
            (Conversation.Kind.GROUP, demo.DEMO_GROUPS),
        ):
            for contact in contacts:
                Conversation.objects.create(
                    bot=bot,
                    kind=kind,
                    conversation_id=contact["conversation_id"],
                    name=contact["name"],
                    member_count=contact.get("member_count"),
                )
        self.stdout.write(f"Created the demo bot `{bot.name}` with its contacts.")
