"""Moves the sessions of Django's table into botadmin's, each with its user's id,
so that nobody is logged out by the upgrade."""

from django.db import migrations
from django.utils import timezone

BATCH = 2000


def copy_sessions(apps, schema_editor):
    from botadmin.auth import SessionStore, logged_in_user_id

    django_session = apps.get_model("sessions", "Session")
    botadmin_session = apps.get_model("botadmin", "Session")
    alias = schema_editor.connection.alias
    decoder = SessionStore()  # decode() needs only the SECRET_KEY
    live = django_session.objects.using(alias).filter(expire_date__gt=timezone.now())
    batch = []
    for old in live.iterator(chunk_size=BATCH):
        batch.append(
            botadmin_session(
                session_key=old.session_key,
                session_data=old.session_data,
                expire_date=old.expire_date,
                user_id=logged_in_user_id(decoder.decode(old.session_data)),
            )
        )
        if len(batch) == BATCH:
            botadmin_session.objects.using(alias).bulk_create(batch, ignore_conflicts=True)
            batch = []
    botadmin_session.objects.using(alias).bulk_create(batch, ignore_conflicts=True)
    # What is left there would never be read again, nor expired by clearsessions.
    django_session.objects.using(alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("botadmin", "0001_session"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_sessions, migrations.RunPython.noop, elidable=True)]
