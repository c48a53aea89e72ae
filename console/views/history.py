from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from botadmin.errors import ApiError
from botadmin.ids import id_or_none
from connectors.registry import connector_class
from messaging.models import Message
from messaging.sending import accept_outbound

from .. import bubbles, history
from ..bot_pause import pause_context
from ..deletion_state import deletion_context, refused_while_deleting
from ..forms import JumpToDateForm, ReplyForm
from ..login_required import login_required
from ..message_fixes import fixes_for
from ..senders import name_senders
from .scoping import int_param, visible_conversation_or_404


def _visible_page_or_404(request, bot_id: int, pk: int):
    """The conversation and the page the query asks for. The latest, older and newer
    pages come with the conversation in one query; a jump to a message or a date
    finds the conversation first."""
    user = request.user
    before, after, at = (int_param(request, name) for name in ("before", "after", "at"))
    jump = JumpToDateForm(request.GET) if "date" in request.GET else None
    if before is not None:
        found = history.visible_page(user, bot_id, pk, before=before)
    elif after is not None:
        found = history.visible_page(user, bot_id, pk, after=after)
    elif at is None and (jump is None or not jump.is_valid()):
        found = history.visible_page(user, bot_id, pk)
    else:
        _bot, conversation = visible_conversation_or_404(user, bot_id, pk)
        if at is not None:
            return conversation, history.page_around(conversation, at)
        return conversation, history.page_at_date(conversation, jump.cleaned_data["date"])
    if found is None:
        raise Http404
    return found


def answerable_message(conversation) -> str:
    """The newest received message's msgid, which the reply box answers, where the
    bot's connector replies to messages (WeCom AI bots); "" elsewhere."""
    if not connector_class(conversation.bot.connector).replies:
        return ""
    newest = (
        Message.objects.filter(conversation=conversation, direction=Message.Direction.IN)
        .exclude(upstream_msgid="")
        .order_by("-id")
        .values_list("upstream_msgid", flat=True)
        .first()
    )
    return newest or ""


def reply_limit(bot) -> int:
    """The most UTF-8 bytes of text the bot's connector sends in one message."""
    return connector_class(bot.connector).limits.text


@login_required
def conversation_history(request, bot_id: int, pk: int, reply_form=None):
    conversation, page = _visible_page_or_404(request, bot_id, pk)
    bot = conversation.bot
    base_url = reverse("console:history", args=[bot.pk, conversation.pk])
    context = {
        "bot": bot,
        "conversation": conversation,
        "page": page,
        "base_url": base_url,
        "bubbles": history.with_day_dividers(
            bubbles.draw(
                page.messages,
                bot=bot,
                base_url=base_url,
                pending_statuses=Message.Status.UNFINISHED,
                focus_id=page.focus_id,
            )
        ),
    }
    if request.headers.get("HX-Request") and "before" in request.GET:
        # Infinite scroll: only the older messages and the next sentinel. When the
        # day shown on top goes on in them, its divider moves up to their first.
        if page.messages:
            top_day = history.day_of(conversation, int_param(request, "before"))
            last_day = context["bubbles"][-1][0].timeline_at
            if top_day == timezone.localdate(last_day):
                context["continued_day"] = top_day
        return render(request, "console/history/_older.html", context)
    context["jump_form"] = JumpToDateForm(request.GET if "date" in request.GET else None)
    context["reply_form"] = reply_form or ReplyForm(max_bytes=reply_limit(bot))
    context["reply_to"] = answerable_message(conversation)
    context.update(pause_context(request.user, bot, full=False))
    context.update(deletion_context(bot, conversation))
    return render(request, "console/history/page.html", context, status=400 if reply_form else 200)


