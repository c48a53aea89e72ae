"""Hand committed outbound messages to the delivery workers.

The message row is the outbox: it is committed first, and only its id travels
through the broker, after the commit. If the broker is unreachable the
message stays `queued` and the delivery sweeper picks it up later.
"""

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

DELIVER_TASK = "messaging.deliver_message"


def enqueue_delivery(message_id: int) -> None:
    """Wake a worker for this message once the current transaction commits."""
    transaction.on_commit(lambda: _publish(message_id))


def _publish(message_id: int) -> None:
    try:
        current_app.send_task(DELIVER_TASK, args=[message_id])
    except Exception:
        logger.warning(
            "Broker unavailable; message %s stays queued for the sweeper.",
            message_id,
            exc_info=True,
        )
