import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    beat_embedded_init,
    beat_init,
    task_postrun,
    worker_ready,
)

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


@worker_ready.connect
def _worker_heartbeat(**_kwargs) -> None:
    from botadmin import health

    health.start_heartbeat("worker")


@beat_init.connect
@beat_embedded_init.connect
def _beat_heartbeat(**_kwargs) -> None:
    from botadmin import health

    health.start_heartbeat("beat")
