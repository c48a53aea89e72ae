"""Contact sync against the real fake agent (bridge-protocol.md section 2)."""

import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from audit.models import OperatorAction
from botadmin.local_http import Answer, LocalServer, Request
from botadmin.reasons import translate
from conversations import sync
from conversations.models import SyncRun
from messaging.models import Message

USERS = [
    {"conversation_id": "wmU1", "name": "Alice", "avatar": "https://example.com/a.png"},
    {"conversation_id": "wmU2", "name": "Bob", "corp_name": "Acme"},
]
GROUPS = [
    {"conversation_id": f"wrG{n:02d}", "name": f"Group {n:02d}", "member_count": n}
    for n in range(1, 8)
]


@pytest.fixture
def agent_with_contacts(agent):
    agent.users = [dict(u) for u in USERS]
    agent.groups = [dict(g) for g in GROUPS]
    agent.behaviour.page_size = 2
    return agent


def do_sync(bot) -> SyncRun:
    return sync.sync_now(bot, SyncRun.Trigger.COMMAND)


def states(bot) -> dict[str, tuple[str, bool]]:
    return {c.conversation_id: (c.name, c.is_active) for c in bot.conversations.all()}


def test_a_first_sync_adds_every_user_and_group_with_their_fields(bridge_bot, agent_with_contacts):
    run = do_sync(bridge_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.error == ""
    assert run.counts()["user"] == {"added": 2, "updated": 0, "deactivated": 0, "reactivated": 0}
    assert run.counts()["group"]["added"] == 7
    assert run.pages_fetched == 1 + 4  # 2 users on one page, 7 groups on 4 pages of 2
    assert run.started_at <= run.finished_at
    alice = bridge_bot.conversations.get(conversation_id="wmU1")
    assert (alice.kind, alice.name, alice.avatar_url) == ("user", "Alice", USERS[0]["avatar"])
    assert bridge_bot.conversations.get(conversation_id="wmU2").extra == {"corp_name": "Acme"}
    group = bridge_bot.conversations.get(conversation_id="wrG05")
    assert (group.kind, group.member_count, group.is_active) == ("group", 5, True)


def test_add_rename_remove_and_readd_across_syncs(bridge_bot, agent_with_contacts):
    agent = agent_with_contacts
    do_sync(bridge_bot)

    # Second sync: one group renamed, one removed, one user added.
    agent.groups[0]["name"] = "Renamed"
    removed = agent.groups.pop(3)
    agent.users.append({"conversation_id": "wmU3", "name": "Carol"})
    run = do_sync(bridge_bot)
    assert run.counts() == {
        "user": {"added": 1, "updated": 0, "deactivated": 0, "reactivated": 0},
        "group": {"added": 0, "updated": 1, "deactivated": 1, "reactivated": 0},
    }
    now = states(bridge_bot)
    assert now["wrG01"] == ("Renamed", True)
    assert now[removed["conversation_id"]] == (removed["name"], False)  # kept, inactive
    assert now["wmU3"] == ("Carol", True)

    # Third sync: the removed group comes back; nothing else changes.
    agent.groups.append(removed)
    run = do_sync(bridge_bot)
    assert run.counts() == {
        "user": {"added": 0, "updated": 0, "deactivated": 0, "reactivated": 0},
        "group": {"added": 0, "updated": 0, "deactivated": 0, "reactivated": 1},
    }
    assert states(bridge_bot)[removed["conversation_id"]] == (removed["name"], True)
    assert bridge_bot.conversations.count() == 10  # nothing duplicated, nothing deleted


def test_a_removed_conversation_keeps_its_messages(bridge_bot, agent_with_contacts):
    do_sync(bridge_bot)
    conversation = bridge_bot.conversations.get(conversation_id="wrG01")
    Message.objects.create(
        bot=bridge_bot,
        conversation=conversation,
        direction=Message.Direction.IN,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hi"}},
    )
    agent_with_contacts.groups.pop(0)
    do_sync(bridge_bot)
    conversation.refresh_from_db()
    assert not conversation.is_active and conversation.messages.count() == 1


def test_a_sync_failing_on_page_3_changes_nothing_it_did_not_see(bridge_bot, agent_with_contacts):
    agent = agent_with_contacts
    do_sync(bridge_bot)
    before = states(bridge_bot)

    # Page 1 of groups renames G01; page 3 (G05, G06) fails; G07 and two users vanish.
    agent.groups[0]["name"] = "Seen rename"
    agent.groups[4]["name"] = "Unseen rename"
    agent.groups.pop()
    agent.users = []
    agent.behaviour.fail_contacts_on_page = 3
    run = do_sync(bridge_bot)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert "500" in run.error and run.finished_at is not None
    assert run.pages_fetched == 3  # users (empty) + groups pages 1 and 2
    assert run.groups_deactivated == run.users_deactivated == 0
    after = states(bridge_bot)
    assert after["wrG01"] == ("Seen rename", True)
    assert after["wrG05"] == before["wrG05"]
    assert after["wrG07"] == before["wrG07"] == ("Group 07", True)
    assert after["wmU1"] == ("Alice", True)


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"name": "Group\x0005"}, "protocol error: contact.name contains a NUL character"),
        ({"tags": {"a\x00": 1}}, "protocol error: contact.tags key contains a NUL character"),
        ({"score": float("nan")}, "protocol error: not JSON"),  # Python writes NaN; not JSON
    ],
)
def test_a_contact_no_database_can_store_fails_the_run_with_a_protocol_error(
    bridge_bot, agent_with_contacts, bad, error
):
    # Found by fuzzing the callback: PostgreSQL refuses NUL, no JSON column takes NaN.
    # The agent is at fault, so the run names it instead of an "internal error".
    agent_with_contacts.groups[4].update(bad)  # on the third page of groups

    run = do_sync(bridge_bot)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error.startswith(error), run.error
    assert "wrG04" in states(bridge_bot) and "wrG05" not in states(bridge_bot)


