"""One endpoint per URL and bot, however the URL is given (forwarding.endpoints.claim_url):
a second endpoint with a URL would get every message twice."""

import threading

import pytest
from django.conf import settings
from django.db import connection
from django.db.models.signals import pre_save
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Bot
from devtools.receiver import Receiver
from forwarding.endpoints import EndpointExists, add_endpoint, change_endpoint
from forwarding.models import WebhookEndpoint
from forwarding.webhook_delivery import attempt_delivery
from tests.html_forms import submitted_form
from tests.messaging.support import forward_due

URL = "https://hooks.example.com/in"
OTHER = "https://other.example.com/in"
TAKEN = "这个机器人的另一个端点已经转发到这个 URL"


def test_a_url_the_bot_forwards_to_is_not_added_again_and_nothing_is_recorded(superuser, bot):
    add_endpoint(superuser, bot, url=URL, msgtypes=[])

    with pytest.raises(EndpointExists):
        add_endpoint(superuser, bot, url=URL, msgtypes=["text"])

    assert WebhookEndpoint.objects.filter(bot=bot).count() == 1
    assert OperatorAction.objects.filter(action="endpoint.create").count() == 1


def test_another_bot_may_forward_to_the_same_url(superuser, make_bot):
    for bot in (make_bot(), make_bot()):
        add_endpoint(superuser, bot, url=URL, msgtypes=[])
    assert WebhookEndpoint.objects.filter(url=URL).count() == 2


def test_an_endpoint_is_not_changed_to_a_url_another_one_of_the_bot_has(superuser, bot):
    first = add_endpoint(superuser, bot, url=URL, msgtypes=[])
    second = add_endpoint(superuser, bot, url=OTHER, msgtypes=[])

    with pytest.raises(EndpointExists) as refused:
        change_endpoint(superuser, second, url=URL, description="changed")

    assert refused.value.endpoint == first
    second.refresh_from_db()
    assert (second.url, second.description) == (OTHER, "")
    assert not OperatorAction.objects.filter(action="endpoint.update").exists()


def test_an_inactive_endpoint_keeps_its_url_to_itself(superuser, bot):
    first = add_endpoint(superuser, bot, url=URL, msgtypes=[])
    change_endpoint(superuser, first, is_active=False)
    with pytest.raises(EndpointExists):
        add_endpoint(superuser, bot, url=URL, msgtypes=[])


def test_endpoints_that_shared_a_url_before_the_rule_can_still_be_changed(superuser, bot):
    """Existing installations may hold such pairs: they stay until an operator acts."""
    first = WebhookEndpoint.objects.create(bot=bot, url=URL)
    WebhookEndpoint.objects.create(bot=bot, url=URL)

    change_endpoint(superuser, first, is_active=False, description="the copy")
    change_endpoint(superuser, first, url=OTHER)

    first.refresh_from_db()
    assert (first.url, first.is_active, first.description) == (OTHER, False, "the copy")


def test_the_bots_webhook_url_is_not_saved_when_another_endpoint_has_it(superuser, make_bot):
    bot = make_bot(webhook_url=OTHER)
    add_endpoint(superuser, bot, url=URL, msgtypes=[])
    bot.webhook_url = URL

    with pytest.raises(EndpointExists):
        bot.save()

    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == OTHER


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", [False, True], ids=["add", "change"])
def test_two_requests_giving_one_url_at_once_leave_one_endpoint_with_it(make_bot, change):
    bot = make_bot()
    user = None  # an action without a person, as a script's
    endpoints = [
        add_endpoint(user, bot, url=f"https://e{n}.example.com/in", msgtypes=[]) for n in (1, 2)
    ]
    outcomes, barrier = [], threading.Barrier(2)

    def request(endpoint):
        try:
            barrier.wait()
            if change:
                change_endpoint(user, endpoint, url=URL)
            else:
                add_endpoint(user, bot, url=URL, msgtypes=[])
            outcomes.append("saved")
        except EndpointExists:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(e,)) for e in endpoints]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["refused", "saved"]
    assert WebhookEndpoint.objects.filter(bot=bot, url=URL).count() == 1


# --- The admin --------------------------------------------------------------------


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def test_the_admin_adds_no_endpoint_with_a_url_the_bot_forwards_to(admin_client, bot):
    WebhookEndpoint.objects.create(bot=bot, url=URL)
    url = reverse("admin:forwarding_webhookendpoint_add")
    form = submitted_form(admin_client.get(url).content.decode(), "webhookendpoint_form")

    answer = admin_client.post(url, {**form, "bot": bot.pk, "url": URL, "msgtypes": "[]"})

    assert answer.status_code == 200 and TAKEN in answer.content.decode()
    assert WebhookEndpoint.objects.filter(bot=bot).count() == 1


