"""Every migration written since these rules (CONTRIBUTING.md, "Migrations") can run while
the previous release serves, on a database of ten million messages:

1. On the big tables, indexes are built and dropped only CONCURRENTLY
   (`AddIndexWithoutLocking` / `RemoveIndexWithoutLocking`, in a migration with
   `atomic = False`), and a column is neither retyped, made NOT NULL nor indexed by an
   `AddField`/`AlterField` (each is a scan or a rewrite under an exclusive lock).
2. A NOT NULL column added to an existing table has a `db_default`, so the previous
   release can still insert.
3. A data migration (`RunPython`) is a migration of its own with `atomic = False`,
   batched: each batch commits on its own instead of the whole table being rewritten in
   one transaction beside the migration's locks.
4. A migration with `atomic = False` runs again from its first operation after a partial
   run (a lock time-out `migrate` retries), so it holds only operations that can repeat.
5. No column or table is renamed: the previous release still reads the old name.

Migrations up to each app's `CHECKED_AFTER` predate the rules and are not checked, but
for rule 2: a NOT NULL column one of them added without a `db_default` must get it from a
later `AlterDatabaseDefault` (the `…_database_defaults` migrations), as installations
applied the AddField before it declared one.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from botadmin.migration_operations import (
    AddFieldIfMissing,
    AddIndexWithoutLocking,
    AddPostgreSQLIndexWithoutLocking,
    AlterDatabaseDefault,
    RemoveForeignKeyIndexWithoutLocking,
    RemoveIndexWithoutLocking,
)

# Tables that may hold millions of rows on a big install (the review's list).
BIG_MODELS = {
    ("messaging", "message"),
    ("messaging", "deliveryattempt"),
    ("messaging", "messagemedia"),
    ("forwarding", "webhookdelivery"),
    ("forwarding", "webhookattempt"),
    ("audit", "operatoraction"),
    ("conversations", "conversation"),
}
# The last migration of each app when the rules came; later ones are checked. An app
# not listed has all its migrations checked.
CHECKED_AFTER = {
    "announcements": 6,
    "audit": 3,
    "botadmin": 3,
    "conversations": 24,
    "deletions": 1,
    "forwarding": 7,
    "media": 1,
    "messaging": 23,
}
PROJECT_APPS = set(CHECKED_AFTER) | {"console", "connectors"}

CONCURRENT = (
    AddIndexWithoutLocking,
    RemoveIndexWithoutLocking,
    AddPostgreSQLIndexWithoutLocking,
    RemoveForeignKeyIndexWithoutLocking,
)
INDEX_OPERATIONS = (
    migrations.AddIndex,
    migrations.RemoveIndex,
    migrations.RenameIndex,
    migrations.AddConstraint,
    migrations.RemoveConstraint,
    migrations.AlterUniqueTogether,
    migrations.AlterIndexTogether,
)
# What a non-atomic migration may hold: operations that can run twice.
REPEATABLE = (*CONCURRENT, AddFieldIfMissing, migrations.RunPython, migrations.RunSQL)
# A relation's attributes whose change touches no row: Django's non_db_attrs (but the
# column's name), and the defaults (`default` is Python's; a db_default goes through
# AlterDatabaseDefault, a catalogue change).
NO_ROW_TOUCHED = (set(models.Field.non_db_attrs) - {"db_column"}) | {
    "default",
    "db_default",
    "db_comment",
}


def database_operations(operations):
    """The operations that run SQL, SeparateDatabaseAndState's database side unwrapped."""
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            yield from database_operations(operation.database_operations)
        else:
            yield operation


