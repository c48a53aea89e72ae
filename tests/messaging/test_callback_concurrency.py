"""Twenty agents' retries of one message at once: one row, one forward (the unique constraint decides)."""

from concurrent.futures import ThreadPoolExecutor

import requests

from forwarding.models import WebhookDelivery
from messaging.models import Message

from .support import callback_body, create_pending_deliveries


def test_the_same_msgid_posted_twenty_times_concurrently_is_stored_and_forwarded_once(
    live_server, hooked_bot
):
    body = callback_body("text", hooked_bot, msgid="concurrent-1")
    url = live_server.url + "/api/callback"

    def post(_):
        return requests.post(url, json=body, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"errcode": 0, "errmsg": "ok"})
    ] * 20
    assert Message.objects.filter(upstream_msgid="concurrent-1").count() == 1
    create_pending_deliveries()
    assert WebhookDelivery.objects.count() == 1
