"""Conversations in their names' natural order (botadmin.natural_order), read from the
database: the lists of contacts are pages of up to 100,000, taken by keyset on
(name_sort_key, id).

The key is kept in a column of its own, written whenever the name is: `save()` and
`bulk_create()` compute it (the field's `pre_save`, as for `auto_now`), while an
`update(name=…)` or a `bulk_update()` must set it too (`name_sort_key`). A user's name
is a person's, read surname first (曾经理 zeng jing li); a group's is not (曾经 ceng jing)."""

from django.db import models

from botadmin.id_windows import id_windows
from botadmin.natural_order import KEY_LENGTH, sort_key

# Primary keys per window of the fill: one SELECT and at most one UPDATE each, each its
# own transaction (the migration is not atomic).
BATCH_SIZE = 1000
# Conversation.Kind.USER (models.py imports this module): a person, whose name starts
# with the surname.
PERSON = "user"


def name_sort_key(name: str, kind: str) -> str:
    """The sort key of a conversation's `name`, given its `kind`."""
    return sort_key(name, person=kind == PERSON)


class NameSortKeyField(models.CharField):
    """The sort key of the row's `name`, compared byte by byte on every database, as
    Python compares the keys: in PostgreSQL's "C" collation whatever the database's own
    (en_US.UTF-8 would skip the key's dots and spaces; zh_CN.UTF-8 has an order of its
    own), in SQLite's BINARY, its default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", KEY_LENGTH)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters

    def pre_save(self, model_instance, add):
        key = name_sort_key(model_instance.name, model_instance.kind)
        setattr(model_instance, self.attname, key)
        return key


def fill_name_sort_keys(apps, schema_editor):
    """The key of each conversation's name (conversations 0031), a window of primary keys
    at a time; only the rows whose key differs are written, so a run on a table already
    filled writes nothing, and one after a change of `sort_key` writes what it changed."""
    conversation = apps.get_model("conversations", "Conversation")
    for after, up_to in id_windows(conversation, BATCH_SIZE):
        rows = conversation.objects.filter(pk__gt=after, pk__lte=up_to)
        changed = [
            conversation(pk=pk, name_sort_key=key)
            for pk, name, kind, stored in rows.values_list("pk", "name", "kind", "name_sort_key")
            if (key := name_sort_key(name, kind)) != stored
        ]
        conversation.objects.bulk_update(changed, ["name_sort_key"], batch_size=BATCH_SIZE)
