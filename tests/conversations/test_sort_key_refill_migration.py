"""conversations 0033 writes again the sort keys of the names that natural order now reads
otherwise (phrases as a whole, a polyphonic surname by its surname reading), a window of
ids at a time, and only those.

Run on the test database (tests.migration_states): back to conversations 0032,
rows written with that state's models and the keys the previous release gave them, then
forward again."""

import pytest

from botadmin.natural_order import sort_key
from conversations import sort_keys
from conversations.models import Conversation
from tests.counted_queries import counting_queries
from tests.migration_states import migrate_app_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("conversations", "0032_conversation_active_sort_index")
FAR_ID = 5_000
# Names and the keys the release before 0033 gave them.
PREVIOUS_KEYS = {
    "长沙销售群": "zhang.sha.xiao.shou.qun 长沙销售群",
    "曾伟": "ceng.wei 曾伟",
    "重庆客户群 2": "zhong.qing.ke.hu.qun.012 重庆客户群 2",
    "张三": "zhang.san 张三",
    "客户群 10": "ke.hu.qun.0210 客户群 10",
}


@pytest.fixture
def at_0032():
    yield migrate_app_to(BEFORE)
    migrate_to_latest()


def test_the_keys_natural_order_now_reads_otherwise_are_written_again(at_0032, bot, monkeypatch):
    old = at_0032.get_model("conversations", "Conversation")
    for n, (name, key) in enumerate(PREVIOUS_KEYS.items()):
        # Ids far from 1, as after deleted rows (or earlier tests on PostgreSQL, whose
        # sequence moves on): the fills read windows from the smallest.
        old.objects.create(pk=FAR_ID + n, bot_id=bot.pk, conversation_id=f"wr{n}", name=name)
        old.objects.filter(conversation_id=f"wr{n}").update(name_sort_key=key)
    monkeypatch.setattr(sort_keys, "BATCH_SIZE", 2)

    with counting_queries() as queries:
        migrate_to_latest()

    stored = dict(Conversation.objects.values_list("name", "name_sort_key"))
    assert stored == {name: sort_key(name) for name in PREVIOUS_KEYS}
    assert stored["长沙销售群"].startswith("chang.sha.")
    assert stored["曾伟"].startswith("zeng.wei ")
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 2  # 长沙, 曾伟 and 重庆 in two windows; 张三, 客户群 kept
    windows = [q for q in queries if 'WHERE ("conversations_conversation"."id" >' in q["sql"]]
    assert len(windows) == 2 * 3  # 0033 and 0035, three windows of two ids each


@pytest.fixture
def at_0034():
    yield migrate_app_to(("conversations", "0034_conversation_receiving_kind_index"))
    migrate_to_latest()


def test_users_names_read_surname_first_are_written_again_and_only_those(at_0034, bot):
    """conversations 0035: a user's name is a person's (曾经理 zeng jing li); a group's
    key, and a user's the surname does not change, are kept."""
    old = at_0034.get_model("conversations", "Conversation")
    rows = [("user", "曾经理"), ("group", "曾经理"), ("user", "张三"), ("user", "卜凡")]
    for n, (kind, name) in enumerate(rows):
        old.objects.create(bot_id=bot.pk, conversation_id=f"wr{n}", kind=kind, name=name)
    # The keys the release before 0035 gave them, as its sort_key (all names alike) did.
    before = {
        "wr0": "ceng.jing.li 曾经理",
        "wr1": "ceng.jing.li 曾经理",
        "wr2": "zhang.san 张三",
        "wr3": "bo.fan 卜凡",
    }
    for conversation_id, key in before.items():
        old.objects.filter(conversation_id=conversation_id).update(name_sort_key=key)

    with counting_queries() as queries:
        migrate_to_latest()

    stored = dict(Conversation.objects.values_list("conversation_id", "name_sort_key"))
    assert stored == {
        "wr0": "zeng.jing.li 曾经理",
        "wr1": "ceng.jing.li 曾经理",
        "wr2": "zhang.san 张三",
        "wr3": "bu.fan 卜凡",
    }
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1  # one window
