"""The migrations the documentation names are the ones that do what it says: every
`<app> NNNN` (or `<app> NNNN_name`, `<app>/NNNN`, or a bare `` `NNNN` `` after an app in
the same paragraph) in README.md, CONTRIBUTING.md, docs/*.md and the translations is a
migration of that app, and the lists operators act on when upgrading (docs/upgrading.md,
docs/database.md) name the migrations whose operations they describe. Migrations are renumbered when two branches
add one to the same app: a number left from before then names another migration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db.migrations import RunPython
from django.db.migrations.loader import MigrationLoader

from botadmin.migration_operations import (
    AlterDatabaseDefault,
    RemoveForeignKeyIndexWithoutLocking,
    RunSQLOnPostgreSQL,
)

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs").glob("*/*.md")),
]

MIGRATIONS = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
APPS = sorted({app for app, _name in MIGRATIONS}, key=len, reverse=True)
REFERENCE = re.compile(
    rf"(?<![\w/.-])(?P<migrate>migrate )?(?P<app>{'|'.join(APPS)})[ /](?P<number>0\d{{3}})"
    r"(?P<name>_\w+)?\b"
    r"|`(?P<bare>0\d{3})`(?:–`(?P<to>0\d{3})`)?"
)


def migration_name(app: str, number: str) -> str | None:
    found = [name for label, name in MIGRATIONS if label == app and name[:4] == number]
    return found[0] if found else None


def references(text: str) -> list[tuple[str, str, str, bool]]:
    """(app, number, name as written or "", after `migrate `) of each reference, a bare
    number (or range `0015`–`0017`) taking the app last named in its paragraph."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        app = None
        for match in REFERENCE.finditer(paragraph):
            if match["app"]:
                app = match["app"]
                found.append((app, match["number"], match["name"] or "", bool(match["migrate"])))
            elif app:
                last = int(match["to"] or match["bare"])
                for number in range(int(match["bare"]), last + 1):
                    found.append((app, f"{number:04d}", "", False))
    return found


def section(path: str, heading: str) -> str:
    """A document's text under a heading, up to the next heading of its level or above."""
    text = (ROOT / path).read_text()
    level = heading.split()[0]
    body = text.partition(f"\n{heading}\n")[2]
    assert body, heading
    return re.split(rf"\n#{{1,{len(level)}}} ", body)[0]


def named(text: str, *, migrate_targets: bool = False) -> set[tuple[str, str]]:
    """The migrations a text names, as (app, name); with migrate_targets, only the ones it
    migrates back to (`migrate forwarding 0010`), else only the others."""
    return {
        (app, migration_name(app, number))
        for app, number, _name, migrate in references(text)
        if migrate == migrate_targets
    }


def with_operation(kind) -> set[tuple[str, str]]:
    return {
        key
        for key, migration in MIGRATIONS.items()
        if any(isinstance(operation, kind) for operation in migration.operations)
    }


def autovacuum_migrations() -> set[tuple[str, str]]:
    """The migrations setting a table's autovacuum parameters (PostgreSQL only)."""
    return {
        key
        for key in with_operation(RunSQLOnPostgreSQL)
        if "autovacuum" in str(MIGRATIONS[key].operations[0].sql)
    }


def test_the_references_read_as_written():
    text = "`messaging 0002`, `0006` (one), `0015`–`0017`; `migrate forwarding 0008`.\n\nx `0003`"
    assert references(text) == [
        ("messaging", "0002", "", False),
        ("messaging", "0006", "", False),
        ("messaging", "0015", "", False),
        ("messaging", "0016", "", False),
        ("messaging", "0017", "", False),
        ("forwarding", "0008", "", True),
    ]
    assert references("(`messaging/0017`), botadmin 0003_sessions_back_to_django") == [
        ("messaging", "0017", "", False),
        ("botadmin", "0003", "_sessions_back_to_django", False),
    ]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_migration_the_docs_name_exists(path):
    wrong = []
    for app, number, name, _migrate in references(path.read_text()):
        exists = migration_name(app, number)
        if exists is None or (name and exists != number + name):
            wrong.append(f"{app} {number}{name} (the app has {exists or 'no ' + number})")
    assert not wrong, wrong


def test_the_concurrently_section_lists_the_migrations_that_build_or_drop_concurrently():
    """docs/upgrading.md, "Indexes built `CONCURRENTLY`": each index migration that builds
    or drops without locking, and the autovacuum ones it ends with; no other."""
    concurrently = {
        key
        for key, migration in MIGRATIONS.items()
        if any(
            type(operation).__name__.endswith("WithoutLocking")
            for operation in migration.operations
        )
    }
    autovacuum = autovacuum_migrations()
    assert autovacuum
    listed = named(section("docs/upgrading.md", "### Indexes built `CONCURRENTLY`"))
    assert listed == concurrently | autovacuum


def test_the_autovacuum_section_names_its_migrations_and_what_reverses_them():
    text = section("docs/database.md", "## Autovacuum of the busiest tables")
    autovacuum = named(text)
    assert autovacuum == autovacuum_migrations()
    assert named(text, migrate_targets=True) == {
        MIGRATIONS[key].dependencies[0] for key in autovacuum
    }


def test_the_dropped_foreign_key_indexes_are_the_migrations_that_drop_them():
    """docs/database.md's table: each row's migration drops that foreign key's index, and
    every such drop has its row."""
    model_of_table = {model._meta.db_table: model._meta for model in apps.get_models()}
    rows = re.findall(
        r"^\| `(\w+) \((\w+)_id\)` \|.*\| `(\w+) (0\d{3})` \|$",
        section("docs/database.md", "## Indexes: none covered by another"),
        re.M,
    )
    documented = set()
    for table, column, app, number in rows:
        model_name = model_of_table[table].model_name
        documented.add((app, migration_name(app, number), model_name, column))
    dropped = {
        (app, name, operation.model_name_lower, operation.name)
        for app, name in with_operation(RemoveForeignKeyIndexWithoutLocking)
        for operation in MIGRATIONS[app, name].operations
        if isinstance(operation, RemoveForeignKeyIndexWithoutLocking)
    }
    assert documented == dropped


def test_the_database_defaults_set_later_are_listed():
    """docs/upgrading.md, "Columns the previous release does not know": every migration
    that gives earlier columns their database default."""
    listed = named(section("docs/upgrading.md", "### Columns the previous release does not know"))
    assert with_operation(AlterDatabaseDefault) <= listed


def test_the_batched_fills_are_listed_among_the_long_migrations():
    fills = {key for key in with_operation(RunPython) if not MIGRATIONS[key].atomic}
    assert fills
    assert fills <= named(section("docs/upgrading.md", "### Migrations that fill every row"))