def problems(migration, state: ProjectState) -> list[str]:
    """What in `migration`, applied to `state`, breaks a rule, each naming the rule."""
    found = []
    app = migration.app_label
    created_here = set()
    operations = list(database_operations(migration.operations))
    for operation in operations:
        model = getattr(operation, "model_name_lower", None)
        big = (app, model) in BIG_MODELS
        what = f"{migration.app_label}.{migration.name}: {operation.describe()}"
        if isinstance(operation, migrations.CreateModel):
            created_here.add(operation.name_lower)
        elif isinstance(operation, CONCURRENT):
            if migration.atomic:
                found.append(f"{what}: a CONCURRENTLY operation needs atomic = False (rule 1)")
        elif big and isinstance(operation, INDEX_OPERATIONS) and model not in created_here:
            found.append(f"{what}: locks writes to a big table while it builds (rule 1)")
        elif isinstance(operation, migrations.AddField | migrations.AlterField):
            found += _column_problems(operation, app, state, big, created_here, what)
        elif isinstance(operation, migrations.RenameField | migrations.RenameModel):
            found.append(f"{what}: the previous release still uses the old name (rule 5)")
        elif isinstance(operation, migrations.RunPython) and (
            migration.atomic or not all(isinstance(o, migrations.RunPython) for o in operations)
        ):
            found.append(
                f"{what}: a data migration goes in a migration of its own with"
                " atomic = False, batched (rule 3)"
            )
        if not migration.atomic and not (
            isinstance(operation, REPEATABLE) or _changes_nothing(operation, app, state)
        ):
            found.append(f"{what}: cannot run twice in a non-atomic migration (rule 4)")
        state = state.clone()
        operation.state_forwards(app, state)
    return found


def _column_problems(operation, app, state, big, created_here, what) -> list[str]:
    field = operation.field
    if operation.model_name_lower in created_here:
        return []
    found = []
    if isinstance(operation, migrations.AddField):
        if not field.null and not field.many_to_many and not field.has_db_default():
            found.append(f"{what}: NOT NULL without db_default (rule 2)")
        if big and (field.db_index or field.unique or field.is_relation):
            found.append(f"{what}: indexes a big table while writes wait (rule 1)")
    elif big and not isinstance(operation, AlterDatabaseDefault):
        if not _changes_nothing(operation, app, state):
            found.append(
                f"{what}: changes a column of a big table (a scan or a rewrite under an"
                " exclusive lock; rule 1)"
            )
    return found


def _changes_nothing(operation, app, state) -> bool:
    """Whether `operation` is an AlterField that changes no column (choices, help text, a
    Python default, another field class of the same database type)."""
    if not isinstance(operation, migrations.AlterField):
        return False
    before = state.models[app, operation.model_name_lower].fields[operation.name]
    return _column(before) == _column(operation.field)


def _column(field) -> tuple:
    """What the database knows of a field, `db_default` aside (AlterDatabaseDefault)."""
    if field.is_relation:  # its type is its target's: compare how it was declared
        _, path, args, kwargs = field.deconstruct()
        return path, args, {k: v for k, v in kwargs.items() if k not in NO_ROW_TOUCHED}
    return (
        field.db_type(connection),
        field.null,
        field.unique,
        field.db_index,
        field.primary_key,
        field.db_column,
    )


def checked_migrations(loader: MigrationLoader):
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app in PROJECT_APPS and int(name[:4]) > CHECKED_AFTER.get(app, 0):
            yield migration


# --- The rules hold ---------------------------------------------------------------------


@pytest.mark.django_db
def test_every_migration_since_the_rules_keeps_them():
    loader = MigrationLoader(connection)
    found = []
    for migration in checked_migrations(loader):
        before = loader.project_state((migration.app_label, migration.name), at_end=False)
        found += problems(migration, before)
    assert found == []


BIG_TABLES = "|".join(apps.get_model(*model)._meta.db_table for model in BIG_MODELS)
PLAIN_INDEX = re.compile(
    rf'^CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)[^;\n]* ON "?({BIG_TABLES})"?\b', re.MULTILINE
)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL PostgreSQL runs")
@pytest.mark.django_db(transaction=True)
def test_no_migration_since_the_rules_builds_a_plain_index_on_a_big_table():
    """The SQL itself (what `sqlmigrate` shows), for what the operations hide: an index
    Django adds for a field, a RunSQL. Outside a transaction, as `sqlmigrate` and
    `migrate` run: a CONCURRENTLY operation refuses to run in one, even to be printed."""
    loader = MigrationLoader(connection)
    found = []
    for migration in checked_migrations(loader):
        sql = "\n".join(loader.collect_sql([(migration, False)]))
        found += [
            f"{migration.app_label}.{migration.name}: {m[0]}" for m in PLAIN_INDEX.finditer(sql)
        ]
    assert found == []


