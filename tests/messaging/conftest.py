"""Delivery fixtures: a simulated clock, a fake WeCom robot API, and a driver that
runs the delivery engine the way the workers do, without waiting in real time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db.models import Min, Q
from django.utils import timezone

from conversations.models import Bot
from messaging.delivery import deliver
from messaging.models import Message
from messaging.sending import accept_outbound
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401  (the fake agent)
from tests.fakes.wecom import FakeWeCom


class SimClock:
    """A controllable clock for the delivery engine; starts at the real now."""

    def __init__(self):
        self.now = timezone.now()
        self.start = self.now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def elapsed(self) -> float:
        return (self.now - self.start).total_seconds()


@pytest.fixture(autouse=True)
def _fresh_cache(db):
    """Rate-limit state lives in the cache; each test starts without any."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def wecom(settings):
    with FakeWeCom(keys={"key-sales", "key-ops"}) as fake:
        settings.WECOM_API_BASE = fake.base_url
        yield fake


@pytest.fixture
def wecom_bot(make_bot) -> Bot:
    return make_bot(
        name="alerts",
        connector="wecom_robot",
        agent_url="",
        agent_token="",
        rate_limit_per_minute=1000,
    )


@pytest.fixture
def wecom_group(wecom_bot, make_conversation):
    return make_conversation(wecom_bot, "wrSales", name="销售群", robot_key="key-sales")


@pytest.fixture
def bridge_group(bridge_bot, make_conversation):  # noqa: F811
    return make_conversation(bridge_bot, "wrDemoGroup0001", name="销售部通知群")


@pytest.fixture
def queue_message():
    def queue(conversation, body: dict, **kwargs) -> Message:
        return accept_outbound(
            bot=conversation.bot,
            conversation_id=conversation.conversation_id,
            body=body,
            source=Message.Source.API,
            **kwargs,
        )

    return queue


def drain(clock: SimClock, max_steps: int = 100_000) -> None:
    """Run every due message through `deliver`, advancing the simulated clock
    to the next due time whenever nothing is due, until nothing is queued."""
    for _ in range(max_steps):
        now = clock()
        due = list(
            Message.objects.filter(
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                status=Message.Status.QUEUED,
                bot__paused_at__isnull=True,
            )
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)
        )
        for pk in due:
            deliver(pk, clock)
        if due:
            continue
        upcoming = Message.objects.filter(
            status=Message.Status.QUEUED, bot__paused_at__isnull=True
        ).aggregate(at=Min("next_attempt_at"))["at"]
        if upcoming is None:
            return
        clock.now = max(clock.now, upcoming)
    raise AssertionError("the queue did not drain")


@pytest.fixture
def run_queue(clock):
    return lambda: drain(clock)
