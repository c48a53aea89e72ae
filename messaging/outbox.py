"""Hand committed outbound messages to the delivery workers.

The message row is the outbox: it is committed first, and only its id travels
through the broker, after the commit, never holding the request (see
botadmin/wakeups.py). If the broker is unreachable the message stays `queued`
and the delivery sweeper picks it up.
"""


def enqueue_delivery(message_id: int) -> None:
    """Wake a worker for this message once the current transaction commits."""
    from .tasks import deliver_messages  # the tasks import the engine, which imports this

    deliver_messages.delay_on_commit([message_id])
