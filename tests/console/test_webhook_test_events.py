"""A test event to an endpoint whose msgtype filter leaves text out: it is a text message
all the same (it checks the URL, the signature and the answer), and the page says so."""

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from forwarding.models import WebhookEndpoint

NOTE = "测试事件是一条文本消息，即使该端点的消息类型不包括文本也会发送"


def url(name, endpoint):
    return reverse(f"console:{name}", args=[endpoint.bot_id, endpoint.pk])


@pytest.mark.parametrize(("msgtypes", "noted"), [(["image"], True), (["text"], False), ([], False)])
def test_the_page_says_a_test_event_is_text_whatever_the_filter(
    msgtypes, noted, operator_client, bot, receiver
):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"), msgtypes=msgtypes)
    receiver.respond(200)

    page = operator_client.post(url("webhook_test", endpoint), follow=True).content.decode()

    (request,) = receiver.requests
    assert (
        Webhook(endpoint.signing_secret).verify(request.body, request.headers)["msgtype"] == "text"
    )
    assert (NOTE in page) is noted
