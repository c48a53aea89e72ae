"""Operators see only their bots, at every URL: the console's, the announcements', the
Django admin's of our models, and the API's.

Bot A is run by the user under test (a bot admin of A, or a plain operator of A); bot B
is someone else's, with a row of every kind (tests/access_rows.py), each holding a text
no page of A shows. The sweep walks the URLconf (console/urls.py,
console/announcement_urls.py, and each ModelAdmin's get_urls()), so a new page is swept
without being listed here. Every URL naming a row of B (and bot A's URLs naming B's
rows below it) answers 403, 404, 405 or a redirect to a login page, to a GET and to
each POST (the forms a superuser's page of B has, and one naming B everywhere); no
answer shows a text of B it was not sent; and nothing in the database changes.
Pages naming no row (lists, search, exports, autocomplete) are asked about B by query
string and post, and must not show B's texts either."""

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.core import signing
from django.db import models
from django.test import Client
from django.urls import get_resolver, reverse

from messaging.media_links import link_token
from messaging.models import Message
from tests.access_rows import changes, operator_permissions, seed_bot, snapshot
from tests.console.test_bad_input_sweep import VERBS, posted_forms

REFUSED = {403, 404, 405}
LOGIN_PAGES = ("/console/login/", "/admin/login/")
# Where Django's admin sends a change, delete or history page of a row the user cannot
# see ("… doesn't exist. Perhaps it was deleted?"), as it does for a row that is gone.
ADMIN_INDEX = "/admin/"
# Console URL arguments: which of B's rows each names.
CONSOLE_IDS = ("bot_id", "pk", "message_id", "media_id", "endpoint_id", "delivery_id", "job_id")


@pytest.fixture
def world(make_bot, make_conversation, superuser):
    """Bot A with a row of every kind (texts marked AAA), and bot B's (ZQX)."""
    bot_a = make_bot(name="acme")
    group_a = make_conversation(bot_a, "wrGroup1", name="销售群")
    own = seed_bot(bot_a, make_conversation, superuser, "AAA")
    other = seed_bot(make_bot(name="rival-ZQX"), make_conversation, superuser, "ZQX")
    return bot_a, group_a, other, own


@pytest.fixture(params=["bot_admin", "operator"])
def user_of_a(request, world, django_user_model):
    """A bot admin of A, or an operator of A who is no bot admin: staff, every
    permission on our models (less the bot admin's), no bot but A."""
    bot_a, _group, _other, _own = world
    user = django_user_model.objects.create_user("xena", password="pw-xena", is_staff=True)
    user.user_permissions.set(operator_permissions(bot_admin=request.param == "bot_admin"))
    bot_a.operators.add(user)
    return user


@pytest.fixture
def as_a(client, user_of_a):
    client.force_login(user_of_a)
    client.raise_request_exception = False  # a 500 is a finding like any other
    return client


@pytest.fixture
def as_superuser(superuser):
    root = Client()
    root.force_login(superuser)
    return root


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


class Findings:
    """What one sweep found: refusals that were not, B's texts shown, rows changed."""

    def __init__(self, other, user):
        self.other, self.user, self.found = other, user, []

    def snapshot(self):
        return snapshot(self.user, self.other.rows["conversations.bot"])

    def check(self, method, url, response, sent: str = "", must_refuse: bool = True):
        status = response.status_code
        body = body_of(response)
        shown = [t for t in self.other.texts if t in body and t not in sent and t not in url]
        if shown:
            self.found.append(f"{method} {url} [{status}] shows {shown}")
        if status >= 500:
            self.found.append(f"{method} {url} [{status}]")
        elif must_refuse and not refused(response):
            self.found.append(f"{method} {url} [{status}] not refused {response.get('Location')}")

    def unchanged(self, before, what: str):
        changed = changes(before, self.snapshot())
        if changed:
            self.found.append(f"{what} changed {changed}")


def refused(response) -> bool:
    if response.status_code in REFUSED:
        return True
    location = response.get("Location", "") if response.status_code == 302 else ""
    return location.startswith(LOGIN_PAGES) or location == ADMIN_INDEX


def naming_b(other, bot_id=None) -> dict:
    """A post, or query, naming B's rows in every field a form of ours reads them from,
    for bot B (or for `bot_id`: A's bot, B's conversations)."""
    ids = other.ids
    return {
        "bot": bot_id or ids["bot_id"],
        "conversation": ids["pk"],
        "conversations": [ids["pk"], ids["person"]],
        "conversation_id": "wrRivalZQX",
        "q": "ZQX",
        "sender": "lisi_zqx",
        "recipients": "ZQX",
        "content": "hello",
        "title": "by A",
        "msgtype": "text",
        "text__content": "hello",
        "kind": "once",
        "at": "2030-01-02T09:00",
        "timezone": "Asia/Shanghai",
        "endpoint": ids["endpoint_id"],
        "message": ids["message_id"],
        "announcement": ids["announcement"],
        "saved_audience": other.rows["announcements.savedaudience"].pk,
        "confirm": "rival-ZQX",
        "post": "yes",
    }


