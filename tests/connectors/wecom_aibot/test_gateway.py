"""The gateway against the fake long-connection server: subscribe, heartbeat, drops, kicks, leases."""

import time

import pytest
from django.utils import timezone, translation

from botadmin.reasons import translate
from connectors import wecom_answers
from connectors.aibot_session import backoff
from connectors.base import Outcome
from connectors.registry import connector_for
from connectors.wecom_aibot import WeComAIBotConnector
from conversations import connections
from conversations.models import Bot, BotConnection, Conversation
from tests.polling import wait_until

from .support import connection_states_locked, connection_states_refused, post_to_gateway


def state(bot) -> str | None:
    return BotConnection.objects.filter(pk=bot.pk).values_list("state", flat=True).first()


def test_the_gateway_subscribes_with_the_bots_id_and_secret_and_shows_it_connected(
    aibot_server, aibot, start_gateway
):
    gateway = start_gateway("host-1:42:abc")
    aibot_server.wait_connected("bot1")

    subscribe = aibot_server.frames_of("aibot_subscribe")[0]
    assert subscribe["body"] == {"bot_id": "bot1", "secret": "secret1"}
    assert subscribe["headers"]["req_id"]
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    shown = connections.status(aibot)
    assert shown["held"] and shown["holder"] == gateway.holder
    assert shown["connected_since"] is not None and shown["last_frame_at"] is not None


def test_refused_credentials_pause_the_bot_with_the_reason_and_are_not_retried(
    aibot_server, make_aibot, start_gateway
):
    bot = make_aibot(secret="wrong")
    start_gateway()

    assert wait_until(lambda: Bot.objects.get(pk=bot.pk).paused_at is not None, timeout=30)
    bot.refresh_from_db()
    assert "853000" in bot.paused_reason and "invalid bot_id or secret" in bot.paused_reason
    assert state(bot) == "refused"
    # WeCom leaves a refused connection open: the gateway closes it itself.
    assert wait_until(lambda: aibot_server.open_connections == 0, timeout=30)
    time.sleep(1)  # several polls and backoffs
    assert aibot_server.subscriptions == [("bot1", 853000)]


def test_pings_are_sent_and_two_unanswered_ones_reconnect(aibot_server, connected):
    assert wait_until(lambda: len(aibot_server.frames_of("ping")) >= 2, timeout=30)
    aibot_server.answer_pings = False

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    pings_before_drop = len(aibot_server.frames_of("ping"))
    assert pings_before_drop >= 4


def test_a_dropped_connection_is_reconnected_after_a_backoff(aibot_server, aibot, connected):
    aibot_server.drop("bot1")

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    assert "closed" in BotConnection.objects.get(pk=aibot.pk).last_error


def test_a_dropped_connection_is_reconnected_after_its_backoff_while_the_database_stalls(
    aibot_server, aibot, connected
):
    # wecom-aibot.md: reconnect with jittered backoff; recording "retrying" is no part of it.
    with connection_states_locked():
        aibot_server.drop("bot1")
        assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=5)

    assert wait_until(lambda: state(aibot) == "connected", timeout=30)


def test_a_connection_whose_connected_lands_after_it_dropped_leaves_the_next_one_recorded(
    aibot_server, aibot, start_gateway
):
    """The database stalls from before a connection's "connected" is written until the next
    connection is subscribed: the late "connected" is the dropped connection's, not the
    new one's, which is still to be recorded."""
    aibot_server.answer_next_subscribe(-1)  # the first connection comes after a backoff
    gateway = start_gateway()
    assert wait_until(lambda: state(aibot) == "retrying", timeout=10)

    def subscribed() -> bool:
        session = gateway.gateway.sessions.get(aibot.pk)
        return session is not None and session.subscribed

    with connection_states_locked():
        assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
        assert wait_until(subscribed, timeout=10)  # its "connected" waits for the database
        aibot_server.drop("bot1")
        assert wait_until(lambda: len(aibot_server.subscriptions) == 3, timeout=10)

    assert wait_until(lambda: state(aibot) == "connected", timeout=10)