@login_required
def history_updates(request, bot_id: int, pk: int):
    """Polled by the open timeline: messages newer than the last shown, and fresh
    states of the outbound messages it still shows as pending (swapped in place)."""
    after = int_param(request, "after") or 0
    found = history.visible_page(request.user, bot_id, pk, after=after)
    if found is None:
        raise Http404
    conversation, page = found
    bot = conversation.bot
    pending_ids = [
        i for v in request.GET.get("pending", "").split(",") if (i := id_or_none(v)) is not None
    ]
    shown = history.pending_in(conversation, pending_ids)
    refreshed = [m for m in shown if m.key <= after]
    # A scheduled message released since: it left its place for the end of the timeline.
    moved = [m.pk for m in shown if m.key > after]
    base_url = reverse("console:history", args=[bot.pk, conversation.pk])
    draw_args = {"bot": bot, "base_url": base_url, "pending_statuses": Message.Status.UNFINISHED}
    return render(
        request,
        "console/history/_updates.html",
        {
            "bot": bot,
            "conversation": conversation,
            "after": page.newest_key or after,
            "bubbles": history.with_day_dividers(
                bubbles.draw(page.messages, **draw_args),
                # The day already on screen goes on: no second divider for it.
                history.day_of(conversation, after) if page.messages and after else None,
            ),
            "refreshed": history.with_day_dividers(bubbles.draw(refreshed, oob=True, **draw_args)),
            "moved": moved,
        },
    )


@login_required
def message_trace(request, bot_id: int, pk: int, message_id: int):
    """One message's trace, loaded when the operator opens it in the timeline."""
    bot, conversation = visible_conversation_or_404(request.user, bot_id, pk)
    message = history.message_with_trace(conversation, message_id)
    if message is None:
        raise Http404
    in_timeline = bool(request.headers.get("HX-Request"))
    if not in_timeline:
        name_senders([message])  # the page says who sent it; in the timeline its bubble does
    template = "console/history/_trace.html" if in_timeline else "console/history/trace_page.html"
    return render(
        request,
        template,
        {
            "bot": bot,
            "conversation": conversation,
            "m": message,
            "fixes": fixes_for(message),
            # After a fix: the trace page again, or the timeline at the message.
            "next": "" if in_timeline else request.get_full_path(),
            "attempts": history.delivery_attempts(message)
            if message.direction == Message.Direction.OUT
            else [],
            "deliveries": history.forwarding_deliveries(message)
            if message.direction == Message.Direction.IN
            else [],
        },
    )


def _reply_body(cleaned: dict) -> dict:
    body = {"msgtype": "text", "text": {"content": cleaned["content"]}}
    if cleaned.get("reply_to"):
        body["reply_to"] = cleaned["reply_to"]
    return body


@login_required
@require_POST
@refused_while_deleting
def reply(request, bot_id: int, pk: int):
    bot, conversation = visible_conversation_or_404(request.user, bot_id, pk)
    form = ReplyForm(request.POST, max_bytes=reply_limit(bot))
    if form.is_valid():
        try:
            message = accept_outbound(
                bot=bot,
                conversation_id=conversation.conversation_id,
                body=_reply_body(form.cleaned_data),
                source=Message.Source.CONSOLE,
                created_by=request.user,
                idempotency_key=form.idempotency_key("reply"),
            )
        except ApiError as error:
            form.add_error("content", _("Not sent: %(errmsg)s") % {"errmsg": error.errmsg})
        else:
            if getattr(message, "replayed", False):
                messages.info(request, _("This reply was already queued: it is sent once."))
            else:
                messages.success(request, _("Reply queued for sending."))
            history_url = reverse("console:history", args=[bot.pk, conversation.pk])
            if request.headers.get("HX-Request"):
                return HttpResponse(headers={"HX-Redirect": history_url})
            return redirect(history_url)
    if request.headers.get("HX-Request"):
        # The reply box posted through htmx: only why not, into the box; the page, its
        # address and what was typed stay (a full answer left the browser on /reply).
        return render(request, "console/history/_reply_errors.html", {"reply_form": form})
    return conversation_history(request, bot_id, pk, reply_form=form)
