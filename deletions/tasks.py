"""Celery tasks: thin wrappers around deletions.services."""

from celery import shared_task

from . import services


@shared_task(name="deletions.run_deletion_job", ignore_result=True)
def run_deletion_job(job_ids: list[int]) -> None:
    """Run these deletion jobs; one that has more to do goes on in a fresh task."""
    for job_id in job_ids:
        if services.run_job(job_id):
            run_deletion_job.delay([job_id])


@shared_task(name="deletions.resume_deletion_jobs", ignore_result=True)
def resume_deletion_jobs() -> int:
    """The sweeper: jobs whose wake-up was lost or whose worker died."""
    ids = services.abandoned_jobs()
    for job_id in ids:
        run_deletion_job.delay([job_id])
    return len(ids)
