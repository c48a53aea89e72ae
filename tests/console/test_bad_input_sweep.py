"""Every console page, and every form on it, given bad input: never a 500, and nothing
bad stored.

The sweep walks the console's URL patterns (console/urls.py, console/announcement_urls.py),
so a new page is swept without being listed here. For each it sends every query
parameter the console reads with each bad value, posts nothing and everything bad, and
posts each form the page shows (tests/html_forms.py) with one field at a time made bad.
test_bad_parameters.py and test_bad_posts.py hold the cases that found a bug, by name;
this one finds the next.

CI tries every bad value on every page and field; `make test` a third of them on each
(tests.fuzzing.share), a different third on the next page and field, so that one run
still tries every value, each on a third of the pages."""

import re
from html import unescape
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db import models
from django.urls import Resolver404, get_resolver, resolve, reverse

from announcements.models import Announcement
from deletions.models import DeletionJob
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message, MessageMedia
from tests.console.test_bad_posts import compose
from tests.fuzzing import share
from tests.html_forms import submitted_form

NUL = "\x00"
SURROGATE = "LONE-SURROGATE"  # sent as %ED%B2%80: a lone surrogate's bytes, no UTF-8
HUGE = "99999999999999999999"  # past 2^63
LONG = "x" * 100_000
BAD = [NUL, f"a{NUL}b", SURROGATE, "", "abc", "-1", HUGE, "1e3", LONG, "0001-01-01", "Mars/Olympus"]
# The fewer each field of a form is tried with, one at a time (the page's own values in
# the others).
BAD_FIELD = [NUL, HUGE, LONG]
# What the console reads from query strings (console/views/, its forms), whatever page.
PARAMETERS = (
    "q page before after at date from bot kind tab status sender conversation action since "
    "date_from date_to removed which run pending recipients send_at timezone rrule start "
    "type partial connector conversation_id weekdays direction msgtype"
).split()
# One path per verb the console knows, else a URL pattern's own name is enough.
VERBS = {
    "act": ["cancel", "pause", "resume", "retry", "send", "duplicate", "nope"],
    "fix_message": ["retry", "cancel", "mark_sent", "nope"],
    "bot_reveal": ["secret", "agent_token", "nope"],
    "docs": ["console", "nope"],
}
# Pages that delete what the rest of the sweep needs: test_bad_posts.py sweeps them.
SKIPPED = {"logout", "bot_delete", "conversation_delete"}
APPS = ("conversations", "messaging", "announcements", "forwarding", "deletions")


def _patterns() -> list[tuple[str, str, list[str]]]:
    """(namespace, name, the names of its arguments) of every console URL pattern."""
    found = []
    for namespace in ("console", "announcements"):
        _prefix, resolver = get_resolver().namespace_dict[namespace]
        for pattern in resolver.url_patterns:
            if pattern.name and pattern.name not in SKIPPED:
                found.append((namespace, pattern.name, list(pattern.pattern.converters)))
    return found


PATTERNS = _patterns()


@pytest.fixture
def rows(bot, group, operator, make_conversation, make_message, client, superuser):
    """One of each row a console URL names, and a draft announcement."""
    make_conversation(bot, "zhangsan", name="张三", kind="user")
    received = make_message(group, "in")
    failed = make_message(group, "out", status=Message.Status.FAILED)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    client.force_login(superuser)
    client.post("/console/announcements/new/", compose(bot, group, save_draft="1"))
    return {
        "bot_id": bot.pk,
        "pk": group.pk,
        "message_id": failed.pk,
        "media_id": MessageMedia.objects.create(
            message=received, status=MessageMedia.Status.FAILED
        ).pk,
        "received_id": received.pk,
        "endpoint_id": endpoint.pk,
        "delivery_id": WebhookDelivery.objects.create(
            endpoint=endpoint, message=received, status=WebhookDelivery.Status.FAILED
        ).pk,
        "job_id": DeletionJob.objects.create(
            kind="conversation", target_id=999_999, bot_ref=bot.pk, status="failed"
        ).pk,
        "user_id": operator.pk,
        "announcement": Announcement.objects.get().pk,
    }


