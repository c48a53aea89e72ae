# How often a bot connection's state changed, for /metrics' flapping alert: flapping that
# never reaches "connected" makes no connection. Rows there already count from 0 (a constant
# default: PostgreSQL does not rewrite the table).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0037_connection_state_changed_at_and_count'),
    ]

    operations = [
        migrations.AddField(
            model_name='botconnection',
            name='state_changes',
            field=models.PositiveBigIntegerField(db_default=0, default=0, editable=False, verbose_name='state changes'),
        ),
    ]
