"""The same page posted twice (a double click, Ctrl+Enter pressed again while it was
sending, a reload that posts again) does what one post does.

Each post here is the page's own form as a browser sends it (tests/html_forms.py)."""

import pytest
from django.contrib import messages
from django.urls import reverse

from audit.models import OperatorAction
from conversations.models import Bot
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message
from tests.html_forms import submitted_form


def form_of(client, url: str, form_id: str) -> dict:
    page = client.get(url)
    assert page.status_code == 200
    return submitted_form(page.content.decode(), form_id)


def said(response) -> list[str]:
    return [str(m) for m in messages.get_messages(response.wsgi_request)]


# --- A reply ---------------------------------------------------------------------


def reply_form(client, bot, group) -> dict:
    page = client.get(reverse("console:history", args=[bot.pk, group.pk])).content.decode()
    reply = page[page.index('class="reply-box panel"') - 200 :]
    return submitted_form(reply.replace("<form", '<form id="reply"', 1), "reply")


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_reply_posted_twice_from_its_box_is_queued_once(operator_client, bot, group, htmx):
    data = {**reply_form(operator_client, bot, group), "content": "好的"}
    url = reverse("console:reply", args=[bot.pk, group.pk])
    headers = {"HX-Request": "true"} if htmx else {}

    first = operator_client.post(url, data, headers=headers)
    second = operator_client.post(url, data, headers=headers)

    assert first.status_code == second.status_code == (200 if htmx else 302)
    assert Message.objects.filter(direction="out").count() == 1
    assert "此回复已在发送队列中：只会发送一次。" in said(second)


def test_two_replies_with_the_same_words_from_two_page_views_are_two(operator_client, bot, group):
    """ "OK" now and "OK" again later are two replies: each page view has a box of its own."""
    url = reverse("console:reply", args=[bot.pk, group.pk])
    for _ in range(2):
        data = {**reply_form(operator_client, bot, group), "content": "OK"}
        assert operator_client.post(url, data).status_code == 302
    assert Message.objects.filter(direction="out").count() == 2


def test_a_refused_reply_sent_again_from_the_same_box_is_queued(operator_client, bot, group):
    """A refusal stores nothing, so the box it leaves on the page may send its text later."""
    data = reply_form(operator_client, bot, group)
    url = reverse("console:reply", args=[bot.pk, group.pk])
    assert operator_client.post(url, {**data, "content": " "}).status_code == 400
    assert operator_client.post(url, {**data, "content": "好的"}).status_code == 302
    assert Message.objects.filter(direction="out").count() == 1


# --- A rotation ------------------------------------------------------------------


@pytest.fixture
def endpoint(bot):
    return WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")


ROTATE_PAGES = {
    "console-api": ("/console/bots/{b}/secrets/rotate", "rotate-form"),
    "console-signing": ("/console/bots/{b}/webhooks/{e}/secret/rotate", "rotate-form"),
    "admin-api": ("/admin/conversations/bot/{b}/rotate-secret/", "rotate-form"),
    "admin-signing": ("/admin/forwarding/webhookendpoint/{e}/rotate-secret/", "rotate-form"),
}


def secrets_of(bot, endpoint) -> dict:
    bot = Bot.objects.get(pk=bot.pk)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
    return {
        "api": (bot.secret, bot.previous_secret),
        "signing": (endpoint.signing_secret, endpoint.previous_signing_secret),
    }


