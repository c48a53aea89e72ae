"""What the console's pages say about a bot or a conversation being deleted
(deletions/services.py), and the refusal of what would write new data for it meanwhile.

A deletion deletes whatever it finds, a batch at a time, and deletes the bot or the
conversation last: a reply, a contact sync or a new webhook endpoint stored meanwhile
would either be deleted a moment later or, stored after the last batch, block the final
delete until the job's next attempt. So the pages say the deletion is under way, with
a link to its progress, and the views below refuse such writes, saying why.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from conversations.services import bots_visible_to
from deletions import services
from deletions.models import DeletionJob


def deletion_context(bot, conversation=None, *, deletions=None) -> dict:
    """For the banner (console/_deletion_banner.html): the job deleting the bot or the
    conversation, or the one that failed to; nothing otherwise. One query, none when the
    conversation was loaded with `services.newest_job_subquery` as `deletion_job_id`."""
    if conversation is not None and hasattr(conversation, "deletion_job_id"):
        job_id = conversation.deletion_job_id
        job = DeletionJob.objects.filter(pk=job_id).first() if job_id else None
    else:
        deletions = deletions or services.deletions_of(bot)
        job = deletions.about(conversation.pk if conversation is not None else None)
    job = services.shown(job, bot)
    return {"deletion": job} if job is not None else {}


def refusal_text(job: DeletionJob) -> str:
    if job.kind == DeletionJob.Kind.BOT:
        text = _("%(name)s is being deleted: nothing new is sent, synced or saved for it.")
    else:
        text = _("%(name)s is being deleted: nothing new is sent to it.")
    return text % {"name": job.target_label}


def refusal(request, job: DeletionJob) -> HttpResponse:
    """Say why, on the deletion's progress page (the reply box asks through htmx: the
    whole page goes there)."""
    messages.error(request, refusal_text(job))
    progress = reverse("console:deletion", args=[job.pk])
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": progress})
    return redirect(progress)


def refused_while_deleting(view):
    """For a view of bot `bot_id` (and conversation `pk`) that writes: refused while the
    bot or the conversation is being deleted. The user must see the bot to be told; others
    get what the view answers them (404)."""

    @wraps(view)
    def guarded(request, bot_id: int, *args, **kwargs):
        job = services.deletion_under_way(bot_id, kwargs.get("pk"))
        if job is not None and bots_visible_to(request.user).filter(pk=bot_id).exists():
            return refusal(request, job)
        return view(request, bot_id, *args, **kwargs)

    return guarded
