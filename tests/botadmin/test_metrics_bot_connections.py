"""`botadmin_bot_connection_state`: the state of each active bot's long connection, read
from the database at each scrape, as the console shows it (conversations/connections.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from botadmin.reasons import Reason
from conversations import connections
from conversations.models import BotConnection
from tests.botadmin.test_metrics import scrape  # noqa: F401
from tests.counted_queries import counting_queries

STATES = [state.value for state in BotConnection.State]
LEASE = 60.0


def states_of(samples, bot) -> dict[str, float]:
    """The bot's value for every state, only those the scrape has."""
    return {
        state: samples[key]
        for state in STATES
        if (
            key := (
                "botadmin_bot_connection_state",
                (("bot", bot.name), ("connector", bot.connector), ("state", state)),
            )
        )
        in samples
    }


def current(state: str) -> dict[str, float]:
    return {each: 1.0 if each == state else 0.0 for each in STATES}


def ai_bot(make_bot, name: str, **fields):
    return make_bot(
        name=name,
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": name, "bot_secret": "s"},
        **fields,
    )


def test_each_active_ai_bot_is_1_in_its_state_and_0_in_the_others(scrape, make_bot):  # noqa: F811
    never = ai_bot(make_bot, "never-claimed")
    connecting = ai_bot(make_bot, "connecting")
    connected = ai_bot(make_bot, "connected")
    retrying = ai_bot(make_bot, "retrying")
    taken = ai_bot(make_bot, "taken-over")
    refused = ai_bot(make_bot, "refused")
    crashed = ai_bot(make_bot, "holder-gone")
    for bot in (connecting, connected, retrying, taken, refused):
        assert connections.claim(bot.pk, "gw-1", LEASE)
    connections.note(connected.pk, "gw-1", state="connected", connected_since=timezone.now())
    connections.note(retrying.pk, "gw-1", state="retrying", connected_since=None)
    connections.taken_over(taken.pk, "gw-1")
    connections.refused(refused.pk, "gw-1", Reason("853000 invalid bot_id or secret"))
    # A gateway killed while connected: its lease ran out, the row still says connected.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    assert connections.claim(crashed.pk, "gw-dead", LEASE, now=an_hour_ago)
    connections.note(crashed.pk, "gw-dead", state="connected", connected_since=an_hour_ago)

    samples = scrape()

    assert states_of(samples, never) == current("idle")
    assert states_of(samples, connecting) == current("connecting")
    assert states_of(samples, connected) == current("connected")
    assert states_of(samples, retrying) == current("retrying")
    assert states_of(samples, taken) == current("taken_over")
    assert states_of(samples, refused) == current("refused")
    assert states_of(samples, crashed) == current("idle")


def test_a_bot_whose_state_changes_between_scrapes_changes_values_not_series(scrape, make_bot):  # noqa: F811
    bot = ai_bot(make_bot, "flaky")
    assert states_of(scrape(), bot) == current("idle")

    assert connections.claim(bot.pk, "gw-1", LEASE)
    assert states_of(scrape(), bot) == current("connecting")

    connections.note(bot.pk, "gw-1", state="connected", connected_since=timezone.now())
    assert states_of(scrape(), bot) == current("connected")

    connections.note(bot.pk, "gw-1", state="retrying", connected_since=None)
    assert states_of(scrape(), bot) == current("retrying")

    connections.taken_over(bot.pk, "gw-1")
    assert states_of(scrape(), bot) == current("taken_over")

    assert connections.reconnect(bot)
    assert states_of(scrape(), bot) == current("idle")

    assert connections.claim(bot.pk, "gw-2", LEASE)
    connections.release(bot.pk, "gw-2")
    assert states_of(scrape(), bot) == current("idle")


def test_deactivated_bots_and_bots_without_a_long_connection_are_left_out(scrape, make_bot):  # noqa: F811
    active = ai_bot(make_bot, "active")
    deactivated = ai_bot(make_bot, "deactivated")
    bridge = make_bot(name="bridge-bot")
    for bot in (active, deactivated):
        assert connections.claim(bot.pk, "gw-1", LEASE)
        connections.note(bot.pk, "gw-1", state="retrying")
    assert states_of(scrape(), deactivated) == current("retrying")

    deactivated.is_active = False
    deactivated.save(update_fields=["is_active"])
    samples = scrape()

    assert states_of(samples, active) == current("retrying")
    assert states_of(samples, deactivated) == {}
    assert states_of(samples, bridge) == {}


def test_the_states_of_all_bots_are_read_in_one_query(make_bot):
    def count() -> int:
        with counting_queries() as queries:
            connections.active_bot_states()
        return len(queries)

    ai_bot(make_bot, "first")
    one = count()
    for number in range(20):
        bot = ai_bot(make_bot, f"more-{number}")
        if number % 2:
            assert connections.claim(bot.pk, f"gw-{number}", LEASE)

    assert one == count() == 1
    assert len(connections.active_bot_states()) == 21


SINCE = "botadmin_bot_connection_state_changed_timestamp_seconds"
MADE = "botadmin_bot_connections_made_total"


def of_bot(samples, name: str, bot) -> float | None:
    return samples.get((name, (("bot", bot.name), ("connector", bot.connector))))


def since(samples, bot) -> float | None:
    return of_bot(samples, SINCE, bot)


