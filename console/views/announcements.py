"""Console pages for announcements. Thin: forms in, services do the work, templates out."""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST
from django.views.static import serve

from announcements import editing, estimates, operator_actions
from announcements.audience import (
    RECEIVES,
    AudienceForm,
    AudienceSearchForm,
    count_now,
    kind_counts,
    recipients_by_name,
    results_page,
)
from announcements.forms import (
    BOT_CONVERSATION_FIELDS,
    ComposeForm,
    initial_from,
    public_image_url,
    staged,
    store_upload,
    typed_for_bot_switch,
)
from announcements.models import Announcement, AnnouncementRun
from announcements.progress import runs_progress
from announcements.schedule import Schedule, ScheduleError, parse
from announcements.scheduler import next_run_once_resumed
from botadmin.errors import ApiError
from botadmin.ids import id_or_none
from conversations.models import Conversation
from conversations.roles import may_create_bots
from conversations.services import bots_visible_to
from deletions import services as deletion_services
from messaging.models import Message

from .. import markdown
from ..bot_pause import connection_trouble, pause_context
from ..bubbles import mention_names
from ..conversation_list import most_recently_active_bot
from ..deletion_state import deletion_context, refusal
from ..forms import AnnouncementFilterForm, MarkdownPreviewForm
from ..login_required import login_required
from ..paging import numbered_page
from ..queries import filter_announcements, recipients_page, runs_page
from ..send_questions import run_time_label, send_question
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
# The compose page posted again (a double click, or Back and send) after it made its
# announcement: nothing more is saved, and the operator is shown the one it made.
ALREADY_SAVED = gettext_lazy(
    "This page had already saved this announcement: it was not saved or sent again. "
    "To send another, duplicate it."
)
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


@login_required
def compose(request, pk: int | None = None):
    announcement = _visible_announcement(request.user, pk) if pk else None
    if announcement and not announcement.is_editable:
        messages.error(request, editing.NOT_EDITABLE)
        return redirect("announcements:detail", pk=announcement.pk)
    bots = bots_visible_to(request.user)
    # "Duplicate": a new announcement that starts as a copy of one the user sees.
    source = announcement
    if source is None and request.method == "GET" and "from" in request.GET:
        source_id = id_or_none(request.GET["from"])
        if source_id is None:
            raise Http404
        source = _visible_announcement(request.user, source_id)
    # "Switch" posts the form: what was typed comes back for the other bot, nothing saved.
    # A new announcement or a duplicate switches; an edited one keeps its bot.
    switching = "switch_bot" in request.POST
    if source:
        bot = source.bot
    else:
        bot_id = request.POST.get("switch_to" if switching else "bot") or request.GET.get("bot")
        if bot_id and id_or_none(bot_id) is None:
            raise Http404
        if bot_id:
            bot = get_object_or_404(bots, pk=id_or_none(bot_id))
        else:
            bot = most_recently_active_bot(request.user)
    if bot is None:
        return render(
            request,
            "console/announcements/list.html",
            {"rows": [], "has_bots": False, "may_create": may_create_bots(request.user)},
        )
    saved_audiences = list(
        bot.saved_audiences.annotate(
            active=Count(
                "conversations",
                filter=Q(conversations__is_active=True, conversations__deletion_requested_at=None),
            )
        )
    )
    form_args = {
        "bot": bot,
        "saved_audiences": saved_audiences,
        "kept_zone": _kept_zone(request, source, bots),
    }
    confirming = ""
    if switching:
        same_bot = request.POST.get("bot") == str(bot.pk)
        form = ComposeForm(
            initial=typed_for_bot_switch(request.POST, same_bot=same_bot), **form_args
        )
        if announcement is None:
            _say_what_the_switch_left_out(request, bot, same_bot)
        else:
            _say_an_edit_keeps_its_bot(request)
    elif request.method == "POST":
        if (job := deletion_services.deletion_under_way(bot.pk)) is not None:
            return refusal(request, job)
        as_draft = "save_draft" in request.POST
        form = ComposeForm(request.POST, request.FILES, as_draft=as_draft, **form_args)
        valid = form.is_valid()
        question = _question(form, announcement) if valid and not as_draft else ""
        if request.POST.get("ask"):  # the page's script, before it sends (announcements.js)
            return JsonResponse({"question": question})
        if question and question not in request.POST.getlist("confirmed"):
            confirming = question  # not answered, or not this question: asked here
        elif valid:
            saved = _save(request, form, announcement)
            if saved is not None:
                return redirect("announcements:detail", pk=saved.pk)
    else:
        initial = initial_from(source) if source else None
        if announcement is not None:
            initial["edited_version"] = editing.edited_version(announcement)
        form = ComposeForm(initial=initial, **form_args)
    return render(
        request,
        "console/announcements/compose.html",
        {
            "form": form,
            "announcement": announcement,
            "duplicate_of": source if announcement is None else None,
            "bot": bot,
            "switch_bots": _switch_bots(bots, announcement),
            "saved_audiences": saved_audiences,
            "mention_contacts": mention_contacts(bot),
            "confirming": confirming,
            **_staged_image(form, stage=bool(confirming)),
            **_picker(form),
            **pause_context(request.user, bot, full=False),
            **connection_trouble(bot),
            **deletion_context(bot),
        },
    )


