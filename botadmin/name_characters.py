"""A name part of any length found through an index of each name's characters (PostgreSQL).

Django's `icontains` is `UPPER(name) LIKE UPPER('%part%')`. A pg_trgm index serves it
only for a part of three characters or more: one or two (a Chinese surname, a given
name: "张", "小明") have no trigram, and the table is scanned. A GIN index on
`string_to_array(UPPER(name), NULL)`, the name's characters (migrations messaging 0034,
conversations 0036), finds the rows whose name holds every character of the part; the
`icontains` beside it then keeps those that hold the part itself. So the answer is
`icontains`'s, and what is read grows with the rows that hold those characters, not
with the table. SQLite has no such index: there the condition is left out (it would only
be checked on each row besides)."""

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, TextField, Value


class _Characters(Func):
    """`text`'s characters, in upper case, as the indexes write them."""

    template = "string_to_array(UPPER(%(expressions)s), NULL)"
    output_field = TextField()  # text[]: only compared by _Holds, never read


class _Holds(Func):
    """The left array holds every element of the right one (`@>`)."""

    arg_joiner = " @> "
    template = "(%(expressions)s)"
    output_field = BooleanField()
    conditional = True


def holds_characters_of(field: str, part: str, where: Q | None = None) -> Q:
    """`field` holds every character of `part` (any case), through the characters index
    of `field` on PostgreSQL, whose condition (a partial index's) `where` states; always
    true elsewhere. Beside `field__icontains=part`, it changes which rows are read,
    never which match."""
    if connection.vendor != "postgresql":
        return Q()
    return Q(_Holds(_Characters(F(field)), _Characters(Value(part))), where or Q())
