"""Windows of primary keys, for the data migrations that work a batch at a time
(CONTRIBUTING.md, Migrations, rule 3): announcements 0013, the creators' names (messaging
0026, announcements 0009) and the conversations' sort keys."""

from collections.abc import Iterator


def id_windows(model, size: int) -> Iterator[tuple[int, int]]:
    """(after, up_to) of each window of `size` ids, for `filter(pk__gt=after,
    pk__lte=up_to)`, from the table's smallest id to its largest, both read before the
    first window. From the smallest, not from 0: ids far from 1 (early rows deleted, as
    retention deletes messages; a PostgreSQL sequence moved on) are no empty windows to
    read. Two reads by the primary key's index (SQLite finds a MIN and a MAX of one query
    by scanning the table)."""
    pks = model.objects.order_by("pk").values_list("pk", flat=True)
    first = pks.first()
    if first is None:
        return
    last = pks.last()
    for after in range(first - 1, last, size):
        yield after, after + size
