"""Console pages for announcements. Thin: forms in, services do the work, templates out."""

from datetime import timedelta

from django.contrib import messages
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from announcements import editing, operator_actions
from announcements.audience import count_now, recipients_by_name
from announcements.models import Announcement, AnnouncementRun
from announcements.progress import runs_progress
from announcements.schedule import ScheduleError
from announcements.scheduler import next_run_once_resumed
from botadmin.errors import ApiError
from botadmin.ids import id_or_none
from conversations.roles import may_create_bots
from conversations.services import bots_visible_to
from deletions import services as deletion_services
from messaging.models import Message

from ..bot_pause import pause_context
from ..bubbles import mention_names
from ..deletion_state import refusal
from ..forms import AnnouncementFilterForm
from ..login_required import login_required
from ..paging import numbered_page
from ..queries import filter_announcements, recipients_page, runs_page
from ..send_questions import send_question
from .announcement_previews import _preview, estimate_words
from .scoping import int_param

PER_PAGE = 50
# Runs on a page of an announcement's detail page; "Older runs" continues (keyset).
RUNS_PER_PAGE = 20
# Recipients of the run shown on a page of it; "Next" continues (keyset).
RECIPIENTS_PER_PAGE = 100
# A chosen list's recipients shown in the Audience panel; its recipients page has them all.
RECIPIENTS_ON_DETAIL_PAGE = 10
# The statuses of an announcement with a run to come, whose page says how long one takes.
RUNS_TO_COME = {Announcement.Status.DRAFT, Announcement.Status.ACTIVE, Announcement.Status.PAUSED}
ACTIONS = {
    "pause": operator_actions.pause,
    "resume": operator_actions.resume,
    "cancel": operator_actions.cancel,
}
# The actions that would make messages: refused while the bot is being deleted.
WRITES = {"retry", "send", "resume"}
# What each action did, in words matching the badge it leaves (已暂停, 已取消).
DONE = {
    "pause": gettext_lazy("Announcement paused: recipients not yet sent wait until you resume."),
    "resume": gettext_lazy("Announcement resumed: sending continues."),
    "cancel": gettext_lazy(
        "Announcement cancelled: recipients not yet sent will not get it; "
        "messages already sent stay in the history."
    ),
}
# A recurring announcement cancelled: no run starts again either (the question said so).
CANCELLED_RECURRING = gettext_lazy(
    "Announcement cancelled: it will not run again; recipients not yet sent will not get it; "
    "messages already sent stay in the history."
)

# The recipient table's chips (?recipients=…): a run's messages in these states.
RECIPIENT_FILTERS = {
    "failed": (gettext_lazy("Failed"), Message.Status.UNDELIVERED),
    "waiting": (gettext_lazy("Waiting"), Message.Status.UNFINISHED),
    "sent": (gettext_lazy("Sent"), (Message.Status.SENT,)),
}
# A draft has nothing to stop: "cancel" discards it (kept in the list as cancelled).
DISCARDED = gettext_lazy("Draft discarded: it stays in the list as cancelled.")


def _done(verb: str, announcement: Announcement, was_draft: bool) -> str:
    """What the action did, in the operator's words."""
    if verb == "cancel" and was_draft:
        return DISCARDED
    if verb == "cancel" and announcement.is_recurring:
        return CANCELLED_RECURRING
    return DONE[verb]


def _visible_announcement(user, pk: int) -> Announcement:
    return get_object_or_404(
        Announcement.objects.select_related("bot"), pk=pk, bot__in=bots_visible_to(user)
    )