@pytest.mark.parametrize("page", ROTATE_PAGES)
def test_a_rotate_page_posted_twice_rotates_once_and_keeps_the_grace_of_the_old_secret(
    client, superuser, bot, endpoint, page
):
    """Rotated twice, the secret every caller still uses (the first one) would be dropped at
    once by the second rotation, whatever grace was chosen for it."""
    client.force_login(superuser)
    path, form_id = ROTATE_PAGES[page]
    url = path.format(b=bot.pk, e=endpoint.pk)
    kind = page.split("-")[1]
    original = secrets_of(bot, endpoint)[kind][0]
    data = {**form_of(client, url, form_id), "grace_hours": "24"}

    first = client.post(url, data)
    second = client.post(url, data)

    assert first.status_code == second.status_code == 302
    new, previous = secrets_of(bot, endpoint)[kind]
    assert new != original and previous == original  # the old one keeps its 24 hours
    assert OperatorAction.objects.filter(action__contains="rotate").count() == 1
    assert any("已从本页面轮换过" in text for text in said(second))


@pytest.mark.parametrize("page", ROTATE_PAGES)
def test_a_rotate_page_opened_again_after_a_rotation_rotates_again(
    client, superuser, bot, endpoint, page
):
    client.force_login(superuser)
    path, form_id = ROTATE_PAGES[page]
    url = path.format(b=bot.pk, e=endpoint.pk)
    kind = page.split("-")[1]
    for _ in range(2):
        data = {**form_of(client, url, form_id), "grace_hours": "24"}
        assert client.post(url, data).status_code == 302
    assert OperatorAction.objects.filter(action__contains="rotate").count() == 2
    new, previous = secrets_of(bot, endpoint)[kind]
    assert new and previous and new != previous


@pytest.mark.parametrize("page", ["console-api", "admin-signing"])
def test_a_rotation_without_grace_confirmed_twice_rotates_once(
    client, superuser, bot, endpoint, page
):
    """The question's own page (no JavaScript) carries what the first page rotates."""
    client.force_login(superuser)
    path, form_id = ROTATE_PAGES[page]
    url = path.format(b=bot.pk, e=endpoint.pk)
    asked = client.post(url, {**form_of(client, url, form_id), "grace_hours": "0"})
    confirm = submitted_form(asked.content.decode(), "no-grace-form")
    assert confirm["replacing"][0]

    client.post(url, confirm)
    client.post(url, confirm)

    assert OperatorAction.objects.filter(action__contains="rotate").count() == 1


# --- A replay and a test event ------------------------------------------------------


@pytest.fixture
def received(bot, group, make_message, receiver):
    """A delivery its receiver took, to the local receiver (a replay would post it again)."""
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))
    return WebhookDelivery.objects.create(
        message=make_message(group), endpoint=endpoint, status="delivered", attempt_count=1
    )


# page → (the page, its form's id, where the form posts), for bot b, endpoint e, delivery d
REPLAY_PAGES = {
    "console": (
        "/console/bots/{b}/webhooks/{e}/",
        "replay-{d}",
        "/console/bots/{b}/webhooks/deliveries/{d}/replay",
    ),
    "admin": (
        "/admin/forwarding/webhookdelivery/{d}/change/",
        "replay-form",
        "/admin/forwarding/webhookdelivery/{d}/replay/",
    ),
}


def _replay_urls(page, bot, delivery):
    ids = {"b": bot.pk, "e": delivery.endpoint_id, "d": delivery.pk}
    return [part.format(**ids) for part in REPLAY_PAGES[page]]


@pytest.mark.parametrize("page", REPLAY_PAGES)
def test_a_replay_posted_twice_from_its_page_replays_once(client, superuser, bot, received, page):
    client.force_login(superuser)
    shown, form_id, action = _replay_urls(page, bot, received)
    data = form_of(client, shown, form_id)

    first = client.post(action, data)
    second = client.post(action, data)

    assert first.status_code == second.status_code == 302
    received.refresh_from_db()
    assert received.replay_count == 1
    assert OperatorAction.objects.filter(action="delivery.replay").count() == 1
    assert "此投递已从本页面重放过（是否提交了两次？）：没有再次重放。" in said(second)


