"""Whatever an operator's browser posts to the console or the admin: never a 500,
and a refused form stores nothing.

The POST twin of test_bad_parameters.py. NUL is the usual culprit (PostgreSQL
refuses it in text, in jsonb and in a query parameter), then numbers out of
range, ids that are not numbers, and dates a time zone cannot convert."""

import json

import pytest

from announcements.models import Announcement, SavedAudience
from announcements.staged_images import staged
from audit.models import OperatorAction
from conversations.models import Bot, Conversation
from forwarding.models import WebhookEndpoint
from messaging.models import Message
from tests.announcement_posts import post_confirmed

NUL = "\x00"
HUGE = "99999999999999999999"
LONG = "x" * 10_000

MODELS = (Bot, Conversation, Announcement, SavedAudience, Message, WebhookEndpoint, OperatorAction)


def snapshot(*objects) -> tuple:
    """Every row count, and the stored values of the given rows."""
    counts = tuple(model.objects.count() for model in MODELS)
    rows = tuple(
        tuple(type(obj).objects.filter(pk=obj.pk).values().first().items()) for obj in objects
    )
    return counts, rows


def finish(response):
    if response.streaming:
        b"".join(response.streaming_content)
    return response


# --- The console's reply box -----------------------------------------------------

REPLIES = [
    {"content": NUL},
    {"content": f"hello{NUL}"},
    {"content": LONG * 2},  # past the bridge connector's 16,384 bytes
    {"content": ""},
    {"content": " \n "},
    {},
]


@pytest.mark.parametrize("data", REPLIES)
def test_a_bad_reply_is_refused_and_nothing_is_sent(operator_client, bot, group, data):
    before = snapshot(bot, group)
    response = operator_client.post(f"/console/bots/{bot.pk}/conversations/{group.pk}/reply", data)
    assert response.status_code == 400
    assert snapshot(bot, group) == before


@pytest.mark.parametrize(
    "path", ["{HUGE}/conversations/{c}", "{b}/conversations/{HUGE}", "-1/conversations/{c}"]
)
def test_a_reply_to_an_impossible_conversation_is_not_found(operator_client, bot, group, path):
    url = "/console/bots/" + path.format(b=bot.pk, c=group.pk, HUGE=HUGE) + "/reply"
    response = operator_client.post(url, {"content": "hello"})
    assert response.status_code == 404
    assert not Message.objects.exists()


# --- Composing and editing an announcement ------------------------------------


def compose(bot, group, overrides=(), **more):
    data = {
        "bot": bot.pk,
        "title": "Weekly notice",
        "msgtype": "text",
        "text__content": "hello",
        "conversations": [group.pk],
        "kind": "once",
        "at": "2030-01-02T09:00",
        "timezone": "Asia/Shanghai",
    }
    data.update(more)
    data.update(overrides)
    return data


