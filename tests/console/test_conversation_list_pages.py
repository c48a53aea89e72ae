"""The users tab of a bot with many synced contacts: a page reads its own rows from the
database, in the order operators see (newest message first, then the names' natural
order), not every contact of the bot sorted in Python."""

import re

from django.urls import reverse

from conversations.models import Conversation
from tests.counted_queries import get_counting_queries

PER_PAGE = 50  # console/views/conversations.py


def users_page(client, bot, number):
    url = reverse("console:conversations", args=[bot.pk])
    return client.get(url, {"kind": "user", "page": number}).context["page"]


def synced_users(bot, count, prefix):
    # Names whose natural order is not the order of their characters: 用户2 before 用户10,
    # Chinese by pinyin among the Latin ones.
    names = [f"{prefix}{n}" if n % 3 else f"Zhang {prefix}{n}" for n in range(count)]
    return Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wm{prefix}{n}", kind="user", name=name)
        for n, name in enumerate(names)
    )


def test_the_users_tab_pages_through_the_order_operators_saw_before(
    operator_client, bot, make_message
):
    """55 users who wrote (more than a page) and 70 who never did: the pages, one after
    the other, are the writers newest first, then the rest in the natural order of their
    names, each once."""
    writers = synced_users(bot, 55, "写过")
    for conversation in reversed(writers):
        make_message(Conversation.objects.get(pk=conversation.pk), text="你好")
    synced_users(bot, 70, "用户")
    quiet = Conversation.objects.filter(bot=bot, kind="user").exclude(
        pk__in=[c.pk for c in writers]
    )
    # Messages were made from the last writer to the first: the first wrote last.
    expected = [c.pk for c in writers] + list(
        quiet.order_by("name_sort_key", "pk").values_list("pk", flat=True)
    )

    shown = []
    for number in (1, 2, 3):
        page = users_page(operator_client, bot, number)
        assert page.paginator.count == 125
        shown += [conversation.pk for conversation in page.object_list]

    assert shown == expected
    second = users_page(operator_client, bot, 2).object_list
    assert [c.newest_message_id is not None for c in second] == [True] * 5 + [False] * 45


def test_a_page_of_users_reads_its_rows_not_every_contact_of_the_bot(
    operator_client, bot, make_message
):
    """2,000 synced users, one of whom wrote: no query reads every user of the bot (their
    ids and sort keys, to sort them here); the ones without messages come a page at a
    time, ordered and cut by the database, so the second page costs the first's queries."""
    users = synced_users(bot, 2000, "用户")
    make_message(Conversation.objects.get(pk=users[7].pk), text="你好")
    url = reverse("console:conversations", args=[bot.pk])

    first = get_counting_queries(operator_client, url, {"kind": "user", "page": 1})
    second = get_counting_queries(operator_client, url, {"kind": "user", "page": 2})
    later = get_counting_queries(operator_client, url, {"kind": "user", "page": 30})

    assert first.response.status_code == later.response.status_code == 200
    for queries in (first, second, later):
        reading_all = [
            q["sql"]
            for q in queries
            if re.search(r'FROM "conversations_conversation"', q["sql"])
            and "name_sort_key" in q["sql"].split(" FROM ")[0]
            and not re.search(r"\bLIMIT\b|\bIN \(", q["sql"])
        ]
        assert reading_all == []
    assert len(later) == len(second)
    assert [c.pk for c in first.response.context["page"].object_list][0] == users[7].pk