def urls_of(namespace: str, name: str, arguments: list[str], rows: dict) -> list[str]:
    values = {argument: rows.get(argument) for argument in arguments}
    if namespace == "announcements" and "pk" in arguments:
        values["pk"] = rows["announcement"]
    if name.startswith("media_"):
        values["message_id"] = rows["received_id"]
    variable = next((a for a in arguments if a in ("verb", "which", "name")), None)
    if variable is None:
        return [reverse(f"{namespace}:{name}", kwargs=values)]
    return [
        reverse(f"{namespace}:{name}", kwargs={**values, variable: verb}) for verb in VERBS[name]
    ]


def encoded(data: dict) -> str:
    """A query string or form body, SURROGATE as the bytes of a lone surrogate."""
    return urlencode(data, doseq=True).replace(SURROGATE, "%ED%B2%80")


def post(client, url: str, data: dict) -> int:
    body = encoded(data)
    return answered(client.post(url, body, content_type="application/x-www-form-urlencoded"))


def answered(response) -> int:
    if response.streaming:
        b"".join(response.streaming_content)
    return response.status_code


def bad_text_stored() -> list[str]:
    """Any botadmin row with a text holding a NUL or the 100 KB string."""
    found = []
    for model in apps.get_models():
        if model._meta.app_label not in APPS:
            continue
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model.objects.values_list("pk", *fields):
            text = repr(row)
            if "\\x00" in text or LONG in text:
                found.append(f"{model.__name__} {row[0]}")
    return found


@pytest.mark.parametrize("who", ["superuser", "operator"])
@pytest.mark.parametrize(
    "turn, namespace, name, arguments",
    [(turn, *pattern) for turn, pattern in enumerate(PATTERNS)],
    ids=[f"{n}:{p}" for n, p, _ in PATTERNS],
)
def test_no_bad_input_breaks_a_console_page_or_is_stored(
    client, superuser, operator, rows, turn, namespace, name, arguments, who
):
    client.force_login(superuser if who == "superuser" else operator)
    client.raise_request_exception = False  # every 500 in the assertion's list, not the first
    statuses = {}
    for url_turn, url in enumerate(urls_of(namespace, name, arguments, rows), turn):
        page = client.get(url)
        statuses[f"GET {url}"] = answered(page)
        for value in share(BAD, url_turn + (who == "operator")):
            query = encoded({parameter: value for parameter in PARAMETERS})
            statuses[f"GET {url}?…={value[:20]!r}"] = answered(client.get(f"{url}?{query}"))
            everything = {parameter: value for parameter in PARAMETERS}
            statuses[f"POST {url} …={value[:20]!r}"] = post(client, url, everything)
        if who != "superuser" or page.status_code != 200 or "html" not in page["Content-Type"]:
            continue  # an operator's forms are a bot admin's: swept once
        for target, fields in posted_forms(page.content.decode(), url):
            for field_turn, field in enumerate(fields, url_turn):
                for value in share(BAD_FIELD, field_turn):
                    key = f"POST {target} {field}={value[:20]!r} (form of {url})"
                    statuses[key] = post(client, target, {**fields, field: value})
    assert {request: status for request, status in statuses.items() if status >= 500} == {}
    assert bad_text_stored() == []


def posted_forms(html: str, url: str, skipped=SKIPPED) -> list[tuple[str, dict]]:
    """(where it posts, what it posts) of each form of the page that posts to a page
    of ours not `skipped` (names of URL patterns)."""
    forms, numbered = [], iter(range(1_000))

    def with_id(tag):
        tag = tag[0]
        return tag if ' id="' in tag else f'{tag[:-1]} id="swept-{next(numbered)}">'

    html = re.sub(r"<form\b[^>]*>", with_id, html)
    for tag in re.findall(r"<form\b[^>]*>", html):
        method = re.search(r'\bmethod="([^"]*)"', tag)
        if not method or method[1].lower() != "post":
            continue
        action = re.search(r'\baction="([^"]*)"', tag)
        target = unescape(action[1]) if action and action[1] else url
        try:
            if resolve(target.split("?")[0]).url_name in skipped:
                continue
        except Resolver404:
            continue
        forms.append((target, submitted_form(html, re.search(r'\bid="([^"]+)"', tag)[1])))
    return forms
