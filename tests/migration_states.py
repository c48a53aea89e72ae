"""Taking the test database back to an app's earlier migration, and forward again, with
Django's MigrationExecutor: the tests of a data migration write rows with the models of
the state before it (`django_db(transaction=True)`: migrations run outside a test
transaction)."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_app_to(target: tuple[str, str]):
    """The target's app back (or on) to it, every other app at its latest; the models
    of that state."""
    executor = MigrationExecutor(connection)
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] != target[0]]
    executor.migrate([*leaves, target])
    return MigrationExecutor(connection).loader.project_state([*leaves, target]).apps


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