def test_an_unreachable_agent_fails_the_run_and_changes_nothing(bridge_bot, agent_with_contacts):
    do_sync(bridge_bot)
    agent_with_contacts.go_down()
    run = do_sync(bridge_bot)
    assert run.outcome == SyncRun.Outcome.FAILED and "unreachable" in run.error
    assert all(active for _, active in states(bridge_bot).values())


def test_a_new_request_while_one_is_pending_joins_it(bridge_bot):
    first, created = sync.request_sync(bridge_bot, SyncRun.Trigger.ADMIN, enqueue=False)
    second, created_again = sync.request_sync(bridge_bot, SyncRun.Trigger.PERIODIC, enqueue=False)
    assert created and not created_again and second.pk == first.pk


def test_the_database_allows_one_active_run_per_bot(bridge_bot):
    SyncRun.objects.create(bot=bridge_bot, trigger=SyncRun.Trigger.ADMIN)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(
            bot=bridge_bot, trigger=SyncRun.Trigger.ADMIN, outcome=SyncRun.Outcome.RUNNING
        )


def test_running_the_same_run_twice_syncs_once(bridge_bot, agent_with_contacts):
    run, _ = sync.request_sync(bridge_bot, SyncRun.Trigger.ADMIN, enqueue=False)
    sync.run_sync(run.pk)
    requests_after_first = len(agent_with_contacts.contact_requests)
    again = sync.run_sync(run.pk)
    assert again.outcome == SyncRun.Outcome.SUCCEEDED
    assert len(agent_with_contacts.contact_requests) == requests_after_first


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sync_requests_run_one_sync(make_bot, agent_with_contacts):
    agent = agent_with_contacts
    bot = make_bot(name="concurrent", agent_url=agent.url, agent_token=agent.token)
    agent.behaviour.delay = 0.1  # each page takes a while: the second request arrives mid-sync
    results, barrier = [], threading.Barrier(2)

    def request():
        try:
            barrier.wait()
            results.append(do_sync(bot).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 2 and results[0] == results[1]
    assert SyncRun.objects.filter(bot=bot).count() == 1
    assert sorted(agent.contact_requests) == sorted(set(agent.contact_requests))  # each page once
    assert bot.conversations.count() == 9


def test_the_sync_contacts_command_syncs_one_bot_and_prints_the_run(
    bridge_bot, agent_with_contacts, make_bot
):
    untouched = make_bot(name="untouched")
    out = StringIO()
    call_command("sync_contacts", "bridge", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["bot"] == "bridge" and printed["outcome"] == "succeeded"
    assert printed["groups"]["added"] == 7 and printed["users"]["added"] == 2
    assert not untouched.sync_runs.exists()
    action = OperatorAction.objects.get(action="contacts.sync")
    assert action.bot == bridge_bot and action.actor is None


def test_the_sync_contacts_command_fails_loudly(bridge_bot, agent_with_contacts):
    with pytest.raises(CommandError, match="No bot named"):
        call_command("sync_contacts", "nope")
    agent_with_contacts.go_down()
    with pytest.raises(CommandError, match="bridge"):
        call_command("sync_contacts", stdout=StringIO())


def test_the_command_line_carries_out_a_pending_sync_no_worker_has_claimed(
    bridge_bot, agent_with_contacts
):
    pending, _ = sync.request_sync(bridge_bot, SyncRun.Trigger.PERIODIC, enqueue=False)
    run = do_sync(bridge_bot)
    assert run.pk == pending.pk and run.outcome == SyncRun.Outcome.SUCCEEDED
    assert SyncRun.objects.count() == 1


@pytest.fixture
def aibot(listless_bot, make_conversation):
    """An AI bot (no listing API) with the chat one inbound message made."""
    make_conversation(listless_bot, "wrChat", name="Chat")
    return listless_bot


def test_a_sync_of_a_bot_that_cannot_list_contacts_says_so_and_changes_nothing(aibot):
    before = states(aibot)

    run = do_sync(aibot)

    assert run.outcome == SyncRun.Outcome.NOT_POSSIBLE and not run.is_active
    assert run.error == (
        "This connector cannot list contacts: conversations appear when a message arrives."
    )
    assert run.finished_at is not None and run.pages_fetched == 0
    assert states(aibot) == before
    with translation.override("zh-hans"):
        assert run.shown_error == "此连接器无法列出联系人：收到消息时会话会自动出现。"
        assert run.get_outcome_display() == "无法进行"


def test_the_sync_contacts_command_reports_why_it_cannot_sync_without_failing(aibot):
    out = StringIO()
    call_command("sync_contacts", "helper", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["outcome"] == "not_possible"
    assert "cannot list contacts" in printed["error"]
    assert OperatorAction.objects.filter(action="contacts.sync", bot=aibot).exists()


def test_the_periodic_sync_leaves_out_bots_that_cannot_list_contacts(aibot, make_bot, settings):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 10
    other = make_bot()
    started = sync.sync_due_bots()
    assert [run.bot for run in started] == [other]
    assert not aibot.sync_runs.exists()


# --- An agent that breaks the protocol --------------------------------------------------


class ScriptedAgent(LocalServer):
    """An agent answering each path as scripted (anything else 404): /capabilities,
    /users and /groups each answer the same whatever the cursor."""

    def __init__(self, answers: dict[str, Answer]):
        super().__init__()
        self.answers = answers

    def handle(self, request: Request) -> Answer:
        return self.answers.get(request.path, Answer(404, {"errcode": 404, "errmsg": "not found"}))


def page(data, next_cursor=None) -> Answer:
    return Answer(200, {"errcode": 0, "errmsg": "ok", "data": data, "next_cursor": next_cursor})


ALICE = {"conversation_id": "wmU1", "name": "Alice"}


@pytest.mark.parametrize(
    ("answers", "error"),
    [
        (
            {"/capabilities": Answer(401, {"errcode": 401, "errmsg": "bad token"})},
            "the agent refused botadmin's token (HTTP 401)",
        ),
        (
            {"/capabilities": Answer(200, {"errcode": 40035, "errmsg": "no"})},
            "agent error: errcode 40035",
        ),
        ({"/capabilities": Answer(200, {"msgtypes": ["text"]})}, "protocol error: no errcode"),
        (
            {"/capabilities": Answer(200, {"errcode": 0, "msgtypes": "text"})},
            "protocol error: `msgtypes` must be a list of strings",
        ),
        (
            {"/users": page({"wmU1": ALICE})},
            "protocol error: `data` must be a list and `next_cursor` a string or null",
        ),
        ({"/users": page([ALICE], next_cursor=2)}, "protocol error: `data` must be a list"),
        (
            {"/users": page([{"conversation_id": 7, "name": "Bob"}])},
            "protocol error: a bad contact",
        ),
        ({"/users": page([ALICE], "p2")}, "protocol error: the agent repeated cursor 'p2'"),
    ],
    ids=[
        "token-refused",
        "errcode",
        "no-errcode",
        "msgtypes-not-a-list",
        "data-not-a-list",
        "cursor-not-a-string",
        "bad-item",
        "same-cursor-again",
    ],
)
def test_an_agent_breaking_the_protocol_fails_the_run_saying_how_and_removes_nothing(
    make_bot, make_conversation, answers, error
):
    with ScriptedAgent({"/users": page([ALICE]), "/groups": page([]), **answers}) as agent:
        bot = make_bot(agent_url=agent.url(), agent_token="t" * 40)
        make_conversation(bot, "wrKept", name="Kept")

        run = do_sync(bot)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error.startswith(error), run.error
    assert states(bot)["wrKept"] == ("Kept", True)  # not seen, yet not removed


def test_a_protocol_error_reads_in_chinese(make_bot):
    with ScriptedAgent({"/capabilities": Answer(403, {"errcode": 403})}) as agent:
        run = do_sync(make_bot(agent_url=agent.url(), agent_token="t" * 40))

    with translation.override("zh-hans"):
        assert translate(run.error) == "代理拒绝了 botadmin 的令牌（HTTP 403）"
