"""Who sent a received message, as the console names them: the name the message came
with, else the name of the bot's synced contact with the sender's ID
(conversations.contact_names: a callback may give only `sender`), else the ID. The
message keeps what it was given; forwarded webhook bodies carry it unchanged."""

from conversations.contact_names import contact_names
from messaging.models import Message


def _without_name(message) -> bool:
    return (
        message.direction == Message.Direction.IN
        and bool(message.sender_id)
        and not message.sender_name
    )


def unnamed_senders(messages) -> dict[int, set[str]]:
    """{bot id: sender IDs} of the received messages among these that came without a
    sender's name."""
    wanted: dict[int, set[str]] = {}
    for m in messages:
        if _without_name(m):
            wanted.setdefault(m.bot_id, set()).add(m.sender_id)
    return wanted


def name_senders(messages, names: dict[tuple[int, str], str] | None = None) -> None:
    """Set `contact_name` on each message: its sender's contact's name where the message
    came without one and the contact has a name, else "". From `names`
    (`contact_names`) when the caller read them already, else with one query (none when
    every message names its sender)."""
    if names is None:
        wanted = unnamed_senders(messages)
        names = contact_names(wanted) if wanted else {}
    for m in messages:
        m.contact_name = names.get((m.bot_id, m.sender_id), "") if _without_name(m) else ""
