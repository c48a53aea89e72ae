"""GET /api/users and GET /api/groups (seed section 2)."""

import pytest

from conversations.models import Conversation


@pytest.fixture
def contacts(bot, make_conversation):
    user = Conversation.Kind.USER
    make_conversation(bot, "wmB", kind=user, name="Bob", avatar_url="https://example.com/b.png")
    make_conversation(bot, "wmA", kind=user, name="Alice")
    make_conversation(bot, "wmGone", kind=user, name="Aaron", is_active=False)
    make_conversation(bot, "wrSales", name="销售群", member_count=38)
    make_conversation(bot, "wrOps", name="Ops 值班", member_count=5)
    make_conversation(bot, "wrOld", name="Archive", is_active=False)


def test_users_lists_exactly_the_active_users_sorted_by_name(client, bot, contacts):
    answer = client.get("/api/users", {"secret": bot.secret})
    assert answer.status_code == 200
    assert answer.json() == {
        "errcode": 0,
        "errmsg": "ok",
        "data": [
            {"name": "Alice", "conversation_id": "wmA", "avatar": "", "is_active": True},
            {
                "name": "Bob",
                "conversation_id": "wmB",
                "avatar": "https://example.com/b.png",
                "is_active": True,
            },
        ],
    }


def test_groups_lists_exactly_the_active_groups_with_member_counts(client, bot, contacts):
    data = client.get("/api/groups", {"secret": bot.secret}).json()["data"]
    assert data == [
        {
            "name": "Ops 值班",
            "conversation_id": "wrOps",
            "avatar": "",
            "member_count": 5,
            "is_active": True,
        },
        {
            "name": "销售群",
            "conversation_id": "wrSales",
            "avatar": "",
            "member_count": 38,
            "is_active": True,
        },
    ]


def test_include_inactive_adds_the_conversations_a_sync_no_longer_sees(client, bot, contacts):
    data = client.get("/api/users", {"secret": bot.secret, "include_inactive": "1"}).json()["data"]
    assert [(u["name"], u["is_active"]) for u in data] == [
        ("Aaron", False),
        ("Alice", True),
        ("Bob", True),
    ]


def test_q_filters_by_name_case_insensitively(client, bot, contacts):
    data = client.get("/api/groups", {"secret": bot.secret, "q": "ops"}).json()["data"]
    assert [g["conversation_id"] for g in data] == ["wrOps"]
    data = client.get("/api/users", {"secret": bot.secret, "q": "zzz"}).json()["data"]
    assert data == []


def test_lists_show_only_the_bots_own_conversations(client, bot, contacts, make_bot):
    other = make_bot(name="other")
    assert client.get("/api/groups", {"secret": other.secret}).json()["data"] == []


@pytest.mark.parametrize("path", ["/api/users", "/api/groups"])
@pytest.mark.parametrize("secret", [None, "", "x" * 43])
def test_a_wrong_or_missing_secret_answers_93000(client, db, path, secret):
    answer = client.get(path, {"secret": secret} if secret is not None else {})
    assert answer.status_code == 401
    assert answer.json()["errcode"] == 93000
    assert answer.json()["errmsg"].startswith("invalid secret")


def test_an_inactive_bot_cannot_list(client, bot, contacts):
    bot.is_active = False
    bot.save()
    answer = client.get("/api/groups", {"secret": bot.secret})
    assert answer.status_code == 403 and answer.json()["errcode"] == 7000102


def test_listing_is_one_query_after_the_secret_however_many_rows(
    client, bot, make_conversation, django_assert_num_queries
):
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wr{n}", name=f"g{n:04d}") for n in range(300)
    )
    with django_assert_num_queries(2):  # the bot by secret, then the list
        data = client.get("/api/groups", {"secret": bot.secret}).json()["data"]
    assert len(data) == 300 and data[0]["name"] == "g0000"


def test_the_lists_are_described_in_openapi(client, db):
    spec = client.get("/api/openapi.json").json()
    groups = spec["paths"]["/api/groups"]["get"]
    assert {p["name"] for p in groups["parameters"]} == {"q", "include_inactive"}
    assert groups["security"] == [{"BotSecret": []}]
    assert spec["components"]["securitySchemes"]["BotSecret"]["name"] == "secret"
    schema = groups["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/GroupList")
    assert "member_count" in spec["components"]["schemas"]["Group"]["properties"]


def test_the_active_list_is_read_in_index_order_without_a_sort(bot, make_bot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.api import _rows

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL picks its plan by cost (bot_id index + sort is as fast here)")
    bots = [bot, make_bot(), make_bot()]
    Conversation.objects.bulk_create(
        Conversation(bot=b, conversation_id=f"wr{b.pk}-{n}", name=f"g{n:05d}", is_active=n % 9 > 0)
        for b in bots
        for n in range(2000)
    )
    with CaptureQueriesContext(connection) as captured:
        _rows(bot, "group", "", False, "avatar_url")
    sql = captured.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "conv_list_idx" in plan and "TEMP B-TREE" not in plan, plan


def test_a_bad_parameter_answers_in_the_envelope(client, bot):
    answer = client.get("/api/groups", {"secret": bot.secret, "include_inactive": "maybe"})
    assert answer.status_code == 400 and answer.json()["errcode"] == 40035
    answer = client.get("/api/users", {"secret": bot.secret, "q": "x" * 101})
    assert answer.status_code == 400 and answer.json()["errcode"] == 40035
    # PostgreSQL refuses NUL in a query parameter: a clear 40035, not a 503.
    answer = client.get("/api/users", {"secret": bot.secret, "q": "a\x00b"})
    assert answer.status_code == 400 and answer.json() == {
        "errcode": 40035,
        "errmsg": "invalid parameter: q contains a NUL character",
    }


@pytest.mark.parametrize(
    "query, name",
    [
        ("include_inactive=1&include_inactive=0", "include_inactive"),
        ("q=Bob&q=Alice", "q"),
    ],
)
def test_a_parameter_given_twice_with_different_values_is_40035(client, bot, contacts, query, name):
    answer = client.get(f"/api/users?secret={bot.secret}&{query}")
    assert answer.status_code == 400 and answer.json() == {
        "errcode": 40035,
        "errmsg": f"invalid parameter: {name} is given twice with different values",
    }


def test_the_same_value_twice_is_one(client, bot, contacts):
    answer = client.get(
        f"/api/users?secret={bot.secret}&q=A&q=A&include_inactive=1&include_inactive=1"
    )
    assert [user["name"] for user in answer.json()["data"]] == ["Aaron", "Alice"]
