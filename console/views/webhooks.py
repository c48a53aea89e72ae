"""A bot's webhook endpoints: health and deliveries for its operators; adding,
changing, testing, replaying, deleting, and revealing and rotating an endpoint's signing
secret for its bot admins (console/webhooks.py decides who)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from botadmin import reasons
from botadmin.forms import look_up_urls, new_submission, posted_submission, url_checks_remembered
from botadmin.reasons import Reason
from botadmin.timezones import zone_or_default
from connectors.registry import CONNECTORS
from conversations.secret_grace import (
    SIGNING_SECRET_NO_GRACE_QUESTION,
    GraceForm,
    grace_context,
    signing_secret_rotated_text,
)
from forwarding import attempt_reasons
from forwarding.endpoints import (
    EndpointExists,
    EndpointNotDeletable,
    add_endpoint,
    change_endpoint,
    delete_endpoint,
    reenable_endpoint,
    resumed_text,
    trailing_slash_warning,
    why_not_deletable,
)
from forwarding.forms import ReplayFailedForm, proposed_period, replay_posted
from forwarding.locks import lock_endpoint
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.recovery import default_since, latest_run
from forwarding.replay import (
    TestEventAlreadySent,
    replay_failed,
    replayed_failed_text,
    run_test_event,
)
from forwarding.signing_secrets import reveal_signing_secret, rotate_signing_secret

from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from ..webhooks import (
    EndpointForm,
    deliveries_page,
    may_manage_webhooks,
    retry_wait,
    shared_urls,
)
from .next_page import posted_next_page
from .scoping import int_param, visible_bot_or_404

TEST_ANSWER_SHOWN = 1000  # characters of a test event's answer kept for the page


def managed_bot(request, bot_id: int):
    """The bot, when the user may manage its webhook endpoints: 404 when they do not see it,
    403 when they only read it (the endpoint pages of webhook_recovery.py use it too)."""
    bot = visible_bot_or_404(request.user, bot_id)
    if not may_manage_webhooks(request.user, bot):
        raise PermissionDenied
    return bot


def endpoint_or_404(bot, endpoint_id: int) -> WebhookEndpoint:
    """The bot's endpoint of this id: another bot's is a 404."""
    return get_object_or_404(WebhookEndpoint, bot=bot, pk=endpoint_id)


@login_required
def webhook_list(request, bot_id: int, add_form=None):
    bot = visible_bot_or_404(request.user, bot_id)
    manage = may_manage_webhooks(request.user, bot)
    connector = CONNECTORS.get(bot.connector)
    endpoints = list(WebhookEndpoint.objects.filter(bot=bot))
    return render(
        request,
        "console/webhooks/list.html",
        {
            "bot": bot,
            "endpoints": endpoints,
            "shared_urls": shared_urls(endpoints),
            "may_manage": manage,
            "receives_nothing": bool(connector and not connector.receives_messages),
            "connector_label": connector.label if connector else bot.connector,
            "add_form": (add_form or EndpointForm()) if manage else None,
        },
        status=400 if add_form else 200,
    )


@login_required
@require_POST
@refused_while_deleting
def endpoint_add(request, bot_id: int):
    bot = managed_bot(request, bot_id)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return webhook_list(request, bot_id, add_form=form)
    try:
        endpoint = add_endpoint(request.user, bot, **form.endpoint_fields())
    except EndpointExists as exists:
        messages.info(
            request,
            _(
                "The bot already forwards to this URL: nothing was added. Change this "
                "endpoint's message types here instead."
            ),
        )
        return redirect("console:webhook", bot_id=bot.pk, endpoint_id=exists.endpoint.pk)
    messages.success(request, _("Endpoint added. Send it a test event to check it answers."))
    _warn_unknown_msgtypes(request, form)
    _warn_trailing_slash_twin(request, endpoint)
    return redirect("console:webhook", bot_id=bot.pk, endpoint_id=endpoint.pk)


def _warn_trailing_slash_twin(request, endpoint: WebhookEndpoint) -> None:
    if warning := trailing_slash_warning(endpoint):
        messages.warning(request, warning)


def _warn_unknown_msgtypes(request, form: EndpointForm) -> None:
    unknown = form.unknown_msgtypes()
    if unknown:
        messages.warning(
            request,
            _(
                "No message botadmin knows of has the type %(types)s: check the spelling, "
                "or the endpoint gets none of them."
            )
            % {"types": ", ".join(unknown)},
        )


def _test_result_key(endpoint_id: int) -> str:
    return f"console:webhook_test:{endpoint_id}"


@login_required
def endpoint_page(request, bot_id: int, endpoint_id: int, *, form=None, status=200):
    bot = visible_bot_or_404(request.user, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    # A test event's answer, shown once after its POST redirected here.
    test = request.session.pop(_test_result_key(endpoint.pk), None)
    if test:
        test["text"] = reasons.from_json(test.get("text"))
        if test["http_status"] and test["outcome"] != "success":
            test["meaning"] = attempt_reasons.answered(test["http_status"])
    manage = may_manage_webhooks(request.user, bot)
    shown = request.GET.get("status", "")
    return render(
        request,
        "console/webhooks/endpoint.html",
        {
            "bot": bot,
            "endpoint": endpoint,
            "may_manage": manage,
            "page": deliveries_page(
                endpoint,
                shown,
                before=int_param(request, "before"),
                after=int_param(request, "after"),
            ),
            "shown_status": shown,
            # Where a row's Replay comes back to: this page of deliveries (not after a
            # refused settings form, whose address only takes a POST).
            "this_page": request.get_full_path() if request.method == "GET" else "",
            "statuses": WebhookDelivery.Status.choices,
            "failed": endpoint.deliveries.filter(status=WebhookDelivery.Status.FAILED).count(),
            "retrying": retry_wait(endpoint),
            "form": (form or EndpointForm(instance=endpoint)) if manage else None,
            "replay_form": ReplayFailedForm(initial=proposed_period(endpoint)),
            "test": test,
            # The page's id in its test and replay buttons: posted twice, they act once.
            "submission": new_submission(),
            "kept_because": why_not_deletable(endpoint) if manage else "",
            # When forwarding here stopped, the default of "Forward the messages it missed".
            "recover_since": default_since(endpoint) if endpoint.stopped_at else None,
            # The last run of it: how many it queued, of how many, and whether it is done.
            "recovery": latest_run(endpoint) if manage else None,
            "bot_zone": zone_or_default(bot.timezone),
        },
        status=status,
    )


@login_required
@require_POST
@refused_while_deleting
def endpoint_change(request, bot_id: int, endpoint_id: int):
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    url_before = endpoint.url
    with url_checks_remembered():
        look_up_urls(EndpointForm(request.POST, instance=endpoint))  # not under the lock
        # Checked against the endpoint as stored now, locked till saved: a stale tab's
        # change to a field another tab or user changed meanwhile is refused.
        with transaction.atomic():
            current = lock_endpoint(endpoint.pk)  # its bot's row first (forwarding/locks.py)
            # The form's own copy: checking it sets its instance's fields.
            form = EndpointForm(request.POST, instance=WebhookEndpoint.objects.get(pk=current.pk))
            if form.is_valid():
                try:
                    endpoint = change_endpoint(request.user, current, **form.endpoint_fields())
                except EndpointExists as exists:
                    form.add_error("url", exists.message)
    if not form.is_valid():
        return endpoint_page(request, bot_id, endpoint_id, form=form, status=400)
    messages.success(request, _("Endpoint saved."))
    _warn_unknown_msgtypes(request, form)
    if endpoint.url != url_before:
        _warn_trailing_slash_twin(request, endpoint)
    return redirect("console:webhook", bot_id=bot.pk, endpoint_id=endpoint.pk)


@login_required
@require_POST
@refused_while_deleting
def endpoint_test(request, bot_id: int, endpoint_id: int):
    """Send a test event, then redirect to the endpoint's page, which shows the answer
    once (kept in the session): reloading the page does not send it again."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    back = reverse("console:webhook", args=[bot.pk, endpoint.pk]) + "#actions"
    try:
        result = run_test_event(request.user, endpoint, submission=posted_submission(request.POST))
    except TestEventAlreadySent as already:
        messages.info(request, already.message)
        return redirect(back)
    # A failure's reason is kept as a Reason (JSON), so it reads in the operator's language.
    text = result.text
    text = reasons.shorten(text, TEST_ANSWER_SHOWN) if isinstance(text, Reason) else text
    request.session[_test_result_key(endpoint.pk)] = {
        "outcome": result.outcome,
        "http_status": result.http_status,
        "duration_ms": result.duration_ms,
        "text": reasons.as_json(
            text if isinstance(text, Reason) else Truncator(text).chars(TEST_ANSWER_SHOWN)
        ),
    }
    return redirect(back)


