"""The pages an operator reads about forwarding and delivery on a phone, in both
languages: a bot's webhook endpoints, an endpoint's deliveries and their attempts, and a
message's details (inbound: its forwarding; outbound: its delivery attempts). Nothing
wider than the screen. Screenshots in test-artifacts/console/ (1366 and 390 px)."""

from datetime import timedelta

from django.utils import timezone

from botadmin.http_failures import REFUSED
from botadmin.reasons import Reason
from forwarding import attempt_reasons
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from messaging.models import DeliveryAttempt, Message
from tests.browser import needs_chromium

from .browser import each_language_and_width, log_in, shoot

pytestmark = needs_chromium

LONG = "Q4RegionalSalesOperationsCoordinationGroup" + "X" * 30


def _forwarded_with_failures(bot, group) -> tuple[WebhookEndpoint, Message, Message]:
    """An endpoint whose delivery of an inbound message failed twice (an HTTP 503, then no
    answer), and an outbound message that failed after two attempts."""
    endpoint = WebhookEndpoint.objects.create(
        bot=bot,
        url="https://hooks.example/botadmin/inbound/" + "segment" * 8,
        description=LONG,
        failure_streak=2,
        failing_since=timezone.now() - timedelta(minutes=5),
    )
    inbound = Message.objects.filter(conversation=group, direction="in").latest("pk")
    delivery = WebhookDelivery.objects.create(
        message=inbound,
        endpoint=endpoint,
        status=WebhookDelivery.Status.PENDING,
        attempt_count=2,
        last_http_status=503,
        last_error=attempt_reasons.answered(503),
        next_attempt_at=timezone.now() + timedelta(minutes=3),
    )
    started = timezone.now() - timedelta(minutes=2)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        url=endpoint.url,
        started_at=started,
        duration_ms=120,
        outcome=WebhookAttempt.Outcome.FAILURE,
        http_status=503,
        response_text='{"error": "upstream overloaded, try again later"}',
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=2,
        url=endpoint.url,
        started_at=started + timedelta(minutes=1),
        duration_ms=10_000,
        outcome=WebhookAttempt.Outcome.FAILURE,
        response_text=Reason(
            attempt_reasons.NO_ANSWER, error=Reason(attempt_reasons.EARLIER_WORDING[2])
        ),
    )
    outbound = Message.objects.create(
        bot=bot,
        conversation=group,
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "今晚八点发货"}},
        search_text="今晚八点发货",
        status="failed",
        attempt_count=2,
        source="api",
        last_error=Reason(
            "gave up after %(count)s attempts: %(reason)s",
            count=2,
            reason=Reason("agent unreachable: %(error)s", error=Reason(REFUSED, host="127.0.0.1")),
        ),
    )
    for number in (1, 2):
        DeliveryAttempt.objects.create(
            message=outbound,
            started_at=started + timedelta(minutes=number),
            duration_ms=3,
            outcome="retry",
            response_text=Reason(
                "agent unreachable: %(error)s", error=Reason(REFUSED, host="127.0.0.1")
            ),
        )
    return endpoint, inbound, outbound


def test_forwarding_and_delivery_pages_fit_a_phone_in_both_languages(page, demo):
    bot, group = demo
    endpoint, inbound, outbound = _forwarded_with_failures(bot, group)
    log_in(page)

    pages = {
        "webhooks": f"/console/bots/{bot.pk}/webhooks/",
        "endpoint": f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/",
        "inbound-details": (
            f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{inbound.pk}/trace"
        ),
        "outbound-details": (
            f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{outbound.pk}/trace"
        ),
    }
    too_wide, cramped = {}, {}
    for language, viewport, name in each_language_and_width(page, pages):
        for summary in page.locator("main details > summary").all():
            summary.click()
        shoot(page, f"forwarding-{name}-{language}-{viewport['width']}")
        if name == "endpoint":  # its health, capitalised as the statuses beside it
            health = page.locator("main .page-head .badge").first.inner_text()
            assert health == {"zh": "失败中", "en": "Failing"}[language]
        if name == "inbound-details":  # a Chinese colon, the time kept on one line
            next_attempt = page.locator(".forwarding p").first.inner_text()
            said = "下次尝试：" if language == "zh" else "Next attempt: "
            assert said in next_attempt and "下次尝试:" not in next_attempt
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide[(language, name, viewport["width"])] = width
        cells = {"endpoint": ".deliveries td:has(> details)", "-details": ".trace-table td.answer"}
        for page_name, cell in cells.items():
            if page_name in name:  # on a phone the table scrolls, its columns readable
                narrowest = min(box.bounding_box()["width"] for box in page.locator(cell).all())
                if narrowest < 200:
                    cramped[(language, name, viewport["width"])] = narrowest
    assert too_wide == {}
    assert cramped == {}
