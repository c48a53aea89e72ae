import asyncio
import logging
import signal

from django.core.management.base import BaseCommand

from connectors.aibot_gateway import Gateway


class Command(BaseCommand):
    help = (
        "Hold the long connection of every active WeCom AI bot (one gateway per bot at a time, "
        "across hosts, by a lease in the database). Runs until SIGTERM or Ctrl-C."
    )

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(name, stop.set)
        gateway = Gateway()
        self.stdout.write(f"AI bot gateway {gateway.holder} started")
        await gateway.run(stop)
