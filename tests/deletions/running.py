"""Run the deletion jobs a test queued, as the worker would (deletions.tasks)."""

from deletions import services
from deletions.models import DeletionJob


def run_deletions() -> None:
    for job in DeletionJob.objects.filter(status__in=DeletionJob.UNFINISHED):
        while services.run_job(job.pk):
            pass
