"""A card's task_id is the bot's once: reserved for one message part, which keeps it on a retry."""

from messaging import card_task_ids


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
