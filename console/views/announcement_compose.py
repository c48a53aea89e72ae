"""The announcement compose page (new, edit, duplicate): the form in, the announcement saved."""

from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from announcements import editing
from announcements.audience import SEARCH_BASE
from announcements.compose_initial import (
    BOT_CONVERSATION_FIELDS,
    initial_from,
    typed_for_bot_switch,
)
from announcements.forms import ComposeForm
from announcements.models import Announcement
from announcements.schedule import ScheduleError
from announcements.staged_images import public_image_url, staged, store_upload
from botadmin.errors import ApiError
from botadmin.ids import id_or_none
from conversations.models import Conversation
from conversations.roles import may_create_bots
from conversations.services import bots_visible_to
from deletions import services as deletion_services

from ..bot_pause import connection_trouble, pause_context
from ..conversation_list import most_recently_active_bot
from ..deletion_state import deletion_context, refusal
from ..login_required import login_required
from ..send_questions import send_question
from .announcement_audience import _picker
from .announcements import _say_it_is_on_its_way, _visible_announcement

# The compose page posted again (a double click, or Back and send) after it made its
# announcement: nothing more is saved, and the operator is shown the one it made.
ALREADY_SAVED = gettext_lazy(
    "This page had already saved this announcement: it was not saved or sent again. "
    "To send another, duplicate it."
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
            # "Select all N matching" made the selection a search: not the saved audience
            # it may have started from, whatever the page posts (audience-picker.js).
            searched = form.data.get("audience_base", "").startswith(f"{SEARCH_BASE}:")
            if data.get("saved_audience") and not searched:
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
