"""What another process commits while a request works on a row it read: run it just
before the request saves the row, the widest window a whole-row save leaves.

    with before_saving(Bot, lambda: rotate_secret(Bot.objects.get(pk=bot.pk))) as ran:
        client.post(...)  # reads the bot, and saves it after the rotation
    assert ran
"""

from collections.abc import Callable
from contextlib import contextmanager

from django.db.models.signals import pre_save

_UID = "tests.meanwhile.before_saving"


@contextmanager
def before_saving(model, write: Callable[[], None]):
    """`write()` runs once, at the first save of a `model` row inside the block (its own
    saves do not run it again). Yields a list that holds True once it ran."""
    ran: list[bool] = []

    def receiver(sender, **kwargs):
        if not ran:
            ran.append(True)
            write()

    pre_save.connect(receiver, sender=model, weak=False, dispatch_uid=_UID)
    try:
        yield ran
    finally:
        pre_save.disconnect(sender=model, dispatch_uid=_UID)
