"""The hooks conversations offers the apps built on it.

Messaging imports conversations; conversations imports none of the apps built on
it, and tells them what happened through these signals.
"""

from django.dispatch import Signal

# An operator cleared a bot's pause (conversations.pauses.resume_bot). Sent inside
# the transaction that cleared it, with `bot` and `now`; each receiver returns how
# many of the bot's messages it woke. Messaging connects the one receiver
# (messaging/apps.py): the bot's queued messages are due now, and delivery is woken.
bot_resumed = Signal()

# A bot's sending was paused (conversations.pauses.pause_bot). Sent inside the
# transaction that paused it, with `bot`; each receiver returns how many of the bot's
# messages now wait, for the audit log. Messaging connects the one receiver.
bot_paused = Signal()
