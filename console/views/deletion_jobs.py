"""A deletion job's progress page (a bot's or a conversation's: views/bot_delete.py,
views/conversation_delete.py), its live block, and "Try again" for one that failed.

The page is for whoever sees the bot (its operators: the bot's pages link to it while the
deletion runs), the one who asked and superusers: the bot or the conversation is gone at
the end, the job stays. Trying again is for who may ask for the deletion
(`deletions.services.may_retry`).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conversations.models import Bot
from conversations.services import bots_visible_to
from deletions import services
from deletions.models import DeletionJob

from ..login_required import login_required


def _visible_job_or_404(user, job_id: int) -> DeletionJob:
    job = get_object_or_404(DeletionJob, pk=job_id)
    if user.is_superuser or job.requested_by_id == user.pk:
        return job
    if bots_visible_to(user).filter(pk=job.bot_ref).exists():
        return job
    raise Http404  # like a job that does not exist


def _context(request, job: DeletionJob) -> dict:
    return {
        "job": job,
        "rows": services.progress_rows(job),
        "may_retry": services.may_retry(request.user, job),
    }


@login_required
def deletion_page(request, job_id: int):
    job = _visible_job_or_404(request.user, job_id)
    context = _context(request, job)
    # Back to where the target was: a conversation's bot, while it is there.
    if job.kind == DeletionJob.Kind.CONVERSATION:
        context["bot"] = Bot.objects.filter(pk=job.bot_ref).only("pk", "name").first()
    return render(request, "console/deletions/page.html", context)


@login_required
def deletion_status(request, job_id: int):
    """The progress block for the page's poller (static/botadmin/sync-status.js)."""
    job = _visible_job_or_404(request.user, job_id)
    html = render_to_string(
        "console/deletions/_progress.html", _context(request, job), request=request
    )
    return JsonResponse({"active": job.is_unfinished, "html": html})


@login_required
@require_POST
def deletion_retry(request, job_id: int):
    job = _visible_job_or_404(request.user, job_id)
    if job.status != DeletionJob.Status.FAILED:
        messages.info(request, _("This deletion has not failed: nothing to try again."))
        return redirect("console:deletion", job_id=job.pk)
    if not services.may_retry(request.user, job):
        raise PermissionDenied
    followed = services.retry(job, request.user)
    if followed.pk == job.pk:
        messages.success(request, _("The deletion was started again."))
    else:
        messages.info(request, _("Another deletion of it is under way: follow it here."))
    return redirect("console:deletion", job_id=followed.pk)
