# When a bot connection's state last changed and how many connections were made, for
# /metrics' alerts that a connection dropping between two scrapes cannot reset. Rows there
# already count from the migration (the statement's time, a stable default: PostgreSQL does
# not rewrite the table).

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0036_contact_name_characters_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='botconnection',
            name='connections_made',
            field=models.PositiveBigIntegerField(db_default=0, default=0, editable=False, verbose_name='connections made'),
        ),
        migrations.AddField(
            model_name='botconnection',
            name='state_changed_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=django.utils.timezone.now, verbose_name='state changed at'),
        ),
    ]
