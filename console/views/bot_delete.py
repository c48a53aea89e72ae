"""Deleting a bot from the console: a confirmation naming what goes, then the job's
progress (deletions/services.py does the work, in the background).

Only the bot's bot admins (conversations/roles.py) may ask; the progress page is
theirs, the asker's and superusers' (the bot itself is gone at the end).
"""

from __future__ import annotations

from django import forms
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from botadmin.forms import NoLabelSuffix
from conversations.models import Bot
from conversations.roles import is_bot_admin
from deletions import services
from deletions.models import DeletionJob

from ..login_required import login_required
from .bot_secrets import admin_bot_or_403


class ConfirmDeletionForm(NoLabelSuffix, forms.Form):
    name = forms.CharField(label=_("Type the bot's name to confirm"), max_length=100)

    def __init__(self, *args, bot: Bot, **kwargs):
        super().__init__(*args, **kwargs)
        self.bot = bot

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name != self.bot.name:
            raise forms.ValidationError(_("This is not the bot's name."), code="name")
        return name


@login_required
def bot_delete(request, bot_id: int):
    bot = admin_bot_or_403(request, bot_id)
    running = services.bot_being_deleted(bot.pk)
    if running is not None:
        return redirect("console:deletion", job_id=running.pk)
    form = ConfirmDeletionForm(request.POST or None, bot=bot)
    if request.method == "POST" and form.is_valid():
        job, _created = services.request_bot_deletion(bot, request.user, via="console")
        return redirect("console:deletion", job_id=job.pk)
    planned = DeletionJob(planned=services.planned_counts(DeletionJob.Kind.BOT, bot))
    context = {"bot": bot, "form": form, "rows": services.progress_rows(planned)}
    status = 400 if request.method == "POST" else 200
    return render(request, "console/deletions/confirm.html", context, status=status)


def _visible_job_or_404(user, job_id: int) -> DeletionJob:
    job = get_object_or_404(DeletionJob, pk=job_id)
    if user.is_superuser or job.requested_by_id == user.pk:
        return job
    bot = Bot.objects.filter(pk=job.bot_ref).first()
    if bot is not None and is_bot_admin(user, bot):
        return job
    raise Http404  # like a job that does not exist


def _context(job: DeletionJob) -> dict:
    return {"job": job, "rows": services.progress_rows(job)}


@login_required
def deletion_page(request, job_id: int):
    job = _visible_job_or_404(request.user, job_id)
    return render(request, "console/deletions/page.html", _context(job))


@login_required
def deletion_status(request, job_id: int):
    """The progress block for the page's poller (static/botadmin/sync-status.js)."""
    job = _visible_job_or_404(request.user, job_id)
    html = render_to_string("console/deletions/_progress.html", _context(job), request=request)
    return JsonResponse({"active": job.is_unfinished, "html": html})