# The @mentions field suggests this many of the bot's contacts (by name) at most.
MENTION_SUGGESTIONS = 500


def mention_contacts(bot) -> list[tuple[str, str]]:
    """(user ID, name) of the bot's synced contacts, for the @mentions field's suggestions:
    the first MENTION_SUGGESTIONS in natural order (用户2 before 用户10, 李四 before 张三;
    botadmin.natural_order), as the audience picker lists them."""
    users = Conversation.objects.filter(bot=bot, kind=Conversation.Kind.USER, is_active=True)
    first = users.order_by("name_sort_key", "pk").values_list("conversation_id", "name")
    return list(first[:MENTION_SUGGESTIONS])


def _switch_bots(bots, announcement: Announcement | None) -> list:
    """The bots the "Switch bot" menu offers: a new announcement or a duplicate may go to
    any bot the operator sees; an edited one keeps its bot, and one bot offers no choice."""
    if announcement is not None:
        return []
    choices = list(bots)
    return choices if len(choices) > 1 else []


def _kept_zone(request, source: Announcement | None, bots) -> str:
    """The zone of the announcement edited or duplicated, which the form offers even when
    it no longer lists it. A duplicate posts back to its own address (?from=…)."""
    if source is not None:
        return source.timezone
    if request.method == "POST" and id_or_none(request.GET.get("from", "")) is not None:
        original = Announcement.objects.filter(pk=id_or_none(request.GET["from"]), bot__in=bots)
        return original.values_list("timezone", flat=True).first() or ""
    return ""


def _say_what_the_switch_left_out(request, bot, same_bot: bool) -> None:
    if not same_bot and any(request.POST.get(name) for name in BOT_CONVERSATION_FIELDS):
        messages.warning(
            request,
            _(
                "Now composing for %(bot)s: choose the recipients again, those chosen "
                "were the other bot's conversations."
            )
            % {"bot": bot},
        )
    if request.FILES.get("image_file"):
        messages.warning(
            request, _("Choose the image file again: switching bots does not keep it.")
        )


def _say_an_edit_keeps_its_bot(request) -> None:
    """A switch posted to an edit page (which offers none): its runs went to this bot's
    conversations, so the announcement stays with it, and saving is not what was asked."""
    messages.error(
        request,
        _(
            "Not saved: an announcement keeps the bot it was made for. To send this message "
            "from another bot, duplicate the announcement and switch the copy's bot."
        ),
    )


def _picker(form: ComposeForm) -> dict:
    """The audience picker as the compose form stands: its first page, the count of
    each choice and of the chosen conversations."""
    values = {name: form[name].value() for name in AudienceForm.base_fields}
    # Editing or duplicating, the list starts with the recipients it has.
    values["only_chosen"] = (
        form.data.get("only_chosen") if form.is_bound else bool(values["audience_base"])
    )
    picker = AudienceSearchForm(values, bot=form.bot)
    counts = kind_counts(form.bot)
    results = chosen = None
    if picker.is_valid():
        results = results_page(picker, counts)
        counts["matching"] = results.matching
        chosen = picker.chosen().filter(RECEIVES).count()
    counts["listed"] = chosen or 0
    return {
        "picker": picker,
        "results": results,
        "audience_counts": counts,
        "audience_choices": [
            (choice, counts.get(choice.data["value"])) for choice in form["audience"]
        ],
        "only_chosen": values["only_chosen"],
        "audience_mode": values["audience"] or Announcement.Audience.LISTED,
    }