@login_required
def announcement_list(request):
    bots = bots_visible_to(request.user).order_by("name")
    form = AnnouncementFilterForm(request.GET, bots=bots)
    matching = (
        Announcement.objects.filter(bot__in=bots)
        .select_related("bot")
        .annotate(
            # Its badge, and the status filter's "sending" (console.queries).
            still_sending=ExpressionWrapper(
                operator_actions.finished_but_still_sending(), output_field=BooleanField()
            ),
            last_run_id=Subquery(
                AnnouncementRun.objects.filter(announcement=OuterRef("pk"))
                .order_by("-scheduled_for")
                .values("pk")[:1]
            ),
        )
        .order_by("-id")
    )
    if form.is_valid():
        matching = filter_announcements(matching, form.cleaned_data)
    else:
        matching = matching.none()  # the form says what it did not understand
    page = numbered_page(matching, PER_PAGE, request.GET.get("page"))
    announcements = list(page.object_list)
    bot_count = bots.count()
    last_runs = {
        run.announcement_id: run
        for run in AnnouncementRun.objects.filter(
            pk__in=[a.last_run_id for a in announcements if a.last_run_id]
        ).defer("recipient_ids")  # counted in `recipient_total`
    }
    progress = runs_progress(list(last_runs.values()))
    rows = []
    for a in announcements:
        if a.status == Announcement.Status.PAUSED:
            # No run starts while paused: the column says when the next one would.
            a.once_resumed = _once_resumed(a)
        run = last_runs.get(a.pk)
        rows.append((a, run, progress[run.pk] if run else None, a.still_sending))
    return render(
        request,
        "console/announcements/list.html",
        {
            "rows": rows,
            "page": page,
            "form": form,
            # An empty list with no filter is not "nothing matches these filters".
            "filtered": any(request.GET.get(name) for name in form.fields),
            "has_bots": bot_count > 0,
            # With one bot the menu has nothing to choose, unless a link chose one.
            "bot_filter": bot_count > 1 or bool(request.GET.get("bot")),
            "may_create": may_create_bots(request.user),
        },
    )


def _say_it_is_on_its_way(request, announcement: Announcement) -> None:
    if announcement.schedule_kind == Announcement.Kind.NOW:
        messages.success(request, _("Announcement saved: it is being sent now."))
    else:
        messages.success(request, _("Announcement scheduled."))


def _send_draft(request, announcement: Announcement):
    """The draft page's "Send…": the draft as saved, checked as the compose page's send."""
    try:
        sent = editing.send_draft(request.user, announcement)
    except editing.NotADraft:
        messages.error(request, _("Not sent: this announcement is not a draft any more."))
    except ScheduleError as error:
        messages.error(
            request, _("Not sent: %(why)s Edit the draft to change it.") % {"why": error}
        )
    except ApiError as error:
        messages.error(request, _("Not sent: %(why)s") % {"why": error.errmsg})
    except editing.NoRecipients:
        messages.error(
            request,
            _(
                "Not sent: none of its recipients is an active conversation now. "
                "Edit the draft to choose them."
            ),
        )
    else:
        _say_it_is_on_its_way(request, sent)
    return redirect("announcements:detail", pk=announcement.pk)


@login_required
def detail(request, pk: int):
    announcement = _visible_announcement(request.user, pk)
    page = runs_page(announcement, int_param(request, "before"), RUNS_PER_PAGE)
    runs = page.rows
    run = runs[0] if runs else None
    if request.GET.get("run"):  # one of its runs, shown on the page of runs that lists it
        run_id = id_or_none(request.GET["run"])
        run = next((r for r in runs if r.pk == run_id), None)
        if run is None:
            run = get_object_or_404(announcement.runs, pk=run_id)
            return redirect(_page_with(request, announcement, run))
    recipients = None
    shown = request.GET.get("recipients", "")
    if shown not in RECIPIENT_FILTERS:
        shown = ""
    if run is not None:
        recipients = recipients_page(
            run,
            after=int_param(request, "recipients_after"),
            before=int_param(request, "recipients_before"),
            size=RECIPIENTS_PER_PAGE,
            statuses=RECIPIENT_FILTERS[shown][1] if shown else None,
        )
    progress = runs_progress(runs, announcement.bot)
    # The page keeps refreshing its runs while one is sending or about to start.
    starts_soon = (
        announcement.status == Announcement.Status.ACTIVE
        and announcement.next_run_at is not None
        and announcement.next_run_at - timezone.now() < timedelta(minutes=2)
    )
    running = any(not p["done"] for p in progress.values())
    # Due and not started yet (sent now, the scheduler a moment away): it is being sent.
    starting_now = (
        announcement.status == Announcement.Status.ACTIVE
        and announcement.next_run_at is not None
        and announcement.next_run_at <= timezone.now()
    )
    context = {
        "announcement": announcement,
        "runs": [(r, progress[r.pk]) for r in runs],
        "runs_page": page,
        "run": run,
        "recipients": recipients,
        "recipient_filters": [
            (key, label) for key, (label, _statuses) in RECIPIENT_FILTERS.items()
        ],
        "shown_recipients": shown,
        "starting_now": starting_now,
        "sending": starts_soon or running,
    }
    sending = (
        announcement.status == Announcement.Status.FINISHED
        and operator_actions.still_sending(announcement)
    )
    context["still_sending"] = sending
    context["may_pause"] = operator_actions.may_pause(announcement, sending)
    context["may_cancel"] = operator_actions.may_cancel(announcement, sending)
    partial = request.GET.get("partial") == "runs"
    # The audience panel's count, and a draft's question before it is sent.
    recipient_count = None
    if not partial or announcement.status == Announcement.Status.DRAFT:
        recipient_count = count_now(announcement)
    if announcement.status == Announcement.Status.DRAFT:
        context["send_confirm"] = send_question(
            recipient_count,
            announcement.schedule_kind,
            announcement.schedule,
            announcement.timezone,
            timezone.now(),
        )
    if announcement.status == Announcement.Status.PAUSED:
        context.update(_once_resumed(announcement))
    if partial:  # polled every 2 s while sending: the header and the runs, nothing else
        return render(request, "console/announcements/_live.html", context)
    context.update(
        {
            "recipient_count": recipient_count,
            "estimate": estimate_words(
                recipient_count,
                announcement.bot,
                starts_now=context["sending"],
                besides=announcement,
            )
            if announcement.status in RUNS_TO_COME
            else "",
            **_preview(announcement),
            "mentioned_names": mention_names(announcement.bot, [announcement]),
            **_first_recipients(announcement),
            **pause_context(request.user, announcement.bot, full=False),
        }
    )
    return render(request, "console/announcements/detail.html", context)


