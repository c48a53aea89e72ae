from django.db import migrations

from botadmin.migration_operations import RunSQLOnPostgreSQL

# As messaging 0026 for the message table: each delivery is updated as it goes out
# (pending, delivering, delivered), so dead rows pile up fast (docs/database.md).
VACUUM_SOONER = "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01"
PARAMETERS = "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor"


class Migration(migrations.Migration):
    """The webhook delivery table is vacuumed and analysed sooner (PostgreSQL's per-table
    storage parameters; a catalogue change under a lock that lets reads and writes go
    on). Nothing on SQLite."""

    dependencies = [
        ('forwarding', '0010_foreign_keys_covered_by_other_indexes'),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            f"ALTER TABLE messaging_webhookdelivery SET ({VACUUM_SOONER})",
            f"ALTER TABLE messaging_webhookdelivery RESET ({PARAMETERS})",
        ),
    ]
