import errno
import random
import signal
import time

from django.core.management.base import BaseCommand, CommandError

from connectors.demo_agent import DemoAgent, InboundPoster
from conversations import demo
from conversations.models import Bot


class Command(BaseCommand):
    help = (
        "Run the demo bot's agent: a real bridge-protocol server that accepts sends, "
        "serves the demo users and groups, and now and then posts inbound messages "
        "(and replies to some sends) to botadmin's /api/callback. Once it listens, the "
        "bot's contacts are synced from it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bot", default=demo.DEMO_BOT_NAME)
        parser.add_argument("--port", type=int, default=demo.demo_agent_port())
        parser.add_argument("--callback-url", default="http://127.0.0.1:8000/api/callback")
        parser.add_argument(
            "--interval", type=float, default=20, help="Seconds between inbound messages (0: none)."
        )
        parser.add_argument("--reply-probability", type=float, default=0.5)

    def handle(self, *args, **options):
        bot = Bot.objects.filter(name=options["bot"]).first()
        if bot is None:
            raise CommandError(
                f"No bot named {options['bot']!r}; run `manage.py setup_demo` first."
            )
        try:
            agent, run = demo.start_agent_and_sync(bot, options["port"])
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            # A second `make run`, or another program: say which setting moves it, not
            # a traceback (the web server, on the same occasion, says it in one line).
            raise CommandError(
                f"port {options['port']} of {demo.DEMO_AGENT_HOST} is in use (another "
                "`make run`?): stop what listens there, or give the demo agent another "
                "port with DEMO_AGENT_PORT (`make run DEMO_AGENT_PORT=7623`)."
            ) from None
        self.stdout.write(f"demo agent for `{bot.name}` listening on {agent.url}")
        self.stdout.write(
            f"contact sync of `{bot.name}`: {run.outcome}, "
            f"{run.users_added} users and {run.groups_added} groups added {run.error}"
        )
        signal.signal(signal.SIGTERM, _stop)
        try:
            self._loop(agent, bot, options)
        except KeyboardInterrupt:
            pass
        finally:
            agent.stop()

    def _loop(self, agent: DemoAgent, bot: Bot, options) -> None:
        replied_up_to = 0  # the number of the newest send looked at (a set of ids grew forever)
        next_inbound = time.monotonic() + min(5, options["interval"] or 5)
        while True:
            time.sleep(1)
            bot.refresh_from_db(fields=["secret"])  # follow secret rotations
            poster = InboundPoster(
                options["callback_url"], bot.secret, demo.DEMO_USERS, demo.DEMO_GROUPS
            )
            for sent in list(agent.sent.values()):
                if sent.number <= replied_up_to:
                    continue
                replied_up_to = sent.number
                if random.random() < options["reply_probability"]:
                    poster.post(poster.reply_to(sent))
            if options["interval"] and time.monotonic() >= next_inbound:
                poster.post(poster.sample())
                next_inbound = time.monotonic() + options["interval"]


def _stop(*_):
    raise KeyboardInterrupt