def _first_recipients(announcement: Announcement) -> dict:
    """The first of a chosen list's recipients by name, for its page's Audience panel, so
    that the operator can check them before it goes out; the rest, and a rule's, are on
    its recipients page (views/announcement_recipients.py)."""
    if announcement.audience != Announcement.Audience.LISTED:
        return {}
    rows, more = recipients_by_name(announcement, None, RECIPIENTS_ON_DETAIL_PAGE)
    return {"first_recipients": rows, "more_recipients": more is not None}


def _once_resumed(announcement: Announcement) -> dict:
    """What the header of a paused announcement and its row in the list say: its next run
    once resumed (its stored next run may have passed meanwhile), or that it runs as soon
    as resumed."""
    now = timezone.now()
    try:
        when = next_run_once_resumed(announcement, now)
    except ScheduleError:
        when = announcement.next_run_at
    return {"next_run_once_resumed": when, "runs_once_resumed": when is not None and when <= now}


def _page_with(request, announcement: Announcement, run: AnnouncementRun) -> str:
    """The address of the page of runs that lists `run` (chosen by ?run=), the rest of the
    query kept: the page below the run just newer than it, or the newest page."""
    newer = (
        announcement.runs.filter(scheduled_for__gt=run.scheduled_for)
        .order_by("scheduled_for")
        .values_list("pk", flat=True)
        .first()
    )
    query = request.GET.copy()
    query.pop("before", None)
    if newer is not None:
        query["before"] = newer
    return f"{request.path}?{query.urlencode()}"


@login_required
@require_POST
def act(request, pk: int, verb: str):
    announcement = _visible_announcement(request.user, pk)
    if verb in WRITES and (job := deletion_services.deletion_under_way(announcement.bot_id)):
        return refusal(request, job)
    if verb == "retry":
        run_id = id_or_none(request.POST.get("run"))
        if run_id is None:
            raise Http404
        run = get_object_or_404(announcement.runs, pk=run_id)
        count = operator_actions.retry_failed(request.user, run)
        messages.success(
            request,
            ngettext(
                "%(n)d failed recipient queued again.",
                "%(n)d failed recipients queued again.",
                count,
            )
            % {"n": count},
        )
        if announcement.bot.paused_at is not None:
            messages.warning(
                request,
                _(
                    "This bot's sending is paused: they wait until sending is resumed on "
                    "the bot's page."
                ),
            )
        # Back to that run, on whichever page of runs lists it.
        return redirect(f"{reverse('announcements:detail', args=[announcement.pk])}?run={run.pk}")
    elif verb == "send":
        return _send_draft(request, announcement)
    elif verb in ACTIONS:
        was_draft = announcement.status == Announcement.Status.DRAFT
        try:
            ACTIONS[verb](request.user, announcement)
        except operator_actions.NoLongerApplies:
            messages.error(
                request, _("Refused: the announcement has finished, nothing is left to send.")
            )
        else:
            messages.success(request, _done(verb, announcement, was_draft))
    else:
        raise Http404
    return redirect("announcements:detail", pk=announcement.pk)
