"""Once moved Django's sessions into botadmin's own session table. That table is
gone again (0003): sessions live in Django's `django_session`, and everybody
logs in once after the upgrade (docs/upgrading.md)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("botadmin", "0001_session"),
        ("sessions", "0001_initial"),
    ]

    operations = []