def test_after_a_kick_the_gateway_does_not_reconnect_until_an_operator_asks(
    aibot_server, aibot, connected
):
    aibot_server.kick("bot1")

    assert wait_until(lambda: state(aibot) == "taken_over", timeout=30)
    row = BotConnection.objects.get(pk=aibot.pk)
    assert row.taken_over_at is not None
    # Stored in English with its time, shown in the reader's language.
    at = timezone.localtime(row.taken_over_at).strftime("%Y-%m-%d %H:%M:%S")
    assert row.last_error == f"Connection taken over by another client at {at}."
    with translation.override("zh-hans"):
        assert translate(row.last_error) == f"连接已于 {at} 被另一个客户端接管。"
    assert connections.status(aibot)["can_reconnect"]
    time.sleep(1.5)  # polls and backoffs that would have reconnected
    assert len(aibot_server.subscriptions) == 1

    connections.reconnect(aibot)
    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=30)
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)


def test_a_kick_read_while_the_database_is_unavailable_still_keeps_the_gateway_away(
    aibot_server, aibot, fast_gateway, start_gateway
):
    fast_gateway.WECOM_AIBOT_LEASE_SECONDS = 60  # the lease outlives the outage
    start_gateway()
    aibot_server.wait_connected("bot1")
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)

    with connection_states_refused():
        aibot_server.kick("bot1")
        assert wait_until(lambda: aibot_server.open_connections == 0, timeout=10)
        time.sleep(1)  # the first attempts to record it fail meanwhile

    assert wait_until(lambda: state(aibot) == "taken_over", timeout=30)
    time.sleep(1.5)  # polls and backoffs that would have reconnected
    assert aibot_server.subscriptions == [("bot1", 0)]


def test_two_gateways_never_hold_one_bot_and_the_second_takes_over_when_the_first_stops(
    aibot_server, aibot, start_gateway
):
    first = start_gateway("gateway-a")
    aibot_server.wait_connected("bot1")
    second = start_gateway("gateway-b")
    time.sleep(1.5)  # many polls of the second gateway

    assert len(aibot_server.subscriptions) == 1
    assert BotConnection.objects.get(pk=aibot.pk).holder == "gateway-a"

    first.stop()
    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=30)
    assert wait_until(
        lambda: BotConnection.objects.get(pk=aibot.pk).holder == "gateway-b", timeout=30
    )
    assert aibot_server.kicks == 0  # nobody was kicked
    second.stop()


def test_a_lease_is_taken_from_a_silent_holder_only_once_it_expired(transactional_db, aibot):
    assert connections.claim(aibot.pk, "gateway-a", lease_seconds=30)
    assert not connections.claim(aibot.pk, "gateway-b", lease_seconds=30)
    assert connections.renew(aibot.pk, "gateway-a", lease_seconds=-1)  # as if it stopped renewing

    assert connections.claim(aibot.pk, "gateway-b", lease_seconds=30)
    assert not connections.renew(aibot.pk, "gateway-a", lease_seconds=30)  # it lost the bot


def test_no_gateway_claims_a_bot_paused_because_its_credentials_were_refused(
    transactional_db, aibot
):
    assert connections.claim(aibot.pk, "gateway-a", lease_seconds=30)
    connections.refused(aibot.pk, "gateway-a", "853000 invalid bot_id or secret")

    # A gateway whose poll read the bot before the pause claims it now.
    assert not connections.claim(aibot.pk, "gateway-a", lease_seconds=30)
    assert not connections.claim(aibot.pk, "gateway-b", lease_seconds=30)
    assert state(aibot) == "refused"

    Bot.objects.filter(pk=aibot.pk).update(paused_at=None, paused_reason="")  # resumed
    assert connections.claim(aibot.pk, "gateway-b", lease_seconds=30)


def test_new_bots_and_changed_credentials_are_picked_up_without_a_restart(
    aibot_server, make_aibot, start_gateway
):
    start_gateway()
    time.sleep(0.5)
    bot = make_aibot()
    aibot_server.wait_connected("bot1", timeout=30)

    aibot_server.bots["bot2"] = "secret2"
    bot.connector_settings = {"bot_id": "bot2", "bot_secret": "secret2"}
    bot.save()

    aibot_server.wait_connected("bot2", timeout=30)
    assert wait_until(lambda: "bot1" not in aibot_server.live, timeout=30)
    assert aibot_server.frames_of("aibot_subscribe")[-1]["body"] == {
        "bot_id": "bot2",
        "secret": "secret2",
    }


