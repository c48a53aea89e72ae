from django.db import migrations

from botadmin.migration_operations import RunSQLOnPostgreSQL

# PostgreSQL's defaults vacuum a table once a fifth of it is dead rows and analyse it once
# a tenth changed: at ten million messages, two million dead rows first (docs/database.md).
VACUUM_SOONER = "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01"
PARAMETERS = "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor"


class Migration(migrations.Migration):
    """The message table is vacuumed and analysed sooner (PostgreSQL's per-table storage
    parameters; a catalogue change under a lock that lets reads and writes go on).
    Nothing on SQLite."""

    dependencies = [
        ('messaging', '0027_foreign_keys_covered_by_other_indexes'),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            f"ALTER TABLE messaging_message SET ({VACUUM_SOONER})",
            f"ALTER TABLE messaging_message RESET ({PARAMETERS})",
        ),
    ]
