import os
import shlex
import signal
import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand

from botadmin.env_numbers import env_int
from conversations import demo
from conversations.models import Bot

from .setup_demo import CREDENTIALS_FILE


class Command(BaseCommand):
    help = (
        "Wait until the web server answers, then print what a newcomer needs: the "
        "URL, first-run admin credentials and a ready-to-paste curl for the demo bot. "
        "With --stay it then waits for Ctrl-C (it runs beside the other `make run` processes)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            help="The web server's URL (default: from HOST and PORT, as gunicorn_conf.py "
            "reads them; on every interface, the first name in ALLOWED_HOSTS)",
        )
        parser.add_argument("--stay", action="store_true")
        parser.add_argument("--wait-seconds", type=float, default=60)

    def handle(self, *args, **options):
        probe, base = _listening_urls(options["url"])
        if not self._wait_for(probe + "/healthz", options["wait_seconds"]):
            self.stderr.write(f"The web server did not answer at {probe} in time.")
        self.stdout.write(self._banner(base))
        if options["stay"]:
            signal.signal(signal.SIGTERM, lambda *_: exit(0))
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass

    def _wait_for(self, url: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return False

    def _first_group(self, bot: Bot, seconds: float = 20):
        """The demo groups arrive by the agent's first contact sync: give it a moment."""
        deadline = time.monotonic() + seconds
        while True:
            groups = bot.conversations.filter(kind="group", is_active=True)
            group = groups.order_by("name_sort_key", "pk").first()
            if group or time.monotonic() > deadline:
                return group
            time.sleep(0.5)

    def _banner(self, base: str) -> str:
        lines = ["", "=" * 72, f"botadmin is running: {base}/", f"  admin:   {base}/admin/"]
        lines.append(f"  API docs: {base}/api/docs")
        credentials = settings.VAR_DIR / CREDENTIALS_FILE
        if credentials.exists():
            username, password = credentials.read_text().split("\n")[:2]
            lines.append(
                f"  login:   {username} / {password}   (shown once; change it in the admin)"
            )
            credentials.unlink()
        bot = Bot.objects.filter(name=demo.DEMO_BOT_NAME).first()
        conversation = self._first_group(bot) if bot else None
        if bot and conversation:
            url = f"{base}/api/send?secret={bot.secret}&conversation_id={conversation.conversation_id}"
            body = '{"msgtype": "text", "text": {"content": "hello world"}}'
            lines += [
                f"  demo bot `{bot.name}` secret: {bot.secret}",
                "",
                "Send a message to the demo group:",
                f"  curl {shlex.quote(url)} \\",
                "    -H 'Content-Type: application/json' \\",
                f"    -d {shlex.quote(body)}",
            ]
        lines += ["=" * 72, "Press Ctrl-C to stop.", ""]
        return "\n".join(lines)


EVERY_INTERFACE = {"0.0.0.0", "::", "[::]"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}


def _listening_urls(url: str | None) -> tuple[str, str]:
    """Where to ask the web server whether it answers, and the URL to show for it.

    `url` when given, else HOST and PORT as botadmin/gunicorn_conf.py reads them (the
    environment, then .env, which the settings loaded). Listening on every interface
    (`make run HOST=0.0.0.0` on a remote VM), the server answers on 127.0.0.1 too, but
    the browser opens the VM by the name or address ALLOWED_HOSTS lets through: the
    first that is not this machine's own.
    """
    if url:
        return (url.rstrip("/"),) * 2
    host = os.environ.get("HOST", "").strip() or "127.0.0.1"
    port = env_int("PORT", 8000)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if host not in EVERY_INTERFACE:
        return (f"http://{host}:{port}",) * 2
    names = [
        name
        for name in settings.ALLOWED_HOSTS
        if name not in LOOPBACK_NAMES and not name.startswith(".") and "*" not in name
    ]
    return f"http://127.0.0.1:{port}", f"http://{(names or ['127.0.0.1'])[0]}:{port}"