@login_required
@require_POST
def endpoint_delete(request, bot_id: int, endpoint_id: int):
    """Delete an endpoint without deliveries (confirmed in the browser); one with a
    history is kept, and the page says why (forwarding.endpoints.why_not_deletable)."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    try:
        delete_endpoint(request.user, endpoint)
    except EndpointNotDeletable as refused:
        messages.error(request, str(refused))
        return redirect("console:webhook", bot_id=bot.pk, endpoint_id=endpoint.pk)
    messages.success(
        request,
        _("Endpoint %(url)s deleted. Nothing more is forwarded to it.") % {"url": endpoint},
    )
    return redirect("console:webhooks", bot_id=bot.pk)


@login_required
@require_POST
@refused_while_deleting
def endpoint_reenable(request, bot_id: int, endpoint_id: int):
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    if endpoint.disabled_at:
        resumed = reenable_endpoint(endpoint, actor=request.user)
        messages.success(request, resumed_text(resumed))
    return redirect("console:webhook", bot_id=bot.pk, endpoint_id=endpoint.pk)


@login_required
@require_POST
@refused_while_deleting
def endpoint_replay_failed(request, bot_id: int, endpoint_id: int):
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    form = ReplayFailedForm(request.POST)
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        count = replay_failed(request.user, endpoint, start, end)
        if count:
            messages.success(request, replayed_failed_text(count))
        else:
            messages.info(
                request, _("No failed delivery was received in this period: nothing was replayed.")
            )
    else:
        for error in form.errors.values():
            messages.error(request, " ".join(error))
    return redirect("console:webhook", bot_id=bot.pk, endpoint_id=endpoint.pk)


@login_required
@require_POST
@refused_while_deleting
def delivery_replay(request, bot_id: int, delivery_id: int):
    """Replay one delivery, then back to the page of deliveries it was replayed from
    (its tab and cursor), at its row."""
    bot = managed_bot(request, bot_id)
    delivery = get_object_or_404(WebhookDelivery, endpoint__bot=bot, pk=delivery_id)
    replay_posted(request, delivery)
    latest = reverse("console:webhook", args=[bot.pk, delivery.endpoint_id])
    return redirect(f"{posted_next_page(request, latest)}#delivery-{delivery.pk}")


@login_required
@require_POST
def endpoint_reveal_secret(request, bot_id: int, endpoint_id: int):
    """The endpoint's signing secret for a bot admin who clicked "Reveal" (audited)."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    return JsonResponse({"value": reveal_signing_secret(endpoint, request.user, via="console")})


@login_required
def endpoint_rotate_secret(request, bot_id: int, endpoint_id: int):
    """Issue the endpoint a new signing secret; for the chosen grace its deliveries carry a
    signature with the old one too (forwarding/signing_secrets.py)."""
    bot = managed_bot(request, bot_id)
    endpoint = endpoint_or_404(bot, endpoint_id)
    zone = zone_or_default(bot.timezone)
    form = GraceForm(
        request.POST or None, now=timezone.now(), zone=zone, secret=endpoint.signing_secret
    )
    if form.rotates():
        if rotated := form.rotate(request, rotate_signing_secret, endpoint, via=" in the console"):
            expires = rotated.previous_signing_secret_expires_at
            messages.success(request, signing_secret_rotated_text(expires, zone))
        return redirect(reverse("console:webhook", args=[bot.pk, endpoint.pk]) + "#signing-secret")
    context = {
        "bot": bot,
        "endpoint": endpoint,
        **grace_context(form, zone, SIGNING_SECRET_NO_GRACE_QUESTION),
    }
    # A post that rotated nothing is refused: a script sees it by the status.
    status = 400 if request.method == "POST" else 200
    return render(request, "console/webhooks/rotate_secret.html", context, status=status)
