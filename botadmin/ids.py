"""Ids from query strings and forms."""

# The largest id a BigAutoField row can have.
LARGEST_ID = 2**63 - 1


def id_or_none(text) -> int | None:
    """`text` (a query or form value) as an id some row could have, else None."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        return None
    return value if -LARGEST_ID <= value <= LARGEST_ID else None
