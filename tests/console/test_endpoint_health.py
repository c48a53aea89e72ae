"""A failing webhook endpoint's health reads as a sentence in either language, its start
at a clock time as the console's other "since" states say theirs ("Failing since 14:02:
5 failures in a row"), where it said "Failing: 5 failures in a row since 2 minutes ago"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags

from forwarding.models import WebhookEndpoint
from messaging.status_labels import clock_time

SAID = {
    "en": "Failing since {since}: {n} failures in a row",
    "zh-hans": "失败中 自 {since} 起连续失败 {n} 次",
}
SAID_ONE = {
    "en": "Failing since {since}: 1 failure in a row",
    "zh-hans": "失败中 自 {since} 起连续失败 1 次",
}


def _health(client, endpoint, language: str) -> str:
    client.cookies["django_language"] = language
    page = client.get(reverse("console:webhook", args=[endpoint.bot_id, endpoint.pk]))
    head = page.content.decode().split('class="page-head"')[1].split("</p>")[0]
    return " ".join(strip_tags(head).split())


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("ago", [timedelta(minutes=2), timedelta(days=1)], ids=["2m", "1d"])
def test_a_failing_endpoint_says_since_when_at_a_clock_time(operator_client, bot, language, ago):
    since = (timezone.now() - ago).replace(second=0, microsecond=0)
    endpoint = WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example.com/a", failure_streak=5, failing_since=since
    )
    with translation.override(language):  # "昨天 14:02" / "14:02 yesterday"
        expected = SAID[language].format(since=clock_time(since), n=5)

    assert expected in _health(operator_client, endpoint, language)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_one_failure_is_said_in_the_singular(operator_client, bot, language):
    since = timezone.now()
    endpoint = WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example.com/a", failure_streak=1, failing_since=since
    )
    with translation.override(language):
        expected = SAID_ONE[language].format(since=clock_time(since))

    assert expected in _health(operator_client, endpoint, language)