COMPOSE = [
    {"title": NUL},
    {"title": LONG},
    {"msgtype": NUL},
    {"text__content": f"hi{NUL}"},
    {"text__content": LONG * 10},
    {"text__mentioned_list": f"a,{NUL}"},
    {"msgtype": "link", "link__title": "t", "link__url": f"https://e.com/{NUL}"},
    {"msgtype": "link", "link__title": NUL, "link__url": "https://e.com/"},
    {"msgtype": "image", "image__url": f"https://e.com/{NUL}.png"},
    {"msgtype": "miniprogram", "miniprogram__appid": NUL, "miniprogram__title": "t"},
    {"conversations": [NUL]},
    {"conversations": ["abc"]},
    {"conversations": [HUGE]},
    {"conversations": ["-1"]},
    {"conversations": []},
    {"conversations": "1,abc"},
    {"conversations": ",".join(str(i) for i in range(1, 10_002))},
    {"removed": NUL},
    {"removed": HUGE},
    {"removed": "-1"},
    {"audience": NUL},
    {"audience": "planets"},
    {"audience": "matching", "audience_query": NUL},
    {"audience": "matching", "audience_query": LONG},
    {"audience": "matching", "audience_kind": NUL},
    {"audience": "matching", "audience_kind": "robot"},
    {"audience": "users"},  # none: the bot has a group only
    {"audience": "groups", "save_audience_as": "All groups"},
    {"audience_base": NUL},
    {"audience_base": "saved:abc"},
    {"audience_base": f"saved:{HUGE}"},
    {"audience_base": f"announcement:{HUGE}"},
    {"audience_base": "announcement:-1"},
    {"audience_base": "everything:1"},
    {"audience_base": "search:robot:x"},
    {"audience_base": f"search:group:{LONG}"},
    {"saved_audience": NUL},
    {"saved_audience": "abc"},
    {"saved_audience": HUGE},
    {"saved_audience": "-1"},
    {"save_audience_as": NUL},
    {"save_audience_as": LONG},
    {"kind": NUL},
    {"kind": "yearly"},
    {"at": NUL},
    {"at": "2030-02-30T09:00"},
    {"at": "99999-01-01T09:00"},
    {"at": "0001-01-01T00:00"},
    {"at": "9999-12-31T23:59", "timezone": "America/New_York"},
    {"kind": "daily", "time": NUL},
    {"kind": "daily", "time": "25:00"},
    {"kind": "daily", "time": "09:00", "until": NUL},
    {"kind": "daily", "time": "09:00", "until": "99999-01-01"},
    {"kind": "weekly", "time": "09:00", "weekdays": [NUL]},
    {"kind": "weekly", "time": "09:00", "weekdays": [HUGE]},
    {"kind": "weekly", "time": "09:00", "weekdays": ["-1"]},
    {"kind": "weekly", "time": "09:00", "weekdays": []},
    {"kind": "monthly", "time": "09:00", "month_day": NUL},
    {"kind": "monthly", "time": "09:00", "month_day": HUGE},
    {"kind": "monthly", "time": "09:00", "month_day": "-1"},
    {"kind": "monthly", "time": "09:00", "month_day": "1.5"},
    {"kind": "monthly", "time": "09:00", "month_day": "32"},
    {"kind": "monthly", "time": "09:00", "month_day": "Last"},
    {"kind": "cron", "cron": NUL},
    {"kind": "cron", "cron": f"0 9 * * 1{NUL}"},
    {"kind": "cron", "cron": "0 9 31 2 *"},
    {"kind": "cron", "cron": f"0 9 * * {HUGE}"},
    {"kind": "cron", "cron": "-1 9 * * *"},
    {"kind": "cron", "cron": LONG},
    {"timezone": NUL},
    {"timezone": "Mars/Olympus"},
    {"timezone": "../../etc/passwd"},
    {"timezone": LONG},
    {"submission": NUL},
    {"submission": LONG},
    {"msgtype": "image", "staged_image": NUL},
    {"msgtype": "image", "staged_image": "announcements/0123456789abcdef0123456789abcdef.png"},
    {"msgtype": "image", "staged_image": staged("../../etc/passwd")},
    {"msgtype": "image", "staged_image": staged("announcements/0123456789abcdef0123456789abcdef")},
    {"msgtype": "image", "staged_image": staged(["announcements/x"])},
]


@pytest.mark.parametrize("overrides", COMPOSE)
@pytest.mark.parametrize("save_draft", [False, True])
def test_a_bad_announcement_is_refused_and_nothing_is_stored(
    operator_client, bot, group, overrides, save_draft
):
    data = compose(bot, group, overrides, save_audience_as="Everyone")
    if save_draft:
        data["save_draft"] = "1"
    before = snapshot(bot, group)
    response = operator_client.post("/console/announcements/new/", data)
    assert response.status_code == 200  # the form again, with the error
    assert response.context["form"].errors
    assert snapshot(bot, group) == before


def test_an_announcement_for_a_past_time_is_refused_and_nothing_is_stored(
    operator_client, bot, group
):
    data = compose(bot, group, {"at": "2020-01-01T09:00"}, save_audience_as="Everyone")
    response = operator_client.post("/console/announcements/new/", data)
    assert response.status_code == 200 and response.context["form"].errors
    assert not Announcement.objects.exists() and not SavedAudience.objects.exists()


