"""Hand committed outbound messages to the delivery workers.

The message row is the outbox: it is committed first, and only its id travels
through the broker, after the commit (see botadmin/wakeups.py). If the broker
is unreachable the message stays `queued` and the delivery sweeper picks it up.
"""

from botadmin.wakeups import wake_after_commit

DELIVER_TASK = "messaging.deliver_messages"


def enqueue_delivery(message_id: int) -> None:
    """Wake a worker for this message once the current transaction commits."""
    wake_after_commit(DELIVER_TASK, [message_id])