def walked(namespaces=("console", "announcements")) -> list[tuple[str, str, list[str]]]:
    found = []
    for namespace in namespaces:
        _prefix, resolver = get_resolver().namespace_dict[namespace]
        for pattern in resolver.url_patterns:
            if pattern.name not in (None, "login", "logout"):
                found.append((namespace, pattern.name, list(pattern.pattern.converters)))
    return found


CONSOLE = walked()


def console_urls(namespace, name, arguments, other, bot_a) -> list[str]:
    """The pattern's URLs naming B's rows: under B, and under A when it names more than
    a bot (A's URL, B's conversation or endpoint)."""
    ids = dict(other.ids)
    if namespace == "announcements":
        ids["pk"] = other.ids["announcement"]
    if name.startswith("media_"):
        ids["message_id"] = other.ids["received_id"]
    values = {a: ids[a] for a in arguments if a in CONSOLE_IDS or a == "user_id"}
    variable = next((a for a in arguments if a in ("verb", "which", "name")), None)
    choices = [{}] if variable is None else [{variable: v} for v in VERBS[name]]
    bots = [ids["bot_id"]]
    if "bot_id" in values and len(values) > 1:
        bots.append(bot_a.pk)
    urls = []
    for bot_id in dict.fromkeys(bots):
        for choice in choices:
            kwargs = {**values, **choice} | ({"bot_id": bot_id} if "bot_id" in values else {})
            urls.append(reverse(f"{namespace}:{name}", kwargs=kwargs))
    if namespace == "announcements" and "pk" in arguments:  # the scheduled one too
        kwargs = {**values, "pk": other.ids["planned"], **choices[-1]}
        urls.append(reverse(f"{namespace}:{name}", kwargs=kwargs))
    return urls


def sweep(client, root, other, user, urls, must_refuse, extra_queries=()) -> list[str]:
    """GET and POST each URL as the user of A (and each form a superuser's page of it
    posts); the findings."""
    findings = Findings(other, user)
    b_query = urlencode(naming_b(other), doseq=True)
    for url in urls:
        page = root.get(url)
        forms = []
        if page.status_code == 200 and "html" in page.get("Content-Type", ""):
            forms = posted_forms(body_of(page), url, skipped={"logout", "set_language"})
        before = findings.snapshot()
        for query in ("", *([] if must_refuse else [b_query]), *extra_queries):
            target = f"{url}?{query}" if query else url
            findings.check("GET", target, client.get(target), query, must_refuse)
        for sent in (naming_b(other), naming_b(other, user.bots.get().pk)):
            findings.check("POST", url, client.post(url, sent), repr(sent), must_refuse)
        for target, fields in forms:
            response = client.post(target, fields)
            findings.check("POST", target, response, repr(fields), must_refuse or target != url)
        findings.unchanged(before, url)
    return findings.found


def own_pages(client, other, user, urls) -> list[str]:
    """GET each URL of the user's own bot's rows (asked about B by query string too):
    the findings (B's texts shown)."""
    findings = Findings(other, user)
    b_query = urlencode(naming_b(other), doseq=True)
    for url in urls:
        for target in (url, f"{url}?{b_query}"):
            findings.check("GET", target, client.get(target), b_query, must_refuse=False)
    return findings.found


def test_no_console_page_shows_or_changes_anything_of_another_operators_bot(
    as_a, as_superuser, world, user_of_a
):
    bot_a, _group, other, own = world
    found = []
    for namespace, name, arguments in CONSOLE:
        naming = [a for a in arguments if a in CONSOLE_IDS]
        if naming:
            urls = console_urls(namespace, name, arguments, other, bot_a)
            found += own_pages(
                as_a, other, user_of_a, console_urls(namespace, name, arguments, own, bot_a)
            )
        else:
            urls = [reverse(f"{namespace}:{name}", kwargs={a: VERBS[name][0] for a in arguments})]
        found += sweep(as_a, as_superuser, other, user_of_a, urls, bool(naming))
    assert found == []


def admin_urls(other) -> list[tuple[str, bool]]:
    """(URL, whether it names a row of B) of every URL of our ModelAdmins."""
    found = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if label not in other.rows:
            continue
        row = other.rows[label]
        for pattern in model_admin.get_urls():
            if pattern.name is None:
                continue  # <object_id>/: Django's redirect to the change page, swept itself
            arguments = list(pattern.pattern.converters)
            kwargs = {a: row.pk for a in arguments if a in ("object_id", "pk", "id")}
            if "which" in arguments:
                kwargs["which"] = "secret"
            found.append((reverse(f"admin:{pattern.name}", kwargs=kwargs), bool(kwargs)))
    return found


