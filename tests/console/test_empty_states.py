"""An empty list says what would fill it and what to do, in the reader's language; a
filtered one that nothing matches says so, with the way back to all."""

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from forwarding.models import WebhookEndpoint

SAID = {
    "zh-hans": {
        "deliveries": "尚无投递：机器人收到的每条消息都会转发到这里。",
        "filtered": "没有此状态的投递。",
        "announcements": "尚无公告：点击“新建公告”",
    },
    "en": {
        "deliveries": "No delivery yet: each message the bot receives is forwarded here.",
        "filtered": "No delivery with this status.",
        "announcements": "No announcements yet: “New announcement” sends one message",
    },
}


def _part(html: str, element_id: str) -> str:
    return strip_tags(html.split(f'id="{element_id}">')[1].split("</div>")[0])


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_endpoint_without_deliveries_says_what_comes_there(operator_client, bot, language):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    operator_client.cookies["django_language"] = language
    url = reverse("console:webhook", args=[bot.pk, endpoint.pk])

    everything = operator_client.get(url).content.decode()
    failed = operator_client.get(url, {"status": "failed"}).content.decode()

    assert SAID[language]["deliveries"] in _part(everything, "no-deliveries")
    assert SAID[language]["filtered"] in _part(failed, "no-deliveries")
    assert '<a href="?">' in failed.split('id="no-deliveries"')[1].split("</div>")[0]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_announcement_yet_says_what_one_is_for(operator_client, bot, language):
    operator_client.cookies["django_language"] = language

    html = operator_client.get(reverse("announcements:list")).content.decode()

    assert SAID[language]["announcements"] in _part(html, "no-announcements")
