"""Each conversation keeps the sort key of its name (conversations.sort_keys), however the
name is written: the lists of contacts read their natural order from the database."""

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from botadmin.natural_order import sort_key
from conversations import sort_keys, sync
from conversations.activity import record_seen_in_message
from conversations.models import Conversation, SyncRun
from conversations.sort_keys import name_sort_key

from .test_sync import agent_with_contacts  # noqa: F401  (the fake agent with contacts)


def stale(bot) -> list[str]:
    """The names of the bot's conversations whose key is not their name's."""
    return [
        c.name for c in bot.conversations.all() if c.name_sort_key != name_sort_key(c.name, c.kind)
    ]


def test_the_database_orders_the_keys_as_the_names_sort(bot, make_conversation):
    """Byte by byte, whatever the database's collation: a linguistic one would skip the
    dots and spaces of the keys, or order Han characters its own way."""
    names = ["张三", "李四", "王五", "Alice", "bob", "用户10", "用户2", "Li Ming", "李明"]
    names += ["x y", "x.y", "xy", "x-y 2", "", "【重要】通知群", "Émile", "さくら", "Иван"]
    for n, name in enumerate(names):
        make_conversation(bot, f"wr{n}", name=name)

    stored = bot.conversations.order_by("name_sort_key", "pk").values_list("name", flat=True)

    assert list(stored) == sorted(names, key=sort_key)
    assert list(stored)[1:8] == ["Alice", "bob", "Émile", "Li Ming", "李明", "李四", "王五"]


def test_every_way_a_conversation_is_saved_gives_it_its_names_key(bot, make_conversation):
    made = make_conversation(bot, "wr1", name="销售群")
    made.name = "客服群"
    made.save()
    Conversation.objects.bulk_create([Conversation(bot=bot, conversation_id="wr2", name="研发群2")])
    Conversation.objects.update_or_create(
        bot=bot, conversation_id="wr2", defaults={"name": "研发群10"}
    )
    Conversation.objects.get_or_create(bot=bot, conversation_id="wr3", defaults={"name": "运维"})

    assert sorted(bot.conversations.values_list("name", flat=True)) == sorted(
        ["客服群", "研发群10", "运维"]
    )
    assert stale(bot) == []


def test_a_sync_of_a_renamed_contact_updates_its_key(
    bridge_bot,
    agent_with_contacts,  # noqa: F811
):
    agent = agent_with_contacts
    sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)
    agent.groups[0]["name"] = "张三的群"
    agent.users[1]["name"] = "李四"

    run = sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)

    assert run.counts()["group"]["updated"] == 1 and run.counts()["user"]["updated"] == 1
    assert stale(bridge_bot) == []
    users = bridge_bot.conversations.filter(kind="user").order_by("name_sort_key")
    assert list(users.values_list("name", flat=True)) == ["Alice", "李四"]
    groups = bridge_bot.conversations.filter(kind="group").order_by("name_sort_key")
    assert list(groups.values_list("name", flat=True))[-1] == "张三的群"


def test_a_contact_renamed_in_a_message_gets_its_new_names_key(bot, make_conversation):
    make_conversation(bot, "wrChat", name="群聊 9")

    record_seen_in_message(bot, "wrChat", at=timezone.now(), name="群聊 10")
    record_seen_in_message(bot, "wrNew", at=timezone.now(), name="新群 2")

    assert stale(bot) == []


def test_one_the_previous_release_wrote_without_its_key_gets_it_from_a_sync_or_a_message(
    bridge_bot,
    agent_with_contacts,  # noqa: F811
):
    """A host still on the release before the key inserts rows without one (its database
    default) and renames them without changing it, during a rolling upgrade."""
    sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)
    Conversation.objects.update(name_sort_key="")
    Conversation.objects.filter(conversation_id="wrG02").update(name_sort_key="group.011 x")
    Conversation.objects.create(bot=bridge_bot, conversation_id="wrSeen", name="群聊")
    Conversation.objects.filter(conversation_id="wrSeen").update(name_sort_key="")

    run = sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)
    record_seen_in_message(bridge_bot, "wrSeen", at=timezone.now(), name="群聊")

    assert run.counts()["group"]["updated"] == run.counts()["user"]["updated"] == 0
    assert stale(bridge_bot) == []


def test_the_migration_fills_every_key_a_window_at_a_time_and_again_writes_nothing(
    bot, make_bot, make_conversation, monkeypatch
):
    for n in range(7):
        make_conversation(bot, f"wr{n}", name=f"客户群{n}")
    make_conversation(make_bot(name="other"), "wrOther", name="张三")
    Conversation.objects.update(name_sort_key="")
    Conversation.objects.filter(conversation_id="wr3").update(name_sort_key="ke.hu.qun.013")
    monkeypatch.setattr(sort_keys, "BATCH_SIZE", 3)

    sort_keys.fill_name_sort_keys(apps, None)
    with CaptureQueriesContext(connection) as again:
        sort_keys.fill_name_sort_keys(apps, None)

    assert [
        c for c in Conversation.objects.all() if c.name_sort_key != name_sort_key(c.name, c.kind)
    ] == []
    assert not [q for q in again if q["sql"].startswith("UPDATE")]


def test_a_users_name_is_read_surname_first_a_groups_as_a_word(bot, make_conversation):
    """曾经理 is Manager Zeng; a group named 曾经 (once) is read as the word."""
    make_conversation(bot, "zengjingli", name="曾经理", kind="user")
    make_conversation(bot, "wrOnce", name="曾经理", kind="group")

    keys = dict(bot.conversations.values_list("kind", "name_sort_key"))

    assert keys == {"user": "zeng.jing.li 曾经理", "group": "ceng.jing.li 曾经理"}


def test_a_contact_a_message_tells_is_a_user_gets_a_persons_key(bot, make_conversation):
    make_conversation(bot, "jiefang", name="解放", kind="group")
    record_seen_in_message(bot, "jiefang", at=timezone.now(), kind="user")
    record_seen_in_message(bot, "caijing", at=timezone.now(), kind="user", name="曾经")

    keys = dict(bot.conversations.values_list("conversation_id", "name_sort_key"))

    assert keys == {"jiefang": "xie.fang 解放", "caijing": "zeng.jing 曾经"}
    assert stale(bot) == []


def test_a_sync_gives_users_a_persons_key_and_groups_not(
    bridge_bot,
    agent_with_contacts,  # noqa: F811
):
    agent = agent_with_contacts
    agent.users[0]["name"] = "单位"
    agent.groups[0]["name"] = "单位"

    sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)

    keys = set(bridge_bot.conversations.filter(name="单位").values_list("kind", "name_sort_key"))
    assert keys == {("user", "shan.wei 单位"), ("group", "dan.wei 单位")}
    assert stale(bridge_bot) == []