def defaults_never_set(loader: MigrationLoader) -> list[str]:
    """The NOT NULL columns that an AddField added to an existing table before the rules
    and that no later `AlterDatabaseDefault` gives a database default: on an install that
    ran the AddField, the previous release cannot insert (rule 2)."""
    added, given = {}, set()
    for key in loader.graph.leaf_nodes():
        for app, name in loader.graph.forwards_plan(key):
            if app not in PROJECT_APPS:
                continue
            migration = loader.disk_migrations[app, name]
            created = set()
            for operation in database_operations(migration.operations):
                if isinstance(operation, migrations.CreateModel):
                    created.add(operation.name_lower)
                elif isinstance(operation, AlterDatabaseDefault):
                    given.add((app, operation.model_name_lower, operation.name))
                elif (
                    isinstance(operation, migrations.AddField)
                    and operation.model_name_lower not in created
                    and int(name[:4]) <= CHECKED_AFTER.get(app, 0)
                ):
                    added[app, operation.model_name_lower, operation.name] = f"{app}.{name}"
    today = loader.project_state()
    found = []
    for (app, model, field), where in sorted(added.items()):
        now = today.models.get((app, model))
        column = now.fields.get(field) if now else None
        if column is None or column.null or column.many_to_many or column.generated:
            continue
        if (app, model, field) not in given:
            found.append(f"{where}: {model}.{field} has no database default (rule 2)")
    return found


@pytest.mark.django_db
def test_every_not_null_column_added_before_the_rules_gets_a_database_default():
    """Before the rules, forwarding 0007 added the endpoints' signing secrets without one:
    the previous release could not create a webhook endpoint during the upgrade."""
    assert defaults_never_set(MigrationLoader(connection)) == []


# --- The check finds what breaks them ---------------------------------------------------


def migration(app: str, *operations: Operation, atomic: bool = True):
    made = migrations.Migration("9999_example", app)
    made.operations = list(operations)
    made.atomic = atomic
    return made


@pytest.fixture(scope="module")
def today():
    return MigrationLoader(None, ignore_no_migrations=True).project_state()


MESSAGE_INDEX = models.Index(fields=["sent_at"], name="msg_sent_at_idx")


@pytest.mark.parametrize(
    ("example", "rule"),
    [
        (migration("messaging", migrations.AddIndex("message", MESSAGE_INDEX)), "rule 1"),
        (migration("messaging", AddIndexWithoutLocking("message", MESSAGE_INDEX)), "rule 1"),
        (
            migration(
                "messaging",
                migrations.AlterField(
                    "message", "sender_name", models.CharField(max_length=500, blank=True)
                ),
            ),
            "rule 1",
        ),
        (
            migration(
                "messaging",
                migrations.AddField(
                    "message", "tag", models.CharField(max_length=9, null=True, db_index=True)
                ),
            ),
            "rule 1",
        ),
        (
            migration(
                "conversations",
                migrations.AddField("bot", "colour", models.CharField(max_length=9, default="")),
            ),
            "rule 2",
        ),
        (migration("messaging", migrations.RunPython(print)), "rule 3"),
        (
            migration(
                "conversations",
                migrations.AddField("bot", "colour", models.CharField(max_length=9, null=True)),
                migrations.RunPython(print),
                atomic=False,
            ),
            "rule 3",
        ),
        (
            migration(
                "conversations",
                migrations.AddField("bot", "colour", models.CharField(max_length=9, null=True)),
                atomic=False,
            ),
            "rule 4",
        ),
        (migration("conversations", migrations.RenameField("bot", "name", "title")), "rule 5"),
    ],
)
def test_a_migration_breaking_a_rule_is_named_with_the_rule(today, example, rule):
    found = problems(example, today)
    assert any(rule in problem for problem in found), found


@pytest.mark.parametrize(
    "example",
    [
        migration("messaging", AddIndexWithoutLocking("message", MESSAGE_INDEX), atomic=False),
        migration(
            "messaging",
            migrations.AddField(
                "message", "tag", models.CharField(max_length=9, default="", db_default="")
            ),
            migrations.AddField("message", "seen_at", models.DateTimeField(null=True)),
            migrations.AlterField(
                "message",
                "sender_name",
                models.CharField("sender", max_length=255, blank=True, default="", help_text="x"),
            ),
            AlterDatabaseDefault(
                "message",
                "source",
                models.CharField(max_length=16, choices=[("api", "API")], db_default="api"),
            ),
        ),
        migration("messaging", migrations.RunPython(print), atomic=False),
        migration(
            "conversations",
            migrations.CreateModel(
                "Label",
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("name", models.CharField(max_length=9)),
                ],
            ),
            migrations.AddField("label", "colour", models.CharField(max_length=9)),
        ),
    ],
)
def test_a_migration_keeping_the_rules_passes(today, example):
    assert problems(example, today) == []
