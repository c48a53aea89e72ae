"""A card's task_id is the bot's once: reserved for one message part, which keeps it on a retry."""

from messaging import card_task_ids
from messaging.models import CardTaskId


def test_a_task_id_is_reserved_for_the_first_part_that_takes_it(make_bot):
    bot, other_bot = make_bot(), make_bot()

    assert card_task_ids.take(bot.pk, "deploy-7", "m1")
    assert card_task_ids.take(bot.pk, "deploy-7", "m1")  # a retry of the same message
    assert not card_task_ids.take(bot.pk, "deploy-7", "m2")
    assert card_task_ids.take(other_bot.pk, "deploy-7", "m2")  # unique per bot only


def test_a_clicked_cards_task_id_is_taken_for_every_message(make_bot):
    bot = make_bot()
    assert card_task_ids.take(bot.pk, "poll-1", "m1")

    card_task_ids.seen_clicked(bot.pk, "poll-1")  # its own card clicked: still m1's
    card_task_ids.seen_clicked(bot.pk, "poll-2")  # another client's card

    assert card_task_ids.take(bot.pk, "poll-1", "m1")
    assert not card_task_ids.take(bot.pk, "poll-2", "m1")


def test_a_fresh_task_id_keeps_to_wecoms_characters_and_128_bytes():
    fresh = card_task_ids.fresh_task_id("t" * 128, "0123456789abcdef0123456789abcdef-2")

    assert len(fresh.encode()) == 128
    assert fresh.endswith("@0123456789abcdef0123456789abcdef-2")
    assert card_task_ids.fresh_task_id("任务", "m 1") == "任务@m_1"


def test_a_card_goes_with_its_task_id_once_then_with_a_fresh_one_the_same_on_a_retry(make_bot):
    bot = make_bot()
    card = {"msgtype": "template_card", "template_card": {"card_type": "x", "task_id": "vote-1"}}

    assert card_task_ids.own_card(bot.pk, card, "m1") == card
    assert card_task_ids.own_card(bot.pk, card, "m1") == card  # m1 retried
    second = card_task_ids.own_card(bot.pk, card, "m2")
    assert second["template_card"] == {"card_type": "x", "task_id": "vote-1@m2"}
    assert card_task_ids.own_card(bot.pk, card, "m2") == second  # m2 retried
    assert card_task_ids.own_card(bot.pk, second, "m3")["template_card"]["task_id"] == (
        "vote-1@m2@m3"
    )
    text = {"msgtype": "text", "text": {"content": "vote-1"}}
    assert card_task_ids.own_card(bot.pk, text, "m4") is text


def test_a_clicked_task_id_longer_than_wecoms_128_bytes_is_not_kept(make_bot):
    """No card of the bot can have it; the column holds 128 (PostgreSQL would refuse it,
    and the click with it)."""
    bot = make_bot()
    card_task_ids.seen_clicked(bot.pk, "卡" * 43)  # 129 bytes

    assert not CardTaskId.objects.filter(bot=bot).exists()
    assert card_task_ids.take(bot.pk, "卡" * 42, "m1")  # 126 bytes: kept as any other
