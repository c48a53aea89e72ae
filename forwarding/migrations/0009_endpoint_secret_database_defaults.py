import conversations.secrets
from django.db import migrations, models

from botadmin.migration_operations import AlterDatabaseDefault


class Migration(migrations.Migration):
    """Database defaults for the NOT NULL signing secret columns `0007` added without one:
    a process of the previous release, which does not know them, can then still create a
    webhook endpoint while a rolling upgrade runs (PostgreSQL; CONTRIBUTING.md,
    "Migrations"). Such an endpoint gets a fresh random secret from the database
    (`DatabaseSigningSecret`), never a shared constant. A catalogue change, no row is
    read or written."""

    dependencies = [
        ('forwarding', '0008_database_defaults'),
    ]

    operations = [
        AlterDatabaseDefault(
            model_name='webhookendpoint',
            name='previous_signing_secret',
            field=models.CharField(blank=True, db_default='', default='', max_length=100, verbose_name='previous signing secret'),
        ),
        AlterDatabaseDefault(
            model_name='webhookendpoint',
            name='signing_secret',
            field=models.CharField(db_default=conversations.secrets.DatabaseSigningSecret(), default=conversations.secrets.generate_signing_secret, max_length=100, verbose_name='signing secret'),
        ),
    ]
