"""The gateway against a WeCom that stops answering or keeps dropping the connection: how
soon it reconnects, how often it tries, and what the operator reads meanwhile."""

import logging
import threading
import time

from django.utils import translation

from botadmin.reasons import translate
from conversations import connections
from conversations.models import BotConnection
from tests.botadmin.test_metrics import scrape  # noqa: F401
from tests.polling import wait_until


def row(bot) -> BotConnection:
    return BotConnection.objects.get(pk=bot.pk)


def test_a_connection_wecom_falls_silent_on_is_given_up_at_the_third_tick_and_reconnected(
    aibot_server, aibot, fast_gateway, connected
):
    # Silent down to TCP: no ack, no frame, not even an answer to the WebSocket close, the
    # TCP connection open. Two pings unanswered at the next tick: the connection is dead
    # (wecom-aibot.md), and waiting for a close handshake it will never answer only holds
    # the reconnect up (websockets waits 10 s for it).
    interval = fast_gateway.WECOM_AIBOT_HEARTBEAT_SECONDS
    assert wait_until(lambda: len(aibot_server.frames_of("ping")) >= 2, timeout=10)
    assert wait_until(lambda: row(aibot).state == "connected", timeout=10)

    silent_since = time.monotonic()
    aibot_server.silence("bot1")
    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=15)

    resubscribed = aibot_server.times_of("aibot_subscribe")[1]
    # Three ticks, then the first backoff (1 s), with room for a loaded machine: waiting for
    # a close the silent server never answers would add websockets' 10 s.
    assert resubscribed - silent_since < 3 * interval + 1.0 + 5.0
    assert wait_until(lambda: row(aibot).state == "connected", timeout=10)
    shown = connections.status(aibot)
    assert shown["last_error"] == (
        "WeCom answered none of the last 2 pings: the connection was taken for dead"
    )
    with translation.override("zh-hans"):
        assert translate(row(aibot).last_error) == "企业微信未应答最近 2 次心跳：已视为连接断开"


def test_pings_wecom_stops_acknowledging_read_as_a_dead_connection_not_as_wecom_closing_it(
    aibot_server, aibot, connected, caplog
):
    caplog.set_level(logging.WARNING, logger="connectors")
    assert wait_until(lambda: len(aibot_server.frames_of("ping")) >= 2, timeout=10)
    aibot_server.answer_pings = False

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    assert wait_until(lambda: row(aibot).state == "connected", timeout=10)
    assert "pings" in row(aibot).last_error
    assert "closed by WeCom" not in row(aibot).last_error
    logged = [record.getMessage() for record in caplog.records]
    assert any("pings: the connection was taken for dead; reconnecting" in m for m in logged)


def test_a_connection_closed_right_after_its_subscription_backs_off_instead_of_hammering(
    aibot_server, aibot, start_gateway
):
    # Taken and dropped at once, again and again (hermes-agent issue 55487): a subscription
    # alone does not prove the connection, so the waits grow as for any failure...
    aibot_server.close_after_subscribe = 3
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 4, timeout=20)
    at = aibot_server.times_of("aibot_subscribe")
    assert at[3] - at[2] >= 2.0  # 1 s, then 1-2 s, then 2-4 s: not 1 s each time
    assert row(aibot).bot.paused_at is None  # a network failure never pauses the bot

    # ... until WeCom answers a ping on one: after its drop, the first wait again (1 s),
    # not the next one (4-8 s).
    pinged = lambda: [t for t in aibot_server.times_of("ping") if t > at[3]]  # noqa: E731
    assert wait_until(lambda: len(pinged()) >= 2, timeout=10)
    dropped = time.monotonic()
    aibot_server.drop("bot1")
    assert wait_until(lambda: len(aibot_server.subscriptions) == 5, timeout=15)
    assert aibot_server.times_of("aibot_subscribe")[4] - dropped < 3.5


def test_a_connection_closed_before_its_subscription_is_answered_is_tried_again_at_once(
    aibot_server, aibot, start_gateway, caplog
):
    # Not after the subscription's 10 s: the connection is gone, no ack can come on it.
    caplog.set_level(logging.WARNING, logger="connectors")
    aibot_server.close_at_subscribe = True
    start_gateway()

    assert wait_until(lambda: len(aibot_server.frames_of("aibot_subscribe")) >= 2, timeout=6)
    assert wait_until(lambda: row(aibot).state == "retrying", timeout=10)
    assert row(aibot).last_error == "the connection closed before WeCom's ack"
    # An expected failure: a warning, no traceback.
    assert not [record for record in caplog.records if record.exc_info]

    aibot_server.close_at_subscribe = False
    assert wait_until(lambda: row(aibot).state == "connected", timeout=15)


def metric(samples, name: str, bot, **labels) -> float | None:
    key = {"bot": bot.name, "connector": bot.connector, **labels}
    return samples.get((name, tuple(sorted(key.items()))))


