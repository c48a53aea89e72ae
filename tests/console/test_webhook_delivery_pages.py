"""An endpoint's deliveries in the console, a page at a time (keyset by id, newest
first): "older" and "newer" links reach every delivery once, keep the status shown,
a cursor that is not one of the endpoint's deliveries is ignored, and a row's Replay
comes back to the page it was pressed on."""

import re

import pytest
from django.urls import reverse

from console.webhooks import DELIVERIES_PAGE
from forwarding.models import WebhookDelivery, WebhookEndpoint
from tests.counted_queries import get_counting_queries
from tests.html_forms import submitted_form

ROW = re.compile(r'<tr id="delivery-(\d+)">')
OLDER = re.compile(r'<a class="btn" href="([^"]*)">较早的投递 →</a>')
NEWER = re.compile(r'<a class="btn" href="([^"]*)">← 较新的投递</a>')


@pytest.fixture
def endpoint(bot, receiver):
    return WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))


def deliveries(endpoint, conversation, make_message, count: int, **fields) -> list[int]:
    return [
        WebhookDelivery.objects.create(
            message=make_message(conversation, text=f"消息 {i}"), endpoint=endpoint, **fields
        ).pk
        for i in range(count)
    ]


def page_url(bot, endpoint, query: str = "") -> str:
    return reverse("console:webhook", args=[bot.pk, endpoint.pk]) + query


def shown(client, path: str) -> tuple[list[int], str | None, str | None]:
    """The delivery ids a page lists, and its "older" and "newer" links."""
    html = client.get(path).content.decode()
    older, newer = OLDER.search(html), NEWER.search(html)
    return (
        [int(pk) for pk in ROW.findall(html)],
        older and older[1].replace("&amp;", "&"),
        newer and newer[1].replace("&amp;", "&"),
    )


def test_older_links_reach_every_delivery_once_and_newer_links_come_back(
    operator_client, bot, group, endpoint, make_message
):
    every = deliveries(endpoint, group, make_message, 2 * DELIVERIES_PAGE + 5)
    base = page_url(bot, endpoint)

    pages, path = [], base
    while path:
        rows, older, newer = shown(operator_client, base + path if path[0] == "?" else path)
        assert (newer is None) == (not pages)  # only the latest page has no "newer"
        pages.append(rows)
        path = older

    assert [len(rows) for rows in pages] == [DELIVERIES_PAGE, DELIVERIES_PAGE, 5]
    assert sum(pages, []) == sorted(every, reverse=True)

    # Back up from the oldest page: the same pages, the last one the latest, full.
    _rows, _older, newer = shown(operator_client, base + f"?before={pages[1][-1]}")
    back = []
    while newer:
        rows, _older, newer = shown(operator_client, base + newer)
        back.append(rows)
    assert back == [pages[1], pages[0]]


def test_paging_keeps_the_status_shown(operator_client, bot, group, endpoint, make_message):
    failed = deliveries(endpoint, group, make_message, DELIVERIES_PAGE + 3, status="failed")
    deliveries(endpoint, group, make_message, 4, status="delivered")
    base = page_url(bot, endpoint)

    first, older, _newer = shown(operator_client, base + "?status=failed")
    second, last, newer = shown(operator_client, base + older)

    assert "status=failed" in older and "status=failed" in newer and last is None
    assert first + second == sorted(failed, reverse=True)


def test_a_cursor_of_another_endpoint_or_bot_is_ignored(
    operator_client, bot, group, other_bot, other_group, endpoint, make_message, receiver
):
    ours = deliveries(endpoint, group, make_message, DELIVERIES_PAGE + 3)
    elsewhere = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/other"))
    (sibling,) = deliveries(elsewhere, group, make_message, 1)
    rival = WebhookEndpoint.objects.create(bot=other_bot, url=receiver.url("/rival"))
    (theirs,) = deliveries(rival, other_group, make_message, 1)
    latest = sorted(ours, reverse=True)[:DELIVERIES_PAGE]

    for cursor in (sibling, theirs, 0, 99999999999):
        for name in ("before", "after"):
            rows, older, newer = shown(
                operator_client, page_url(bot, endpoint, f"?{name}={cursor}")
            )
            assert (rows, newer) == (latest, None), (name, cursor)
            assert older

    assert operator_client.get(page_url(other_bot, rival, f"?before={theirs}")).status_code == 404