def test_the_admin_changes_no_endpoint_to_a_url_another_one_of_the_bot_has(admin_client, bot):
    WebhookEndpoint.objects.create(bot=bot, url=URL)
    other = WebhookEndpoint.objects.create(bot=bot, url=OTHER)
    url = reverse("admin:forwarding_webhookendpoint_change", args=[other.pk])
    form = submitted_form(admin_client.get(url).content.decode(), "webhookendpoint_form")

    refused = admin_client.post(url, {**form, "url": URL})
    kept = admin_client.post(url, {**form, "description": "CRM"})

    assert refused.status_code == 200 and TAKEN in refused.content.decode()
    assert kept.status_code == 302
    other.refresh_from_db()
    assert (other.url, other.description) == (OTHER, "CRM")


def test_the_admin_keeps_a_bots_webhook_url_off_its_other_endpoints_urls(admin_client, make_bot):
    bot = make_bot(webhook_url=OTHER)
    WebhookEndpoint.objects.create(bot=bot, url=URL)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_client.get(url).content.decode(), "bot_form")

    refused = admin_client.post(url, {**form, "webhook_url": URL})
    kept = admin_client.post(url, {**form, "name": "renamed"})

    assert refused.status_code == 200 and TAKEN in refused.content.decode()
    assert kept.status_code == 302
    bot = Bot.objects.get(pk=bot.pk)
    assert (bot.webhook_url, bot.name) == (OTHER, "renamed")
    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == OTHER


def test_the_admin_shows_the_bot_form_again_when_the_url_is_taken_between_check_and_save(
    admin_client, make_bot
):
    """Where the bot's row lock does not hold (SQLite), another endpoint may take the URL
    after the form's check: the save is refused as the check would have, nothing kept."""
    bot = make_bot(webhook_url=OTHER)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(admin_client.get(url).content.decode(), "bot_form")
    entries = OperatorAction.objects.count()

    def take_the_url(sender, instance, **kwargs):  # after the form's check, before the save
        if instance.pk == bot.pk and instance.webhook_url == URL:
            WebhookEndpoint.objects.get_or_create(bot=bot, url=URL)

    pre_save.connect(take_the_url, sender=Bot)
    try:
        answer = admin_client.post(url, {**form, "webhook_url": URL, "name": "renamed"})
    finally:
        pre_save.disconnect(take_the_url, sender=Bot)

    assert answer.status_code == 200 and TAKEN in answer.content.decode()
    assert 'name="name"' in answer.content.decode()  # the form, shown again
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.webhook_url == OTHER and bot.name != "renamed"
    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == OTHER
    assert OperatorAction.objects.count() == entries


def test_a_bot_whose_primary_endpoint_was_deleted_adopts_the_endpoint_with_its_url(superuser, bot):
    """The admin may delete the primary endpoint; an endpoint added later with the bot's
    webhook URL becomes the primary on the bot's next save, neither doubled nor refused
    (any save of the bot would have failed)."""
    bot.webhook_url = URL
    bot.save()
    WebhookEndpoint.objects.get(bot=bot, is_primary=True).delete()
    added = add_endpoint(superuser, bot, url=URL, msgtypes=[])

    bot.rate_limit_per_minute = 10
    bot.save()

    assert list(WebhookEndpoint.objects.filter(bot=bot).values_list("pk", "is_primary")) == [
        (added.pk, True)
    ]


# --- Spellings of one URL ---------------------------------------------------------

SLASHED = "https://hooks.example.com/in/"


def twin_warning(url: str) -> str:
    return f"这个机器人的另一个端点转发到 {url}，与这个 URL 只差末尾的斜杠"


def test_a_url_is_the_same_whatever_the_case_of_its_scheme_and_host_and_its_default_port(
    superuser, bot
):
    """`HTTPS://HOOKS.example.com:443/in` is where `https://hooks.example.com/in` goes: the
    bot forwards there already (here an endpoint saved before URLs were normalised).
    The path is compared as written: a server may tell `/IN` and `/in/` from `/in`."""
    WebhookEndpoint.objects.create(bot=bot, url="HTTPS://Hooks.Example.com:443/in")

    for spelling in (URL, "https://HOOKS.example.com/in", "hTTps://hooks.example.com:443/in"):
        with pytest.raises(EndpointExists):
            add_endpoint(superuser, bot, url=spelling, msgtypes=[])
    for other in ("https://hooks.example.com/IN", SLASHED, "https://hooks.example.com:8443/in"):
        add_endpoint(superuser, bot, url=other, msgtypes=[])

    assert WebhookEndpoint.objects.filter(bot=bot).count() == 4