def test_a_deactivated_bot_is_disconnected_and_its_lease_released(aibot_server, aibot, connected):
    Bot.objects.filter(pk=aibot.pk).update(is_active=False)

    assert wait_until(lambda: "bot1" not in aibot_server.live, timeout=30)
    assert wait_until(lambda: not connections.status(aibot)["held"], timeout=30)


def test_a_bot_whose_sending_is_paused_keeps_receiving(aibot_server, aibot, connected):
    Bot.objects.filter(pk=aibot.pk).update(paused_at=timezone.now(), paused_reason="risk control")
    time.sleep(1)  # several polls

    assert "bot1" in aibot_server.live and len(aibot_server.subscriptions) == 1


def test_resuming_a_bot_whose_credentials_were_refused_tries_again(
    aibot_server, make_aibot, start_gateway
):
    bot = make_aibot(secret="wrong")
    start_gateway()
    assert wait_until(lambda: Bot.objects.get(pk=bot.pk).paused_at is not None, timeout=30)

    aibot_server.bots["bot1"] = "wrong"  # the operator made WeCom and the settings agree
    Bot.objects.filter(pk=bot.pk).update(paused_at=None, paused_reason="")

    aibot_server.wait_connected("bot1", timeout=30)
    assert wait_until(lambda: state(bot) == "connected", timeout=30)


def test_another_client_subscribing_takes_the_bot_over_and_the_gateway_stays_away(
    aibot_server, aibot, connected
):
    import json

    from websockets.sync.client import connect

    with connect(aibot_server.url) as laptop:  # someone's SDK with the same bot
        laptop.send(json.dumps({"cmd": "aibot_subscribe", "headers": {"req_id": "x"},
                                "body": {"bot_id": "bot1", "secret": "secret1"}}))  # fmt: skip
        assert json.loads(laptop.recv(5))["errcode"] == 0

        assert wait_until(lambda: state(aibot) == "taken_over", timeout=30)
        time.sleep(1)  # polls and backoffs that would have reconnected
        assert aibot_server.kicks == 1 and len(aibot_server.subscriptions) == 2


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
def test_a_busy_or_rate_limited_subscription_is_tried_again_and_never_pauses_the_bot(
    errcode, aibot_server, aibot, start_gateway, monkeypatch
):
    """WeCom's global errcodes -1, 45009 and 45033 say "try later" (document 90313); the
    subscription is tried again on a new connection, the refused one closed by the gateway
    (WeCom leaves a refused connection open), and the bot is never paused."""
    monkeypatch.setattr(wecom_answers, "RATE_LIMIT_WAIT_SECONDS", 1.5)  # 45009's minute
    aibot_server.answer_next_subscribe(errcode)
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    assert aibot_server.subscriptions == [("bot1", errcode), ("bot1", 0)]
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    assert wait_until(lambda: aibot_server.open_connections == 1, timeout=10)
    aibot.refresh_from_db()
    assert aibot.paused_at is None
    # What WeCom answered stays visible on the bot until the next error.
    assert str(errcode) in BotConnection.objects.get(pk=aibot.pk).last_error


def test_a_rate_limited_subscription_waits_out_its_minute_before_subscribing_again(
    aibot_server, aibot, start_gateway, monkeypatch
):
    minute = 3.0  # longer than the first backoffs (1 s, then 1-2 s)
    monkeypatch.setattr(wecom_answers, "RATE_LIMIT_WAIT_SECONDS", minute)
    aibot_server.answer_next_subscribe(45009)
    start_gateway()

    assert wait_until(lambda: state(aibot) == "retrying", timeout=30)
    with translation.override("en"):
        shown = translate(BotConnection.objects.get(pk=aibot.pk).last_error)
    assert "45009" in shown and "once its minute has passed" in shown
    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    refused, subscribed = aibot_server.times_of("aibot_subscribe")[:2]
    # Its minute and at most a quarter more (RATE_LIMIT_JITTER), plus connecting again.
    assert minute <= subscribed - refused < minute * 1.25 + 1.0
    assert aibot_server.subscriptions == [("bot1", 45009), ("bot1", 0)]
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)