@pytest.mark.parametrize("page", REPLAY_PAGES)
def test_a_replay_from_the_page_opened_again_replays_again(client, superuser, bot, received, page):
    client.force_login(superuser)
    shown, form_id, action = _replay_urls(page, bot, received)
    for _ in range(2):
        WebhookDelivery.objects.filter(pk=received.pk).update(status="delivered")
        assert client.post(action, form_of(client, shown, form_id)).status_code == 302
    received.refresh_from_db()
    assert received.replay_count == 2


TEST_EVENT_PAGES = {
    "console": ("/console/bots/{b}/webhooks/{e}/", "/console/bots/{b}/webhooks/{e}/test"),
    "admin": ("/admin/forwarding/webhookendpoint/{e}/test-event/",) * 2,
}


@pytest.mark.parametrize("page", TEST_EVENT_PAGES)
def test_a_test_event_posted_twice_from_its_page_is_sent_once(
    client, superuser, bot, received, receiver, page
):
    client.force_login(superuser)
    shown, action = (u.format(b=bot.pk, e=received.endpoint_id) for u in TEST_EVENT_PAGES[page])
    data = form_of(client, shown, "test-event-form")

    client.post(action, data)
    second = client.post(action, data)

    assert len(receiver.requests) == 1
    (test,) = OperatorAction.objects.filter(action="endpoint.test")
    assert test.summary == "success 200"
    assert "已从本页面发送过测试事件（是否提交了两次？）：没有再次发送。" in said(second)

    client.post(action, form_of(client, shown, "test-event-form"))  # the page opened again
    assert len(receiver.requests) == 2


# --- Admin actions that act on the other side -----------------------------------------


def action_bar(client, changelist: str) -> dict:
    """The list page's action bar as the browser sends it (its page id among its fields)."""
    form = form_of(client, changelist, "changelist-form")
    return {"select_across": form["select_across"], "submission": form["submission"], "index": 0}


def test_the_admins_rotate_action_posted_twice_from_its_page_rotates_once(
    client, superuser, make_bot
):
    """A second rotation would drop, at once, the secrets every caller still uses."""
    bots = [make_bot(), make_bot()]
    original = {bot.pk: bot.secret for bot in bots}
    client.force_login(superuser)
    changelist = reverse("admin:conversations_bot_changelist")
    data = {
        **action_bar(client, changelist),
        "action": "rotate_secrets",
        "_selected_action": [bot.pk for bot in bots],
    }

    client.post(changelist, data)
    second = client.post(changelist, data)

    for bot in Bot.objects.filter(pk__in=original):
        assert bot.previous_secret == original[bot.pk] and bot.secret != original[bot.pk]
    assert OperatorAction.objects.filter(action="secret.rotate").count() == 2
    assert "2 个密钥已从本页面轮换过（是否提交了两次？）：没有再次轮换。" in said(second)

    client.post(changelist, {**data, **action_bar(client, changelist), "action": "rotate_secrets"})
    assert OperatorAction.objects.filter(action="secret.rotate").count() == 4  # a new page


@pytest.mark.parametrize("selected", [1, 2])
def test_the_admins_replay_action_posted_twice_from_its_page_replays_once(
    client, superuser, received, make_message, group, selected
):
    deliveries = [received] + [
        WebhookDelivery.objects.create(
            message=make_message(group), endpoint=received.endpoint, status="delivered"
        )
        for _ in range(selected - 1)
    ]
    client.force_login(superuser)
    changelist = reverse("admin:forwarding_webhookdelivery_changelist")
    data = {
        **action_bar(client, changelist),
        "action": "replay",
        "_selected_action": [d.pk for d in deliveries],
    }

    client.post(changelist, data)
    WebhookDelivery.objects.update(status="delivered")  # the worker delivered them meanwhile
    second = client.post(changelist, data)

    assert [d.replay_count for d in WebhookDelivery.objects.all()] == [1] * selected
    assert OperatorAction.objects.filter(action__startswith="delivery.replay").count() == 1
    assert any("已从本页面重放过（是否提交了两次？）" in text for text in said(second))