def test_a_page_reads_the_same_number_of_queries_whatever_its_cursor(
    operator_client, bot, group, endpoint, make_message
):
    every = sorted(deliveries(endpoint, group, make_message, 2 * DELIVERIES_PAGE), reverse=True)
    counts = []
    for query in ("", f"?before={every[DELIVERIES_PAGE - 1]}", f"?after={every[-1]}"):
        counts.append(len(get_counting_queries(operator_client, page_url(bot, endpoint, query))))
    assert counts[1] == counts[2] == counts[0] + 1  # the cursor, checked: one more


def replay(client, bot, endpoint, pk: int, page: str):
    """Press a row's Replay on `page` as the browser posts it: the form as it stands."""
    html = client.get(page).content.decode()
    form = submitted_form(html, f"replay-{pk}")
    return client.post(reverse("console:webhook_delivery_replay", args=[bot.pk, pk]), form)


def test_replay_comes_back_to_the_page_and_tab_it_was_pressed_on(
    operator_client, bot, group, endpoint, make_message
):
    failed = sorted(
        deliveries(endpoint, group, make_message, 2 * DELIVERIES_PAGE, status="failed"),
        reverse=True,
    )
    second = page_url(bot, endpoint, f"?status=failed&before={failed[DELIVERIES_PAGE - 1]}")
    pressed = failed[DELIVERIES_PAGE + 3]

    response = replay(operator_client, bot, endpoint, pressed, second)

    assert response.status_code == 302 and response["Location"] == f"{second}#delivery-{pressed}"
    rows, _older, newer = shown(operator_client, second)
    assert rows == [pk for pk in failed[DELIVERIES_PAGE:] if pk != pressed]  # now pending
    assert newer and WebhookDelivery.objects.get(pk=pressed).replay_count == 1


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/",
        "//evil.example/console/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "http://testserver/console/",  # this site, but not written as a path
        "",
    ],
)
def test_replay_with_a_next_that_is_not_a_page_of_this_site_returns_to_the_latest_page(
    operator_client, bot, group, endpoint, make_message, elsewhere
):
    (pk,) = deliveries(endpoint, group, make_message, 1, status="failed")

    response = operator_client.post(
        reverse("console:webhook_delivery_replay", args=[bot.pk, pk]), {"next": elsewhere}
    )

    assert response["Location"] == page_url(bot, endpoint, f"#delivery-{pk}")


def test_after_a_refused_settings_form_replay_returns_to_the_endpoint_page(
    operator_client, bot, group, endpoint, make_message
):
    """The page is then drawn at the form's POST-only address: no way back to it."""
    (pk,) = deliveries(endpoint, group, make_message, 1, status="failed")
    change = reverse("console:webhook_change", args=[bot.pk, endpoint.pk])
    refused = operator_client.post(change, {"url": "not a url", "is_active": "on"})
    assert refused.status_code == 400

    form = submitted_form(refused.content.decode(), f"replay-{pk}")
    response = operator_client.post(
        reverse("console:webhook_delivery_replay", args=[bot.pk, pk]), form
    )

    assert "next" not in form
    assert response["Location"] == page_url(bot, endpoint, f"#delivery-{pk}")


def test_the_endpoints_page_names_it_by_its_description_under_its_url(operator_client, bot):
    described = WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example.com/crm", description="客户管理系统 <CRM>"
    )
    plain = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/log")

    head = operator_client.get(page_url(bot, described)).content.decode().split("</h1>")[1]
    plain_head = operator_client.get(page_url(bot, plain)).content.decode().split("</h1>")[1]

    assert head.split("<p")[1].startswith(
        ' class="muted endpoint-description">客户管理系统 &lt;CRM&gt;</p>'
    )
    assert "endpoint-description" not in plain_head
