import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    beat_embedded_init,
    beat_init,
    celeryd_init,
    task_prerun,
    worker_init,
    worker_process_shutdown,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")

# Tasks are published by calling them (`task.delay_on_commit(...)`); the class
# makes that never wait for the broker (botadmin/wakeups.py).
app = Celery("botadmin", task_cls="botadmin.wakeups:Task")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def _quiet_housekeeping(logger, **_kwargs) -> None:
    from django.conf import settings

    from botadmin.logging import QuietHousekeepingFilter

    quiet = QuietHousekeepingFilter(
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    for handler in logger.handlers:
        handler.addFilter(quiet)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _masked_and_formatted(logger, **_kwargs) -> None:
    # Celery replaces the root logger's handlers with its own: give them the
    # masking and, with LOG_FORMAT=json, the JSON lines the web process writes.
    from django.conf import settings

    from botadmin.logging import use_format

    for handler in logger.handlers:
        use_format(handler, "json" if settings.LOG_FORMAT == "json" else "text")


@celeryd_init.connect
def _no_banner_in_json_logs(instance, **_kwargs) -> None:
    # The worker prints a banner of 40-odd text lines (its queues and tasks) on standard
    # output, which systemd sends to the journal with the logs: with LOG_FORMAT=json a
    # log shipper would fail on each. Sent before the banner, as `celery --quiet` would.
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        instance.quiet = True


def _beat(**options):
    # `celery beat` as Celery makes it, without its banner (ten lines of text on standard
    # output, with no signal sent before them) when LOG_FORMAT=json, as the worker above.
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        options["quiet"] = True
    return app.subclass_with_self("celery.apps.beat:Beat")(**options)


app.Beat = _beat


@task_prerun.connect
def _fresh_log_context(**_kwargs) -> None:
    from botadmin.logging import clear_context

    clear_context()


@worker_ready.connect
def _worker_heartbeat(sender, **_kwargs) -> None:
    from botadmin import health

    health.start_worker_heartbeats({queue.name for queue in sender.task_consumer.queues})


@worker_init.connect
def _fresh_worker_metrics(**_kwargs) -> None:
    from botadmin import metrics

    metrics.clean_role_dir("worker")


@worker_process_shutdown.connect
def _pool_process_metrics_gone(pid: int, **_kwargs) -> None:
    """A pool process leaving (replaced after a crash or `--max-tasks-per-child`, or the
    worker stopping), in that process: its live gauges go, as gunicorn's `child_exit` does
    for a web worker; its counters stay, still added up."""
    from botadmin import metrics

    metrics.process_gone(pid)


@beat_init.connect
def _fresh_beat_metrics(**_kwargs) -> None:
    from botadmin import metrics

    metrics.clean_role_dir("beat")


@beat_init.connect
@beat_embedded_init.connect
def _beat_heartbeat(**_kwargs) -> None:
    from botadmin import health

    health.start_heartbeat("beat")