@login_required
@require_POST
def audience_results(request):
    """A page of the compose page's audience picker (htmx): the bot's conversations
    matching the search, each checked when in the audience as it stands."""
    bot_id = id_or_none(request.POST.get("bot"))
    if bot_id is None:
        raise Http404
    bot = get_object_or_404(bots_visible_to(request.user), pk=bot_id)
    picker = AudienceSearchForm(request.POST, bot=bot)
    if not picker.is_valid():
        return HttpResponseBadRequest(_("Reload the page: the search was not understood."))
    # A first page without a search counts its matches as the compose page does, from the
    # shared cache: counting a bot's 100,000 conversations reads all of them (SQLite).
    return render(
        request,
        "console/announcements/_audience_results.html",
        {"picker": picker, "results": results_page(picker, kind_counts(bot)), "oob": True},
    )


def _question(form: ComposeForm, announcement: Announcement | None) -> str:
    """What to ask before the valid form is saved to go out (send_questions), or "" when
    it does not go out: a paused announcement stays paused, and a page that already made
    its announcement makes no other."""
    if announcement is not None and announcement.status == Announcement.Status.PAUSED:
        return ""
    if announcement is None and editing.saved_from(form.cleaned_data["submission"]):
        return ""
    data = form.cleaned_data
    return send_question(
        form.members().count(), data["kind"], form.schedule(), data["timezone"], timezone.now()
    )


def _staged_image(form: ComposeForm, *, stage: bool) -> dict:
    """The image of a post shown again, kept by the page: what it posts back for it, and
    its address for the preview. An upload is stored for a post asked to confirm (`stage`);
    a refused post keeps none (it may never be sent), only one stored before."""
    data = getattr(form, "cleaned_data", {})
    if data.get("msgtype") != "image":
        return {}
    if stage and data.get("image_file"):
        name = store_upload(data["image_file"])
    else:
        name = data.get("staged_image")
    if not name:
        return {}
    return {"staged_image": staged(name), "staged_image_url": default_storage.url(name)}


def _save(request, form: ComposeForm, announcement: Announcement | None) -> Announcement | None:
    data = form.cleaned_data
    image_url, upload = "", None
    if data["msgtype"] == "image" and data.get("image_file"):
        upload = store_upload(data["image_file"])
        image_url = public_image_url(upload)
    elif data["msgtype"] == "image" and data.get("staged_image"):
        image_url = public_image_url(data["staged_image"])
    try:
        # The audience is saved only with the announcement it was composed for.
        with transaction.atomic():
            saved_audience = None
            if data.get("saved_audience"):
                saved_audience = form.bot.saved_audiences.filter(pk=data["saved_audience"]).first()
            if data.get("save_audience_as"):
                saved_audience = editing.save_audience(
                    request.user, form.bot, data["save_audience_as"], data["conversation_ids"]
                )
            draft = editing.Draft(
                bot=form.bot,
                title=data["title"],
                body=form.body(image_url),
                conversation_ids=data["conversation_ids"],
                audience=data["audience_rule"],
                audience_search=data["audience_search"],
                kind=data["kind"],
                schedule=form.schedule(),
                timezone=data["timezone"],
                saved_audience=saved_audience,
                submission=data["submission"],
                edited_version=data["edited_version"],
            )
            saved = editing.save_announcement(
                request.user,
                draft,
                as_draft="save_draft" in request.POST,
                announcement=announcement,
            )
    except editing.AlreadySaved as already:
        if upload is not None:
            default_storage.delete(upload)
        messages.info(request, ALREADY_SAVED)
        return already.announcement
    except editing.EditedMeanwhile as meanwhile:
        if upload is not None:
            default_storage.delete(upload)
        # Posted again, the page saves over the other edit: the operator has been told.
        form.data = form.data.copy()
        form.data["edited_version"] = meanwhile.version
        form.add_error(None, editing.EDITED_MEANWHILE)
        return None
    except (ApiError, ScheduleError, editing.NotEditableError) as error:
        if upload is not None:
            default_storage.delete(upload)  # nothing refers to it
        if isinstance(error, ScheduleError):
            form.add_error("kind", str(error))
        elif isinstance(error, ApiError):
            form.add_body_error(error)
        else:
            form.add_error(None, str(error))
        return None
    if saved.status == Announcement.Status.DRAFT:
        messages.success(request, _("Draft saved."))
    else:
        _say_it_is_on_its_way(request, saved)
    return saved


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
