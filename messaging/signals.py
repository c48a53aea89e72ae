"""The hooks messaging offers the apps built on it.

Those apps (forwarding, announcements) import messaging; messaging imports
none of them, and tells them what happened through these signals.
"""

from django.dispatch import Signal

# An inbound message was stored, marked `forward_pending`. Sent once the
# transaction that stored it has committed, with `message_ids` (a list of
# Message ids), from the request that received it: receivers must be quick.
# A receiver that fails loses nothing: the message stays `forward_pending`
# until it is handled. The forwarding app connects the one receiver
# (forwarding/apps.py), and its sweeper picks up any message whose wake-up
# was lost (forwarding.drains.sweep_due_deliveries).
inbound_message_stored = Signal()

# The media of inbound messages settled: stored in the archive, or failed for
# good (messaging/media_fetch.py), with `message_ids`. Sent on commit, from a
# worker. Forwarding holds a media message back until then (or until
# BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS passed) and wakes its fan-out on this.
inbound_media_settled = Signal()
