"""What the compose and detail pages preview: run times, run estimates, a markdown message,
and the uploaded images agents fetch."""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import formats, timezone
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django.views.static import serve

from announcements import editing, estimates
from announcements.models import Announcement
from announcements.schedule import Schedule, ScheduleError, parse
from botadmin.ids import id_or_none
from conversations.services import bots_visible_to

from .. import markdown
from ..bubbles import mention_names
from ..forms import MarkdownPreviewForm
from ..login_required import login_required
from ..send_questions import run_time_label
from .scoping import int_param


def estimate_words(
    recipients: int, bot, *, starts_now: bool, besides: Announcement | None = None
) -> str:
    """How long a run takes, as the compose page and the detail page both say it: behind
    the bot's backlog for a run starting now, the pace alone for a later one."""
    duration, waiting = estimates.run_estimate(
        recipients, bot, starts_now=starts_now, besides=besides
    )
    values = {
        "recipients": ngettext("%(n)d recipient", "%(n)d recipients", recipients)
        % {"n": recipients},
        "rate": bot.rate_limit_per_minute,
        "about": about(duration),
        "waiting": waiting,
    }
    if not waiting:
        return _("%(recipients)s at %(rate)d/min: %(about)s.") % values
    return (
        ngettext(
            "%(recipients)s at %(rate)d/min, behind the %(waiting)d message already "
            "waiting for this bot: %(about)s.",
            "%(recipients)s at %(rate)d/min, behind the %(waiting)d messages already "
            "waiting for this bot: %(about)s.",
            waiting,
        )
        % values
    )


@login_required
@require_GET
def run_estimate(request):
    """The compose page's estimate for the recipients chosen so far (`estimate_words`)."""
    bot_id, recipients = id_or_none(request.GET.get("bot", "")), int_param(request, "n")
    if bot_id is None or recipients is None or recipients < 0:
        raise Http404
    bot = get_object_or_404(bots_visible_to(request.user), pk=bot_id)
    starts_now = request.GET.get("kind", "now") == Announcement.Kind.NOW
    text = estimate_words(recipients, bot, starts_now=starts_now) if recipients else ""
    return JsonResponse({"text": text})


def about(duration: timedelta) -> str:
    """How long a run takes, in words: seconds under a minute (two messages at 20/min
    take 6 s, not "about 1 minute")."""
    seconds = math.ceil(duration.total_seconds())
    if seconds < 60:
        return ngettext("about %(n)d second", "about %(n)d seconds", seconds) % {"n": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("about %(n)d minute", "about %(n)d minutes", minutes) % {"n": minutes}


def _preview(announcement: Announcement) -> dict:
    nothing = {"preview_times": [], "skipped_months": ""}
    # A draft has no next run: it is sent only when the operator sends it.
    if announcement.status != Announcement.Status.ACTIVE:
        return nothing
    try:
        schedule = parse(announcement.schedule_kind, announcement.schedule, announcement.timezone)
    except ScheduleError:
        return nothing
    now = timezone.now()
    return {
        "preview_times": [run_time_label(t, schedule.tz) for t in schedule.preview(now)],
        "skipped_months": skipped_months_note(schedule, now),
    }


def skipped_months_note(schedule: Schedule, now: datetime) -> str:
    """For a monthly day some months lack (29-31): which of the next twelve have no run."""
    months = schedule.skipped_months(now)
    if not months:
        return ""
    names = [formats.date_format(month, "YEAR_MONTH_FORMAT") for month in months]
    return _(
        "Day %(day)d is missing from some months: no run in %(months)s. "
        "Choose “Last day of the month” to run at the end of every month."
    ) % {"day": schedule.month_day, "months": get_text_list(names, _("and"))}


@login_required
@require_GET
def schedule_preview(request):
    """The next five run times of the schedule being composed, for the compose page."""
    spec = {
        key: request.GET.get(key)
        for key in ("at", "time", "month_day", "cron", "until")
        if request.GET.get(key)
    }
    spec["weekdays"] = request.GET.getlist("weekdays")
    tz_name = request.GET.get("timezone") or settings.TIME_ZONE
    now = timezone.now()
    try:
        # Checked as Schedule will check it, so a time that has passed or an end date that
        # leaves no run is said while typing, not listed as a next run or left blank.
        schedule = editing.checked_schedule(
            request.GET.get("kind", "now"), spec, tz_name, as_draft=False, now=now
        )
    except (ScheduleError, ValueError) as error:
        return JsonResponse({"times": [], "error": str(error)})
    return JsonResponse(
        {
            "timezone": tz_name,
            "times": [run_time_label(t, schedule.tz) for t in schedule.preview(now)],
            "skipped_months": skipped_months_note(schedule, now),
            "error": "",
        }
    )


@login_required
@require_POST
def message_preview(request):
    """A markdown message being composed as the chat shows it: the compose page's preview
    draws it with the timeline's renderer instead of a second one in JavaScript."""
    form = MarkdownPreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    data = form.cleaned_data
    names = {}
    bot_id = id_or_none(request.POST.get("bot", ""))
    bot = bots_visible_to(request.user).filter(pk=bot_id).first() if bot_id else None
    if bot is not None:  # its <@userid> mentions named as the announcement's page names them
        body = {data["msgtype"]: {"content": data["content"]}}
        names = mention_names(bot, [Announcement(msgtype=data["msgtype"], body=body)])
    return HttpResponse(markdown.render(data["content"], data["msgtype"], names))


def uploaded_image(request, name: str):
    """An image uploaded for an announcement; public, because agents and WeCom fetch it by URL."""
    return serve(request, f"announcements/{name}", document_root=settings.MEDIA_ROOT)