def test_a_url_is_saved_with_its_scheme_and_host_in_lower_case_and_without_its_default_port(
    superuser, bot
):
    """Its user part, path and query are kept as written (a password, a key)."""
    given = "HTTPS://hook:PassWord@Hooks.Example.com:443/In?Key=AbC"

    added = add_endpoint(superuser, bot, url=given, msgtypes=[])
    bot.webhook_url = "HTTP://Primary.Example.com:80/Hook"
    bot.save()

    assert added.url == "https://hook:PassWord@hooks.example.com/In?Key=AbC"
    primary = WebhookEndpoint.objects.get(bot=bot, is_primary=True)
    assert primary.url == "http://primary.example.com/Hook"


def test_the_admin_saves_a_url_normalised_and_refuses_another_spelling_of_a_taken_one(
    admin_client, make_bot
):
    bot = make_bot(webhook_url=OTHER)
    WebhookEndpoint.objects.create(bot=bot, url=URL)
    add = reverse("admin:forwarding_webhookendpoint_add")
    form = submitted_form(admin_client.get(add).content.decode(), "webhookendpoint_form")
    change = reverse("admin:conversations_bot_change", args=[bot.pk])
    bot_form = submitted_form(admin_client.get(change).content.decode(), "bot_form")

    taken = admin_client.post(
        add, {**form, "bot": bot.pk, "url": "HTTPS://HOOKS.example.com:443/in", "msgtypes": "[]"}
    )
    added = admin_client.post(
        add, {**form, "bot": bot.pk, "url": "HTTPS://New.Example.com:443/in", "msgtypes": "[]"}
    )
    refused = admin_client.post(change, {**bot_form, "webhook_url": "https://HOOKS.example.com/in"})

    assert taken.status_code == 200 and TAKEN in taken.content.decode()
    assert added.status_code == 302
    assert WebhookEndpoint.objects.filter(bot=bot, url="https://new.example.com/in").exists()
    assert refused.status_code == 200 and TAKEN in refused.content.decode()


def test_a_url_differing_only_by_a_trailing_slash_is_saved_with_a_warning_naming_the_other(
    admin_client, make_bot
):
    """A server may answer `/in` and `/in/` alike or not: both are kept, and whoever saves
    the second one is told of the first."""
    bot = make_bot(webhook_url=OTHER)
    WebhookEndpoint.objects.create(bot=bot, url=URL)
    WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/out/")
    add = reverse("admin:forwarding_webhookendpoint_add")
    form = {
        **submitted_form(admin_client.get(add).content.decode(), "webhookendpoint_form"),
        "bot": bot.pk,
        "msgtypes": "[]",
    }
    change = reverse("admin:conversations_bot_change", args=[bot.pk])
    bot_form = submitted_form(admin_client.get(change).content.decode(), "bot_form")

    def page_after(answer) -> str:
        assert answer.status_code == 302, answer.content.decode()[:2000]
        return admin_client.get(answer["Location"]).content.decode()

    added = page_after(admin_client.post(add, {**form, "url": "https://hooks.example.com/out"}))
    saved = page_after(admin_client.post(change, {**bot_form, "webhook_url": SLASHED}))
    renamed = page_after(
        admin_client.post(change, {**bot_form, "webhook_url": SLASHED, "name": "renamed"})
    )
    queried = page_after(admin_client.post(add, {**form, "url": URL + "?source=crm"}))

    assert twin_warning("https://hooks.example.com/out/") in added
    assert twin_warning(URL) in saved
    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == SLASHED
    assert "只差末尾的斜杠" not in renamed  # the URL unchanged: told when it was saved
    assert "只差末尾的斜杠" not in queried  # not the same but for the slash


def test_a_new_url_re_enables_a_disabled_added_endpoint_as_it_does_the_primary(
    superuser, make_bot, record
):
    """The added endpoint was disabled for failing; the operator points it elsewhere."""
    bot = make_bot(name="hooked")
    endpoint = WebhookEndpoint.objects.create(
        bot=bot, url="http://127.0.0.1:9/hook", disabled_at=timezone.now(), failure_streak=40
    )
    waited = record(bot)
    assert attempt_delivery(waited.pk) is None  # disabled: it waits

    with Receiver() as fixed:
        change_endpoint(superuser, endpoint, url=fixed.url("/hook"))

        assert forward_due() == ["success"]
        assert len(fixed.requests) == 1
    endpoint.refresh_from_db()
    assert (endpoint.disabled_at, endpoint.failure_streak) == (None, 0)
