import asyncio
import errno
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connectors.aibot_gateway import Gateway


class Command(BaseCommand):
    help = (
        "Hold the long connection of every active WeCom AI bot (one gateway per bot at a time, "
        "across hosts, by a lease in the database). Runs until SIGTERM or Ctrl-C."
    )

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        try:
            asyncio.run(self._run())
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            # A fixed WECOM_AIBOT_GATEWAY_PORT taken by another gateway or `make run`: one
            # line naming the setting, not a traceback ending in "Address already in use".
            raise CommandError(
                f"port {settings.WECOM_AIBOT_GATEWAY_PORT} of "
                f"{settings.WECOM_AIBOT_GATEWAY_HOST} is in use (another gateway or `make "
                "run`?): stop what listens there, or set WECOM_AIBOT_GATEWAY_PORT to a free "
                "port (0: any)."
            ) from None

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(name, stop.set)
        gateway = Gateway()
        self.stdout.write(f"AI bot gateway {gateway.holder} started")
        await gateway.run(stop)
