"""Celery tasks of announcements: thin wrappers that take ids and are safe to run twice."""

from celery import shared_task

from .fanout import fan_out, resume_stalled_fan_outs
from .scheduler import start_due_announcements


@shared_task(name="messaging.announcements.tick", ignore_result=True)
def tick() -> None:
    """The scheduler: run by one beat entry every few seconds. (Scheduled messages, an
    announcement's included, are released by messaging's own task.)"""
    start_due_announcements()
    resume_stalled_fan_outs()


@shared_task(name="messaging.announcements.fan_out", ignore_result=True)
def fan_out_task(run_id: int) -> None:
    fan_out(run_id)


@shared_task(name="announcements.forget_old_recipients", ignore_result=True)
def forget_old_recipients() -> int:
    """Nightly: the recipient lists of finished runs past the message retention, and
    uploaded images nothing names any more."""
    from .retention import forget_old_recipients
    from .uploaded_images import delete_unused_images

    forgotten = forget_old_recipients()
    delete_unused_images()
    return forgotten