def test_the_admin_shows_and_changes_nothing_of_another_operators_bot(
    as_a, as_superuser, world, user_of_a
):
    _bot_a, _group, other, own = world
    findings = []
    searches = [urlencode({"q": text}) for text in ("ZQX", "rival", "wrRival", "lisi")]
    for url, names_b in admin_urls(other):
        extra = () if names_b else searches
        findings += sweep(as_a, as_superuser, other, user_of_a, [url], names_b, extra)
    findings += own_pages(as_a, other, user_of_a, [url for url, _ in admin_urls(own)])
    for url in (reverse("admin:index"), *(f"/admin/{app}/" for app in ("conversations",))):
        findings += sweep(as_a, as_superuser, other, user_of_a, [url], False)
    assert findings == []


def test_admin_actions_on_another_operators_rows_change_nothing(
    as_a, as_superuser, world, user_of_a, rf, superuser
):
    _bot_a, _group, other, _own = world
    findings = Findings(other, user_of_a)
    for model, model_admin in admin.site._registry.items():
        row = other.rows.get(model._meta.label_lower)
        if row is None:
            continue
        request = rf.get("/")
        request.user = superuser
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for action in model_admin.get_actions(request):
            before = findings.snapshot()
            data = {"action": action, "_selected_action": [row.pk], "post": "yes", "index": 0}
            findings.check("POST", changelist, as_a.post(changelist, data), "", False)
            findings.unchanged(before, f"{changelist} {action}")
    assert findings.found == []


def test_admin_autocomplete_lists_nothing_of_another_operators_bot(as_a, world, user_of_a):
    _bot_a, _group, other, _own = world
    findings = Findings(other, user_of_a)
    for model in admin.site._registry:
        if model._meta.label_lower not in other.rows:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, (models.ForeignKey, models.ManyToManyField)):
                continue
            for term in ("", "ZQX", "rival"):
                query = urlencode(
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    }
                )
                url = f"/admin/autocomplete/?{query}"
                findings.check("GET", url, as_a.get(url), query, False)
    assert findings.found == []


@pytest.fixture
def api_of_a(world, client):
    """A client sending bot A's API secret."""
    bot_a, _group, _other, _own = world
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {bot_a.secret}"
    return client


def answered_json(findings, method, response, sent=""):
    findings.check(method, response.request["PATH_INFO"], response, sent, must_refuse=False)
    return response.json()


def test_a_bots_api_secret_reaches_nothing_of_another_bot(api_of_a, world):
    bot_a, group_a, other, _own = world
    findings = Findings(other, None)
    received, failed, scheduled = Message.objects.filter(bot_id=other.ids["bot_id"]).order_by("pk")
    upload = other.rows["messaging.uploadedmedia"]
    before = findings.snapshot()
    sends = [
        {"conversation_id": "wrRivalZQX", "msgtype": "text", "text": {"content": "hi"}},
        {"conversation_id": "lisi_zqx", "msgtype": "text", "text": {"content": "hi"}},
        {"conversation_id": group_a.conversation_id, "msgtype": "image",
         "image": {"media_id": upload.media_id}},
    ]  # fmt: skip
    for body in sends:
        answer = answered_json(
            findings, "POST", api_of_a.post("/api/send", body, content_type="application/json"),
            repr(body),
        )  # fmt: skip
        assert answer["errcode"] != 0, body
    for message in (received, failed, scheduled):
        answer = answered_json(findings, "GET", api_of_a.get(f"/api/messages/{message.msgid}"))
        assert answer["errcode"] != 0
    answer = answered_json(
        findings, "POST", api_of_a.post(f"/api/messages/{scheduled.msgid}/cancel")
    )
    assert answer["errcode"] != 0
    for url in ("/api/users", "/api/groups"):
        for query in ("", "?q=ZQX", "?q=rival", "?include_inactive=true"):
            answered_json(findings, "GET", api_of_a.get(url + query))
    findings.unchanged(before, "the API")
    assert findings.found == []


def test_a_media_link_of_another_bot_opens_only_as_signed(client, world):
    """/files/<token> is a signed link, no login: a token made up for B's media (its
    id unsigned, or signed with another salt) opens nothing."""
    _bot_a, _group, other, _own = world
    media_id = other.ids["media_id"]
    made_up = [
        signing.dumps(media_id, salt="another-salt", compress=False),
        str(media_id),
        link_token(media_id)[:-2] + "xx",
    ]
    for token in made_up:
        response = client.get(f"/files/{token}")
        assert response.status_code == 403, token
    assert client.get(f"/files/{link_token(media_id)}").status_code == 200  # the real one