def test_bots_whose_subscriptions_are_rate_limited_together_do_not_come_back_together(
    aibot_server, make_aibot, start_gateway, monkeypatch
):
    """Given eight bots WeCom refuses with 45009 as the gateway starts, when each waits out
    the minute, then they subscribe again spread over a quarter of it, not all at once."""
    minute = 4.0
    monkeypatch.setattr(wecom_answers, "RATE_LIMIT_WAIT_SECONDS", minute)
    bots = [f"bot{n}" for n in range(1, 9)]
    for bot_id in bots:
        aibot_server.bots[bot_id] = f"secret-{bot_id}"
        make_aibot(name=f"helper-{bot_id}", bot_id=bot_id, secret=f"secret-{bot_id}")
    aibot_server.answer_next_subscribe(*[45009] * len(bots))
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2 * len(bots), timeout=15)
    times: dict[str, list[float]] = {}
    frames = aibot_server.frames_of("aibot_subscribe")
    for frame, at in zip(frames, aibot_server.times_of("aibot_subscribe"), strict=True):
        times.setdefault(frame["body"]["bot_id"], []).append(at)
    waits = [again - refused for refused, again in times.values()]
    assert all(minute <= wait < minute * 1.25 + 1.0 for wait in waits), waits
    assert max(waits) - min(waits) > 0.2, waits  # eight draws over 1 s, not one instant


def test_the_gateway_stops_at_once_while_a_rate_limited_subscription_waits_its_minute(
    aibot_server, aibot, start_gateway
):
    aibot_server.answer_next_subscribe(45009)
    gateway = start_gateway()
    assert wait_until(lambda: state(aibot) == "retrying", timeout=30)

    asked = time.monotonic()
    gateway.stop()
    assert time.monotonic() - asked < 5  # not the minute's 60 s
    assert aibot_server.subscriptions == [("bot1", 45009)]


def test_while_wecom_stays_busy_the_subscription_backs_off(aibot_server, aibot, start_gateway):
    aibot_server.answer_next_subscribe(-1, -1, -1)
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 4, timeout=15)
    at = aibot_server.times_of("aibot_subscribe")
    assert at[2] - at[1] >= 1.0 and at[3] - at[2] >= 2.0  # 1 s, then 2-4 s, then 4-8 s
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    assert Bot.objects.get(pk=aibot.pk).paused_at is None


def test_reconnect_waits_grow_to_30_s_at_most_as_tencents_sdk_does():
    """Tencent's SDK (WecomTeam/aibot-node-sdk, src/ws.ts) waits 1 s, doubling, up to 30 s
    between reconnects; the gateway's waits, jittered between half and all of that, never
    go past those 30 s however long WeCom stays away."""
    waits = [backoff(attempt) for attempt in range(12) for _ in range(50)]
    assert min(waits) >= 1.0
    assert max(waits) <= 30.0
    assert min(backoff(attempt) for attempt in range(5, 12) for _ in range(50)) >= 15.0


def test_acks_that_name_their_command_still_answer_the_subscription_pings_and_sends(
    aibot_server, aibot, start_gateway
):
    aibot_server.ack_with_cmd = True  # {"cmd": "aibot_send_msg", "headers": …, "errcode": 0}
    start_gateway()
    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    assert wait_until(lambda: len(aibot_server.frames_of("ping")) >= 4, timeout=10)
    assert len(aibot_server.subscriptions) == 1  # the pings' acks were read as acks

    group = Conversation.objects.create(bot=aibot, conversation_id="wrGroupA", kind="group")
    result = connector_for(aibot).send("m1", group, {"msgtype": "markdown",
                                                     "markdown": {"content": "hi"}})  # fmt: skip
    assert (result.outcome, result.errcode) == (Outcome.SENT, 0), result.detail