def test_each_bot_says_since_when_its_state_holds_and_a_write_of_the_same_state_keeps_it(
    scrape,  # noqa: F811
    make_bot,
):
    bot = ai_bot(make_bot, "timed")
    never = ai_bot(make_bot, "never-claimed")
    assert since(scrape(), never) == never.created_at.timestamp()

    claimed = timezone.now() - timedelta(minutes=30)
    assert connections.claim(bot.pk, "gw-1", 3600, now=claimed)
    assert since(scrape(), bot) == claimed.timestamp()

    before = timezone.now()
    connections.note(bot.pk, "gw-1", state="connected", connected_since=before)
    connected = since(scrape(), bot)
    assert before.timestamp() <= connected <= timezone.now().timestamp()

    # The heartbeat, the last frame and the same state again change nothing of it.
    assert connections.renew(bot.pk, "gw-1", 3600)
    connections.note(bot.pk, "gw-1", last_frame_at=timezone.now())
    connections.note(bot.pk, "gw-1", state="connected")
    assert since(scrape(), bot) == connected

    before = timezone.now()
    connections.note(bot.pk, "gw-1", state="retrying", connected_since=None)
    retrying = since(scrape(), bot)
    assert before.timestamp() <= retrying <= timezone.now().timestamp()
    connections.note(bot.pk, "gw-1", last_error="connection closed by WeCom")
    assert since(scrape(), bot) == retrying


def test_a_bot_whose_holder_went_without_a_word_is_not_connected_since_its_lease_ran_out(
    scrape,  # noqa: F811
    make_bot,
):
    bot = ai_bot(make_bot, "holder-gone")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    assert connections.claim(bot.pk, "gw-dead", LEASE, now=an_hour_ago)
    connections.note(bot.pk, "gw-dead", state="connected", connected_since=an_hour_ago)
    connections.renew(bot.pk, "gw-dead", LEASE, now=an_hour_ago + timedelta(minutes=20))

    samples = scrape()

    assert states_of(samples, bot) == current("idle")
    ran_out = an_hour_ago + timedelta(minutes=20, seconds=LEASE)
    assert since(samples, bot) == ran_out.timestamp()


def test_taken_over_refused_and_released_connections_say_when_that_happened(
    scrape,  # noqa: F811
    make_bot,
):
    taken, refused, released = (ai_bot(make_bot, name) for name in ("taken", "refused", "gone"))
    for bot in (taken, refused, released):
        assert connections.claim(bot.pk, "gw-1", LEASE, now=timezone.now() - timedelta(hours=1))
    at = timezone.now() - timedelta(minutes=5)
    connections.taken_over(taken.pk, "gw-1", now=at)
    connections.refused(refused.pk, "gw-1", Reason("853000 invalid bot_id or secret"), now=at)
    before = timezone.now()
    connections.release(released.pk, "gw-1")

    samples = scrape()

    assert since(samples, taken) == since(samples, refused) == at.timestamp()
    assert before.timestamp() <= since(samples, released) <= timezone.now().timestamp()

    before = timezone.now()
    assert connections.reconnect(taken)
    assert before.timestamp() <= since(scrape(), taken) <= timezone.now().timestamp()


def test_connections_made_between_two_scrapes_are_counted_where_the_state_shows_none(
    scrape,  # noqa: F811
    make_bot,
):
    flapping = ai_bot(make_bot, "flapping")
    steady = ai_bot(make_bot, "steady")
    never = ai_bot(make_bot, "never-claimed")
    for bot in (flapping, steady):
        assert connections.claim(bot.pk, "gw-1", LEASE)
        connections.note(bot.pk, "gw-1", state="connected", connected_since=timezone.now())
    first = scrape()

    for _ in range(5):  # dropped, then made again, each between the two scrapes
        connections.note(flapping.pk, "gw-1", state="retrying", connected_since=None)
        connections.note(flapping.pk, "gw-1", state="connected", connected_since=timezone.now())
    connections.note(steady.pk, "gw-1", last_frame_at=timezone.now())
    second = scrape()

    assert states_of(first, flapping) == states_of(second, flapping) == current("connected")
    assert of_bot(first, MADE, flapping) == 1
    assert of_bot(second, MADE, flapping) == 6
    assert of_bot(first, MADE, steady) == of_bot(second, MADE, steady) == 1
    assert of_bot(second, MADE, never) == 0


def test_a_note_from_a_holder_that_lost_the_lease_counts_no_connection(make_bot):
    bot = ai_bot(make_bot, "lost")
    assert connections.claim(bot.pk, "gw-1", LEASE, now=timezone.now() - timedelta(hours=1))
    assert connections.claim(bot.pk, "gw-2", LEASE)

    assert not connections.note(bot.pk, "gw-1", state="connected")

    row = BotConnection.objects.get(pk=bot.pk)
    assert (row.state, row.connections_made) == ("connecting", 0)


CHANGES = "botadmin_bot_connection_state_changes_total"


def test_every_change_of_state_is_counted_and_a_write_of_the_same_state_is_none(
    scrape,  # noqa: F811
    make_bot,
):
    bot = ai_bot(make_bot, "changing")
    never = ai_bot(make_bot, "never-claimed")
    assert connections.claim(bot.pk, "gw-1", LEASE)  # not connected → connecting
    for _ in range(3):  # each failed try writes "retrying" again, with its error
        connections.note(bot.pk, "gw-1", state="retrying", last_error="closed")
    first = scrape()

    # The lease taken by another gateway (connecting), which fails too; then released.
    assert connections.claim(bot.pk, "gw-2", LEASE, now=timezone.now() + timedelta(hours=1))
    connections.note(bot.pk, "gw-2", state="retrying", last_error="closed")
    assert not connections.note(bot.pk, "gw-1", state="connected")  # no longer its lease
    connections.release(bot.pk, "gw-2")
    second = scrape()

    assert of_bot(first, CHANGES, bot) == 2
    assert of_bot(second, CHANGES, bot) == 5
    assert of_bot(second, MADE, bot) == 0
    assert of_bot(second, CHANGES, never) == 0
