import os

from celery import Celery
from celery.signals import after_setup_logger, task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")

app = Celery("botadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["messaging.announcements"])


@task_postrun.connect
def _publish_wakeups(**_kwargs) -> None:
    # Wake-ups a task queued go out before the task counts as done, not from a
    # thread a recycled worker process may take down with it.
    from botadmin import wakeups

    wakeups.flush()


@after_setup_logger.connect
def _quiet_housekeeping(logger, **_kwargs) -> None:
    from django.conf import settings

    from botadmin.logging import QuietHousekeepingFilter

    quiet = QuietHousekeepingFilter(
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    for handler in logger.handlers:
        handler.addFilter(quiet)