def test_unanswered_pings_keep_their_pace_and_the_third_tick_reconnects(
    aibot_server, aibot, fast_gateway, start_gateway
):
    interval = fast_gateway.WECOM_AIBOT_HEARTBEAT_SECONDS = 0.5
    aibot_server.answer_pings = False
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    subscribed, resubscribed = aibot_server.times_of("aibot_subscribe")[:2]
    pings = [at for at in aibot_server.times_of("ping") if at < resubscribed]
    assert len(pings) == 2  # two missed acks, then the connection is dropped
    # One interval apart (an unanswered ping does not hold the next one back)...
    assert pings[0] - subscribed < 1.5 * interval and pings[1] - pings[0] < 1.5 * interval
    # ... and the drop comes at the next tick, not after yet another wait.
    closed = aibot_server.times_of("ping")[1] + interval
    assert resubscribed - closed < 1.0 + 0.5 * interval  # the first backoff is 1 s


def test_pings_wecom_refuses_with_an_errcode_count_as_unanswered_and_reconnect(
    aibot_server, aibot, fast_gateway, start_gateway
):
    fast_gateway.WECOM_AIBOT_HEARTBEAT_SECONDS = 0.5
    aibot_server.ping_errcode = -1
    start_gateway()

    assert wait_until(lambda: len(aibot_server.subscriptions) == 2, timeout=10)
    resubscribed = aibot_server.times_of("aibot_subscribe")[1]
    assert len([at for at in aibot_server.times_of("ping") if at < resubscribed]) == 2


def test_a_ping_answered_late_but_before_the_next_two_keeps_the_connection(
    aibot_server, aibot, fast_gateway, start_gateway
):
    interval = fast_gateway.WECOM_AIBOT_HEARTBEAT_SECONDS = 0.5
    aibot_server.ping_delay = 1.2 * interval  # later than one interval, well before two
    start_gateway()

    assert wait_until(lambda: len(aibot_server.frames_of("ping")) >= 6, timeout=10)
    assert len(aibot_server.subscriptions) == 1
    assert state(aibot) == "connected"


def test_pings_keep_their_pace_and_the_connection_stays_while_the_database_is_unavailable(
    aibot_server, aibot, fast_gateway, start_gateway
):
    # Only unanswered pings or WeCom closing it end a connection on our side (whether WeCom
    # drops one whose pings stop is written nowhere, so they never stop). Recording its
    # state in the database is no part of the heartbeat.
    fast_gateway.WECOM_AIBOT_LEASE_SECONDS = 60  # the lease outlives the outage
    fast_gateway.WECOM_AIBOT_HEARTBEAT_SECONDS = 0.3
    start_gateway()
    aibot_server.wait_connected("bot1")

    with connection_states_refused():  # from the subscription on: "connected", last frame
        outage = time.monotonic()
        during = lambda: [at for at in aibot_server.times_of("ping") if at > outage]  # noqa: E731
        assert wait_until(lambda: len(during()) >= 8, timeout=10)
        assert aibot_server.subscriptions == [("bot1", 0)]

    assert wait_until(lambda: state(aibot) == "connected", timeout=30)
    assert aibot_server.subscriptions == [("bot1", 0)]


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="botadmin"'),
        ("Basic dXNlcjpwYXNz", 'Bearer realm="botadmin"'),  # another scheme: no token given
        ("Bearer not-the-token", 'Bearer realm="botadmin", error="invalid_token"'),
    ],
)
def test_the_send_endpoint_refuses_a_missing_or_wrong_token_with_the_apis_challenge(
    aibot_server, aibot, group, connected, authorization, challenge
):
    """As every 401 of the API: a Bearer challenge, with `invalid_token` for a wrong one;
    the delivery worker still reads the answer as "not sent, retry"."""
    markdown = {"msgtype": "markdown", "markdown": {"content": "hi"}}

    answer = post_to_gateway(aibot, markdown, authorization=authorization)

    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == challenge
    result = WeComAIBotConnector.classify(answer)
    assert (result.outcome, result.detail) == (Outcome.RETRY, "wrong gateway token")
    assert not aibot_server.frames_of("aibot_send_msg")