@pytest.mark.parametrize("overrides", COMPOSE)
def test_a_bad_edit_leaves_the_announcement_as_it_was(
    operator_client, operator, bot, group, overrides
):
    operator_client.post("/console/announcements/new/", compose(bot, group, save_draft="1"))
    announcement = Announcement.objects.get()
    before = snapshot(bot, group, announcement)
    response = operator_client.post(
        f"/console/announcements/{announcement.pk}/edit/", compose(bot, group, overrides)
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert snapshot(bot, group, announcement) == before


@pytest.mark.parametrize("bot_id", [NUL, "abc", HUGE, "-1", "1.0", "²"])
def test_composing_for_an_impossible_bot_is_not_found(operator_client, bot, group, bot_id):
    response = operator_client.post(
        "/console/announcements/new/", compose(bot, group, {"bot": bot_id})
    )
    assert response.status_code == 404
    assert not Announcement.objects.exists()


@pytest.mark.parametrize("bot_id", [NUL, "abc", HUGE, "-1", "1.0", "²"])
def test_switching_the_compose_page_to_an_impossible_bot_is_not_found(
    operator_client, bot, group, bot_id
):
    data = {**compose(bot, group), "switch_to": bot_id, "switch_bot": ""}
    response = operator_client.post("/console/announcements/new/", data)
    assert response.status_code == 404
    assert not Announcement.objects.exists()


@pytest.mark.parametrize("overrides", COMPOSE)
@pytest.mark.parametrize("editing", [False, True], ids=["new", "edit"])
def test_switching_the_bot_with_anything_typed_shows_it_again_and_stores_nothing(
    operator_client, bot, group, overrides, editing
):
    """An edit page offers no switch: one posted to it with anything typed stores nothing
    either (test_console_pages: a valid one is refused, not saved as an edit)."""
    url, kept = "/console/announcements/new/", ()
    if editing:
        operator_client.post(url, compose(bot, group, save_draft="1"))
        kept = (Announcement.objects.get(),)
        url = f"/console/announcements/{kept[0].pk}/edit/"
    data = {**compose(bot, group, overrides), "switch_to": bot.pk, "switch_bot": ""}
    before = snapshot(bot, group, *kept)
    response = operator_client.post(url, data)
    assert response.status_code == 200
    assert snapshot(bot, group, *kept) == before


def test_the_sweep_starts_from_an_announcement_that_is_accepted(operator_client, bot, group):
    response = post_confirmed(
        operator_client,
        "/console/announcements/new/",
        compose(bot, group, save_audience_as="Everyone"),
    )
    assert response.status_code == 302
    assert Announcement.objects.count() == SavedAudience.objects.count() == 1


@pytest.mark.parametrize(
    "answer",
    [None, "", NUL, LONG, "yes", "Send to 1 conversation now?", ["x", NUL]],
    ids=["none", "empty", "nul", "long", "yes", "another-question", "several"],
)
def test_a_send_without_the_answer_to_its_question_is_asked_and_stores_nothing(
    operator_client, bot, group, answer
):
    """The question of a send at 2030-01-02 09:00 is not "Send … now?": asked again."""
    data = compose(bot, group, save_audience_as="Everyone")
    if answer is not None:
        data["confirmed"] = answer
    before = snapshot(bot, group)
    response = operator_client.post("/console/announcements/new/", data)
    assert response.status_code == 200
    assert response.context["confirming"] and not response.context["form"].errors
    assert snapshot(bot, group) == before


@pytest.mark.parametrize("ask", [NUL, LONG, "1", "0"])
def test_asking_for_the_question_stores_nothing(operator_client, bot, group, ask):
    before = snapshot(bot, group)
    response = operator_client.post(
        "/console/announcements/new/", {**compose(bot, group), "ask": ask}
    )
    assert response.status_code == 200 and response.json()["question"]
    assert snapshot(bot, group) == before


PICKER = [
    {"audience": NUL},
    {"audience_query": NUL},
    {"audience_query": LONG},
    {"audience_kind": "robot"},
    {"audience_base": NUL},
    {"audience_base": f"announcement:{HUGE}"},
    {"conversations": f"1,{NUL}"},
    {"removed": HUGE},
    {"after": NUL},
    {"after": HUGE},
    {"after": "-1"},
]


# A page of the picker, and its "Select all N matching".
PICKER_URLS = ["/console/announcements/audience/", "/console/announcements/audience/all/"]


@pytest.mark.parametrize("url", PICKER_URLS)
@pytest.mark.parametrize("data", PICKER)
def test_a_bad_audience_search_is_refused_not_broken(operator_client, bot, group, url, data):
    response = operator_client.post(url, {"bot": bot.pk, **data})
    assert response.status_code == 400


@pytest.mark.parametrize("url", PICKER_URLS)
@pytest.mark.parametrize("bot_id", [NUL, "abc", HUGE, "-1", ""])
def test_an_audience_search_for_an_impossible_bot_is_not_found(operator_client, url, bot_id):
    response = operator_client.post(url, {"bot": bot_id})
    assert response.status_code == 404


# The compose page's markdown preview: markdown only, no longer than any bot sends.
MESSAGE_PREVIEWS = [
    {"msgtype": "text", "content": "hello"},
    {"msgtype": NUL, "content": "hello"},
    {"msgtype": "markdown", "content": NUL},
    {"msgtype": "markdown", "content": LONG * 3},
    {"content": "hello"},
]


@pytest.mark.parametrize("data", MESSAGE_PREVIEWS)
def test_a_bad_markdown_preview_is_refused_not_broken(operator_client, data):
    response = operator_client.post("/console/announcements/message-preview/", data)
    assert response.status_code == 400


@pytest.mark.parametrize("bot_id", [NUL, "abc", HUGE, "-1", "", "another"])
def test_a_markdown_preview_for_an_impossible_bot_names_no_one(
    operator_client, make_bot, make_conversation, bot_id
):
    """Another operator's bot is as unknown as none: its contacts' names are not told."""
    other = make_bot(name="other")
    make_conversation(other, "zhangsan", name="张三", kind="user")
    data = {"msgtype": "markdown", "content": "<@zhangsan>", "bot": bot_id}
    if bot_id == "another":
        data["bot"] = other.pk
    response = operator_client.post("/console/announcements/message-preview/", data)
    assert response.status_code == 200
    assert "张三" not in response.content.decode()


# --- Announcement actions -----------------------------------------------------


@pytest.mark.parametrize("verb", ["cancel", "pause", "resume", "retry", NUL, "explode"])
@pytest.mark.parametrize("run", [None, NUL, "abc", HUGE, "-1", ""])
def test_an_announcement_action_with_bad_values_never_breaks(
    operator_client, bot, group, verb, run
):
    operator_client.post("/console/announcements/new/", compose(bot, group, save_draft="1"))
    announcement = Announcement.objects.get()
    data = {} if run is None else {"run": run}
    response = operator_client.post(f"/console/announcements/{announcement.pk}/{verb}/", data)
    assert response.status_code < 500
    if verb == "retry":
        assert response.status_code == 404


@pytest.mark.parametrize("pk", [HUGE, "-1"])
def test_an_action_on_an_impossible_announcement_is_not_found(operator_client, pk):
    assert operator_client.post(f"/console/announcements/{pk}/cancel/").status_code == 404


# --- The login form -------------------------------------------------------------

LOGINS = [
    {"username": NUL, "password": "x"},
    {"username": "root", "password": NUL},
    {"username": f"root{NUL}", "password": "pw-root-123456"},
    {"username": LONG, "password": LONG},
    {"username": "root", "password": "pw-root-123456", "next": f"/console/{NUL}"},
    {"username": "root", "password": "pw-root-123456", "next": "//evil.example/"},
    {},
]


@pytest.mark.parametrize("data", LOGINS)
@pytest.mark.parametrize("url", ["/console/login/", "/admin/login/"])
def test_a_bad_login_never_breaks(client, superuser, url, data):
    response = client.post(url, data)
    assert response.status_code < 500
    if response.status_code == 302:
        assert response["Location"].startswith("/")
        assert not response["Location"].startswith("//")


# --- The admin's forms ----------------------------------------------------------


def bot_form(bot, overrides=(), **more):
    data = {
        "name": bot.name,
        "is_active": "on",
        "connector": bot.connector,
        "agent_url": bot.agent_url,
        "agent_token": "",
        "webhook_url": "",
        "rate_limit_per_minute": "20",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        "timezone": "",
    }
    data.update(more)
    data.update(overrides)
    return data


BOT_FORMS = [
    {"name": NUL},
    {"name": LONG},
    {"connector": NUL},
    {"agent_url": f"http://127.0.0.1:9/{NUL}"},
    {"agent_token": NUL * 40},
    {"agent_token": "t" * 40 + NUL},
    {"agent_token": LONG},
    {"webhook_url": f"https://hooks.example/{NUL}"},
    {"webhook_url": "https://" + "h" * 600 + ".example/"},
    {"webhook_url": "not a url"},
    {"rate_limit_per_minute": NUL},
    {"rate_limit_per_minute": HUGE},
    {"rate_limit_per_minute": "-1"},
    {"rate_limit_per_minute": "0"},
    {"rate_limit_per_minute": "1e3"},
    {"quiet_hours_start": NUL},
    {"quiet_hours_start": "25:00"},
    {"quiet_hours_end": "09:61"},
    {"quiet_hours_end": HUGE},
    {"timezone": NUL},
    {"timezone": "Mars/Olympus"},
    {"timezone": "../../../etc/localtime"},
    {"timezone": LONG},
    {"operators": [NUL]},
    {"operators": ["abc"]},
    {"operators": [HUGE]},
    {"operators": ["-1"]},
]


@pytest.mark.parametrize("overrides", BOT_FORMS)
def test_a_bad_bot_change_is_refused_and_nothing_is_stored(client, superuser, bot, overrides):
    client.force_login(superuser)
    before = snapshot(bot)
    response = client.post(f"/admin/conversations/bot/{bot.pk}/change/", bot_form(bot, overrides))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert snapshot(bot) == before


@pytest.mark.parametrize("overrides", BOT_FORMS)
def test_a_bad_new_bot_is_refused(client, superuser, bot, overrides):
    client.force_login(superuser)
    data = bot_form(bot, overrides, name="new", agent_token="t" * 40)
    before = snapshot(bot)
    response = client.post("/admin/conversations/bot/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert snapshot(bot) == before


def conversation_form(bot, group, overrides=(), **more):
    data = {
        "bot": bot.pk,
        "conversation_id": group.conversation_id,
        "kind": group.kind,
        "name": group.name,
        "avatar_url": "",
        "member_count": "",
        "extra": "{}",
        "robot_key": "",
        "is_active": "on",
    }
    data.update(more)
    data.update(overrides)
    return data


CONVERSATION_FORMS = [
    {"bot": NUL},
    {"bot": "abc"},
    {"bot": HUGE},
    {"bot": "-1"},
    {"conversation_id": NUL},
    {"conversation_id": LONG},
    {"kind": NUL},
    {"name": f"销售{NUL}"},
    {"avatar_url": f"https://e.com/{NUL}.png"},
    {"member_count": NUL},
    {"member_count": HUGE},
    {"member_count": "-1"},
    {"robot_key": NUL},
    {"extra": json.dumps({f"a{NUL}": 1})},
    {"extra": json.dumps({"a": NUL})},
    {"extra": json.dumps({"a": [1, {"b": f"x{NUL}"}]})},
    {"extra": json.dumps(f"{NUL}")},
    {"extra": json.dumps([NUL])},
    {"extra": '{"a": NaN}'},
    {"extra": '{"a": Infinity}'},
    {"extra": '{"a": "\\ud800"}'},
    {"extra": f'{{"a": "{NUL}"}}'},
    {"extra": "{not json"},
    {"extra": '{"a": 1, "a": 1}'},  # Django's decoder kept the last silently
    {"extra": NUL},
    # Django's decoder recursed past Python's limit: a 500.
    {"extra": "[" * 10_000 + "]" * 10_000},
    {"extra": '{"a":' * 33 + "1" + "}" * 33},
    {"extra": json.dumps({"a": "x" * 100_000})},
]


@pytest.mark.parametrize("overrides", CONVERSATION_FORMS)
def test_a_bad_conversation_change_is_refused_and_nothing_is_stored(
    client, superuser, bot, group, overrides
):
    client.force_login(superuser)
    before = snapshot(bot, group)
    response = client.post(
        f"/admin/conversations/conversation/{group.pk}/change/",
        conversation_form(bot, group, overrides),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert snapshot(bot, group) == before


@pytest.mark.parametrize("overrides", CONVERSATION_FORMS)
def test_a_bad_new_conversation_is_refused(client, superuser, bot, group, overrides):
    client.force_login(superuser)
    before = snapshot(bot, group)
    response = client.post(
        "/admin/conversations/conversation/add/",
        conversation_form(bot, group, overrides, conversation_id="wrNew"),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert snapshot(bot, group) == before


def endpoint_form(bot, overrides=(), **more):
    data = {
        "bot": bot.pk,
        "url": "https://hooks.example/in",
        "msgtypes": "[]",
        "description": "",
        "is_active": "on",
    }
    data.update(more)
    data.update(overrides)
    return data


ENDPOINT_FORMS = [
    {"bot": NUL},
    {"bot": "abc"},
    {"bot": HUGE},
    {"url": f"https://hooks.example/{NUL}"},
    {"url": "https://" + "h" * 600 + ".example/"},
    {"description": NUL},
    {"description": LONG},
    {"msgtypes": json.dumps([f"te{NUL}xt"])},
    {"msgtypes": json.dumps([NUL])},
    {"msgtypes": json.dumps({"a": 1})},
    {"msgtypes": json.dumps([1])},
    {"msgtypes": "[NaN]"},
    {"msgtypes": '["\\ud800"]'},
    {"msgtypes": NUL},
    {"msgtypes": "[not json"},
    {"msgtypes": "[" * 10_000 + "]" * 10_000},
]


@pytest.mark.parametrize("overrides", ENDPOINT_FORMS)
def test_a_bad_webhook_endpoint_is_refused_and_nothing_is_stored(client, superuser, bot, overrides):
    client.force_login(superuser)
    before = snapshot(bot)
    response = client.post("/admin/forwarding/webhookendpoint/add/", endpoint_form(bot, overrides))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert snapshot(bot) == before


@pytest.mark.parametrize("overrides", [o for o in ENDPOINT_FORMS if "bot" not in o])
def test_a_bad_webhook_endpoint_change_is_refused(client, superuser, bot, overrides):
    client.force_login(superuser)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    before = snapshot(bot, endpoint)
    response = client.post(
        f"/admin/forwarding/webhookendpoint/{endpoint.pk}/change/",
        endpoint_form(bot, overrides),
    )
    assert response.status_code == 200
    assert snapshot(bot, endpoint) == before


@pytest.mark.parametrize(
    "surface, data",
    [
        ("bot", bot_form),
        ("conversation", conversation_form),
        ("endpoint", endpoint_form),
    ],
)
def test_the_admin_sweeps_start_from_forms_that_are_accepted(
    client, superuser, bot, group, surface, data
):
    """Else every refusal above could be for a reason that has nothing to do with its input."""
    client.force_login(superuser)
    url, form = {
        "bot": (f"/admin/conversations/bot/{bot.pk}/change/", bot_form(bot)),
        "conversation": (
            f"/admin/conversations/conversation/{group.pk}/change/",
            conversation_form(bot, group, extra='{"a": "b"}'),
        ),
        "endpoint": ("/admin/forwarding/webhookendpoint/add/", endpoint_form(bot)),
    }[surface]
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors


REPLAY_FORMS = [
    {"start": NUL, "end": NUL},
    {"start": "0001-01-01T00:00", "end": "2030-01-01T00:00"},
    {"start": "2020-01-01T00:00", "end": "9999-12-31T23:59"},
    {"start": "99999-01-01T00:00", "end": "99999-01-02T00:00"},
    {"start": "2020-02-30T00:00", "end": "2020-03-01T00:00"},
    {"start": "2030-01-01T00:00", "end": "2020-01-01T00:00"},
    {"start": HUGE, "end": "-1"},
]


@pytest.mark.parametrize("data", REPLAY_FORMS)
def test_replaying_failed_deliveries_over_bad_dates_never_breaks(client, superuser, bot, data):
    client.force_login(superuser)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    response = client.post(f"/admin/forwarding/webhookendpoint/{endpoint.pk}/replay-failed/", data)
    assert response.status_code < 500


@pytest.mark.parametrize("name", [NUL, f"acme{NUL}", LONG, "", " ", HUGE])
def test_a_bad_bot_deletion_confirmation_deletes_nothing(operator_client, bot, group, name):
    before = snapshot(bot, group)
    response = operator_client.post(f"/console/bots/{bot.pk}/delete", {"name": name})
    assert response.status_code == 400
    assert snapshot(bot, group) == before


# --- Admin actions and the admin's own views ----------------------------------

ACTIONS = [
    ("conversations/bot", "rotate_secrets"),
    ("conversations/bot", "sync_contacts"),
    ("conversations/bot", "resume_sending"),
    ("conversations/bot", "create_group_chat"),
    ("conversations/bot", "delete_selected"),
    ("conversations/conversation", "delete_selected"),
    ("messaging/message", "retry_now"),
    ("messaging/message", "mark_sent"),
    ("messaging/message", "cancel"),
    ("forwarding/webhookendpoint", "reenable"),
    ("forwarding/webhookdelivery", "replay"),
]


@pytest.mark.parametrize("changelist, action", ACTIONS)
@pytest.mark.parametrize("selected", [[NUL], ["abc"], [HUGE], ["-1"], [""]])
def test_an_admin_action_on_impossible_rows_never_breaks(
    client, superuser, bot, group, changelist, action, selected
):
    client.force_login(superuser)
    before = snapshot(bot, group)
    response = client.post(
        f"/admin/{changelist}/",
        {"action": action, "_selected_action": selected, "index": "0"},
    )
    assert response.status_code < 500
    assert snapshot(bot, group) == before


@pytest.mark.parametrize("action", [NUL, "nope", ""])
def test_an_unknown_admin_action_never_breaks(client, superuser, bot, action):
    client.force_login(superuser)
    response = client.post(
        "/admin/conversations/bot/",
        {"action": action, "_selected_action": [bot.pk], "index": "0"},
    )
    assert response.status_code < 500


# A rotate page and the status of a post it refuses (the admin's pages answer 200).
ROTATE_PAGES = [
    ("/admin/conversations/bot/{b}/rotate-secret/", 200),
    ("/admin/forwarding/webhookendpoint/{e}/rotate-secret/", 200),
    ("/console/bots/{b}/secrets/rotate", 400),
    ("/console/bots/{b}/webhooks/{e}/secret/rotate", 400),
]


@pytest.mark.parametrize("page, refused", ROTATE_PAGES)
@pytest.mark.parametrize("grace", [NUL, "abc", HUGE, "-1", "5", ""])
@pytest.mark.parametrize("confirmed", [None, "confirmed", NUL])
def test_rotating_with_a_grace_that_is_no_choice_rotates_nothing(
    client, superuser, bot, page, refused, grace, confirmed
):
    client.force_login(superuser)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    before = snapshot(bot, endpoint)
    data = {"grace_hours": grace, **({"no_grace": confirmed} if confirmed is not None else {})}
    response = client.post(page.format(b=bot.pk, e=endpoint.pk), data)
    assert response.status_code == refused
    assert snapshot(bot, endpoint) == before


@pytest.mark.parametrize(
    "url",
    [
        "/admin/conversations/bot/{HUGE}/rotate-secret/",
        "/admin/conversations/bot/{HUGE}/sync-contacts/",
        "/admin/conversations/bot/{HUGE}/change/",
        "/admin/conversations/bot/{NUL}/change/",
        "/admin/conversations/bot/abc/change/",
        "/admin/conversations/bot/{HUGE}/delete/",
        "/admin/conversations/conversation/{HUGE}/change/",
        "/admin/conversations/conversation/{NUL}/change/",
        "/admin/forwarding/webhookendpoint/{HUGE}/test-event/",
        "/admin/forwarding/webhookendpoint/{HUGE}/replay-failed/",
        "/admin/forwarding/webhookendpoint/{HUGE}/rotate-secret/",
        "/admin/forwarding/webhookendpoint/{HUGE}/reveal-secret/",
        "/admin/forwarding/webhookdelivery/{HUGE}/replay/",
        "/admin/messaging/message/{NUL}/change/",
    ],
)
def test_an_admin_view_of_an_impossible_row_never_breaks(client, superuser, bot, url):
    client.force_login(superuser)
    before = snapshot(bot)
    response = finish(client.post(url.format(HUGE=HUGE, NUL="%00"), {"post": "yes"}))
    assert response.status_code < 500
    assert snapshot(bot) == before
