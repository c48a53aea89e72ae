from datetime import time, timedelta

import time_machine
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone

from conversations.models import Conversation
from conversations.services import (
    addressed_conversation,
    bot_for_secret,
    bots_visible_to,
    named,
    rotate_secret,
    visible_conversation,
)


def test_the_secret_finds_its_bot(bot):
    assert bot_for_secret(bot.secret) == bot


def test_a_wrong_or_missing_secret_finds_nothing(bot):
    assert bot_for_secret(bot.secret[:-1] + ("A" if bot.secret[-1] != "A" else "B")) is None
    assert bot_for_secret("") is None
    assert bot_for_secret(None) is None
    assert bot_for_secret("' OR 1=1 --") is None


def test_after_rotation_the_old_secret_works_for_the_grace_period_then_stops(bot):
    old = bot.secret
    with time_machine.travel(timezone.now(), tick=False) as clock:
        rotated = rotate_secret(bot, grace=timedelta(hours=24))
        assert rotated.secret != old
        assert bot_for_secret(rotated.secret) == bot
        assert bot_for_secret(old) == bot

        clock.shift(timedelta(hours=23, minutes=59))
        assert bot_for_secret(old) == bot

        clock.shift(timedelta(minutes=2))
        assert bot_for_secret(old) is None
        assert bot_for_secret(rotated.secret) == bot


def test_rotation_without_grace_revokes_the_old_secret_at_once(bot):
    old = bot.secret
    rotate_secret(bot, grace=timedelta(0))
    assert bot_for_secret(old) is None


def test_operators_see_only_their_bots(make_bot, make_operator, superuser):
    a, b = make_bot(name="a"), make_bot(name="b")
    operator = make_operator("alice", a)
    assert list(bots_visible_to(operator)) == [a]
    assert set(bots_visible_to(superuser)) == {a, b}


def test_a_conversation_is_visible_exactly_to_those_who_see_its_bot(
    make_bot, make_operator, make_conversation, superuser
):
    a, b = make_bot(name="a"), make_bot(name="b")
    in_a, in_b = make_conversation(a, "wrA"), make_conversation(b, "wrB")
    alice = make_operator("alice", a)
    both = make_operator("both", a, b)
    gone = make_operator("gone", a)
    gone.is_active = False
    gone.save()

    for user in (alice, both, gone, superuser, AnonymousUser()):
        for conversation in (in_a, in_b):
            found = visible_conversation(user, conversation.bot_id, conversation.pk)
            expected = bots_visible_to(user).filter(pk=conversation.bot_id).exists()
            assert (found == conversation) is expected, (user, conversation)
            assert found is None or found.bot == conversation.bot
    # The conversation must belong to the bot named in the address.
    assert visible_conversation(both, b.pk, in_a.pk) is None
    assert visible_conversation(superuser, b.pk, in_a.pk) is None


def test_every_rotation_is_recorded_once_in_the_audit_log(bot, superuser):
    from audit.models import OperatorAction

    rotate_secret(bot, actor=superuser)
    rotate_secret(bot, grace=timedelta(0), via=" from the command line")
    actions = list(OperatorAction.objects.filter(bot=bot, action="secret.rotate").order_by("id"))
    assert [(a.actor, a.summary) for a in actions] == [
        (superuser, "Rotated the API secret (grace 24 h)."),
        (None, "Rotated the API secret (grace 0 h) from the command line."),
    ]


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


def test_the_secret_and_console_lookups_find_the_whole_bot_and_conversation(
    make_bot, make_conversation, make_operator, django_assert_num_queries
):
    # Every column as stored (times, booleans, JSON), the previous secret within
    # its grace, and nothing for a wrong conversation or secret.
    bot = make_bot(quiet_hours_start=time(22, 30), quiet_hours_end=time(7, 0))
    old = bot.secret
    rotate_secret(bot, grace=timedelta(hours=1))
    conversation = make_conversation(
        bot, conversation_id="wrMixed", extra={"owner": "张三", "tags": [1, 2]}, member_count=7
    )
    bot.refresh_from_db()
    conversation.refresh_from_db()

    assert _fields(bot_for_secret(old)) == _fields(bot)
    found_bot = bot_for_secret(old, "wrMixed", whole_conversation=True)
    assert _fields(found_bot) == _fields(bot)
    with django_assert_num_queries(0):  # read with the bot
        whole = addressed_conversation(found_bot, "wrMixed")
        assert _fields(whole) == _fields(conversation)
        assert _fields(whole.bot) == _fields(bot)
    # Without `whole`: no query now, every other field read when first used.
    lazy = addressed_conversation(bot_for_secret(bot.secret, "wrMixed"), "wrMixed")
    assert lazy == conversation and lazy.bot_id == bot.pk
    assert _fields(lazy) == _fields(conversation)
    assert addressed_conversation(bot_for_secret(bot.secret, "wrOther"), "wrOther") is None
    assert bot_for_secret(old[:-1] + ("A" if old[-1] != "A" else "B"), "wrMixed") is None
    visible = visible_conversation(make_operator("alice", bot), bot.pk, conversation.pk)
    assert _fields(visible) == _fields(conversation)
    assert _fields(visible.bot) == _fields(bot)


def test_a_search_finds_names_containing_it_whatever_their_case_or_the_id_it_is(
    bot, make_conversation
):
    names = ["客户群 1", "VIP客户", "vip 客户", "Project 客户", "客 户", "张伟", "2号群", "Émile"]
    for n, name in enumerate(names):
        make_conversation(bot, f"wr{n}", name=name)
    make_conversation(bot, "客户", name="销售群")

    def found(query: str) -> set[str]:
        return set(named(bot.conversations.all(), query).values_list("name", flat=True))

    assert found("客户") == {"客户群 1", "VIP客户", "vip 客户", "Project 客户", "销售群"}
    assert found(" 2号 ") == {"2号群"}
    assert found("vip客户") == {"VIP客户"}
    assert found("PROJECT") == {"Project 客户"}
    assert found("张伟2") == set()


def test_a_search_with_nothing_to_fold_compares_the_names_as_written(bot):
    """No UPPER() of every name on PostgreSQL for 客户 or 2号: the same rows, read 2-3x
    quicker, and a condition its planner estimates from the column's statistics, so that a
    page by name reads the sort key index instead of every row (docs/performance.md,
    note 21). Letters are still compared whatever their case."""
    conversations = Conversation.objects.filter(bot=bot)

    assert "UPPER(" not in str(named(conversations, "客户").query)
    assert "UPPER(" not in str(named(conversations, "2号 · 群").query)
    if connection.vendor == "postgresql":
        assert "UPPER(" in str(named(conversations, "vip客户").query)
