from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from botadmin import tasks
from botadmin.models import UserSession


def test_expired_sessions_are_cleared_every_hour_and_live_ones_kept(db, settings):
    get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True)
    live, stale = Client(), Client()
    assert live.login(username="ops", password="pw-123456")
    assert stale.login(username="ops", password="pw-123456")
    Session.objects.filter(session_key=stale.cookies["sessionid"].value).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    tasks.clear_expired_sessions()

    assert list(Session.objects.values_list("session_key", flat=True)) == [
        live.cookies["sessionid"].value
    ]
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [
        live.cookies["sessionid"].value
    ]
    entry = settings.CELERY_BEAT_SCHEDULE["clear-expired-sessions"]
    assert entry["task"] == tasks.clear_expired_sessions.name
