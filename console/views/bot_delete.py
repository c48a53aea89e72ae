"""Deleting a bot from the console: a confirmation naming what goes, then the job's
progress (views/deletion_jobs.py; deletions/services.py does the work, in the background).

Only the bot's bot admins (conversations/roles.py) may ask.
"""

from __future__ import annotations

from django import forms
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from botadmin.forms import NoLabelSuffix
from conversations.models import Bot
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
    rows = services.what_goes(DeletionJob.Kind.BOT, bot)
    context = {"bot": bot, "form": form, "rows": rows}
    status = 400 if request.method == "POST" else 200
    return render(request, "console/deletions/confirm.html", context, status=status)
