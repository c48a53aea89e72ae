"""Housekeeping of the project itself."""

from celery import shared_task

from . import sessions


@shared_task(name="botadmin.clear_expired_sessions")
def clear_expired_sessions() -> None:
    """Hourly: delete expired sessions, as Django's `clearsessions` command does.
    Expired rows already log no one in; without this they would pile up."""
    sessions.clear_expired()
