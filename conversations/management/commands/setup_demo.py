import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.bridge import BridgeConnector
from conversations import demo
from conversations.models import Bot
from conversations.secrets import generate_agent_token

CREDENTIALS_FILE = "first-run-credentials"


class Command(BaseCommand):
    help = (
        "First-run setup for `make run`: an `admin` superuser (password from "
        "BOTADMIN_ADMIN_PASSWORD or generated) and a demo bot (its contacts arrive by sync once `demo_agent` runs). "
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
                "connector": BridgeConnector.kind,
                "agent_url": demo.demo_agent_url(),
                "agent_token": generate_agent_token(),
            },
        )
        if created:
            # Its users and groups come from the demo agent's first contact sync.
            self.stdout.write(f"Created the demo bot `{bot.name}`.")