def test_a_connection_wecom_drops_after_each_subscription_counts_each_connection_made(
    aibot_server,
    aibot,
    start_gateway,
    scrape,  # noqa: F811
):
    # Flapping: a scrape sees "connected" or "retrying", whichever the moment holds; the
    # count of connections made says how often it came and went in between.
    aibot_server.close_after_subscribe = 3
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 4, timeout=20)
    assert wait_until(lambda: row(aibot).connections_made == 4, timeout=10)
    samples = scrape()

    assert metric(samples, "botadmin_bot_connections_made_total", aibot) == 4
    # Connecting, then connected and retrying three times, and connected.
    assert metric(samples, "botadmin_bot_connection_state_changes_total", aibot) == 8
    assert metric(samples, "botadmin_bot_connection_state", aibot, state="connected") == 1
    since = metric(samples, "botadmin_bot_connection_state_changed_timestamp_seconds", aibot)
    assert since >= row(aibot).connected_since.timestamp()


def test_a_connection_that_keeps_failing_is_retrying_since_its_first_failure(
    aibot_server,
    aibot,
    start_gateway,
    scrape,  # noqa: F811
):
    # Each failure writes "retrying" again, with its error: the time of the state stays
    # that of the first, so an alert reads how long the bot has been down.
    aibot_server.close_at_subscribe = True
    start_gateway()
    assert wait_until(lambda: aibot_server.frames_of("aibot_subscribe"), timeout=10)
    assert wait_until(lambda: row(aibot).state == "retrying", timeout=10)
    samples = scrape()
    first = metric(samples, "botadmin_bot_connection_state_changed_timestamp_seconds", aibot)
    changes = metric(samples, "botadmin_bot_connection_state_changes_total", aibot)
    tried = len(aibot_server.frames_of("aibot_subscribe"))

    assert wait_until(
        lambda: len(aibot_server.frames_of("aibot_subscribe")) >= tried + 2, timeout=15
    )
    assert wait_until(lambda: row(aibot).last_error_at.timestamp() > first + 1, timeout=10)
    samples = scrape()

    assert metric(samples, "botadmin_bot_connection_state", aibot, state="retrying") == 1
    assert (
        metric(samples, "botadmin_bot_connection_state_changed_timestamp_seconds", aibot) == first
    )
    assert metric(samples, "botadmin_bot_connections_made_total", aibot) == 0
    assert changes == 2  # connecting, retrying
    assert metric(samples, "botadmin_bot_connection_state_changes_total", aibot) == changes


def test_a_session_stopped_as_its_subscription_fails_ends_instead_of_reconnecting(
    aibot_server, aibot, start_gateway
):
    # A lease lost or the gateway stopping cancels the session. When the cancel comes in the
    # same turn of the loop as the close that fails the subscription (a gateway waking from a
    # stall), the session must still end: going on, it kept reconnecting a bot another gateway
    # holds, and the gateway waiting for it to end stopped polling for good.
    aibot_server.close_at_subscribe = True
    running = start_gateway()
    assert wait_until(lambda: aibot.pk in running.gateway.sessions, timeout=10)
    session = running.gateway.sessions[aibot.pk]
    armed = threading.Event()

    def cancel_as_the_subscription_fails() -> None:
        subscribing = list(session.pending.values())
        if not subscribing:
            running.loop.call_soon(cancel_as_the_subscription_fails)
            return
        subscribing[0].add_done_callback(lambda _: session.task.cancel())
        armed.set()

    running.loop.call_soon_threadsafe(cancel_as_the_subscription_fails)
    assert armed.wait(10)
    assert wait_until(session.task.done, timeout=5)
    assert session.task.cancelled()


def stall(running, seconds: float) -> None:
    """Block the gateway's event loop for `seconds`, as a paused process or a swapping host
    does: it neither renews its leases nor notices meanwhile."""
    running.loop.call_soon_threadsafe(time.sleep, seconds)


def test_a_connection_never_made_while_two_gateways_pass_its_lease_counts_each_change_of_state(
    aibot_server,
    aibot,
    fast_gateway,
    start_gateway,
    scrape,  # noqa: F811
):
    # Flapping that never reaches "connected": each gateway that takes the lease the other
    # stalled on records "connecting", then "retrying" at the failed subscription, moving the
    # state's time each time; no connection is made, and only the changes count it.
    aibot_server.close_at_subscribe = True
    gateways = {"gateway-a": start_gateway("gateway-a")}

    def held_by(holder: str) -> bool:
        shown = BotConnection.objects.filter(pk=aibot.pk).first()
        return shown is not None and (shown.holder, shown.state) == (holder, "retrying")

    assert wait_until(lambda: held_by("gateway-a"), timeout=10)
    gateways["gateway-b"] = start_gateway("gateway-b")
    times = [row(aibot).state_changed_at]

    for stalled, taker in (("gateway-a", "gateway-b"), ("gateway-b", "gateway-a")):
        stall(gateways[stalled], fast_gateway.WECOM_AIBOT_LEASE_SECONDS + 3)
        assert wait_until(lambda: held_by(taker), timeout=15)  # noqa: B023 (waited for here)
        times.append(row(aibot).state_changed_at)
    samples = scrape()

    assert times == sorted(set(times))  # the state's time moved at each pass
    assert row(aibot).connections_made == 0
    assert metric(samples, "botadmin_bot_connections_made_total", aibot) == 0
    # Connecting and retrying at each of the three leases taken.
    assert row(aibot).state_changes == 6
    assert metric(samples, "botadmin_bot_connection_state_changes_total", aibot) == 6
