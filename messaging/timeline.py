"""Where a message stands in its conversation's timeline (the console's history).

The timeline is paged by keyset on `TIMELINE_KEY` — a message's id, or its
`timeline_position` when it was moved. A scheduled message is created long
before it goes out; when it is released it is moved to the end of the
timeline as it is at that moment: it takes the next number of the messages'
id sequence, so every message created before its release stays above it and
every one created after falls below. No message ever gets that number as its
id, so positions stay unique and an integer cursor still names one place.
"""

from __future__ import annotations

from django.db import connection

from .models import Message


def reserve_positions(count: int) -> list[int]:
    """`count` numbers from the messages' id sequence, in order (inside a transaction)."""
    if count <= 0:
        return []
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        # SQLite: Django's AUTOINCREMENT keeps the last id in sqlite_sequence, and the
        # transaction holds the database's write lock while it moves it on.
        cursor.execute(
            "UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq",
            [count, table],
        )
        last = cursor.fetchone()[0]
        return list(range(last - count + 1, last + 1))


def move_to_end(message_ids: list[int]) -> None:
    """Place these messages (being released now) after every message created so far."""
    if not message_ids:
        return
    ordered = sorted(message_ids)
    positions = reserve_positions(len(ordered))
    Message.objects.bulk_update(
        [
            Message(pk=pk, timeline_position=position)
            for pk, position in zip(ordered, positions, strict=True)
        ],
        ["timeline_position"],
    )
