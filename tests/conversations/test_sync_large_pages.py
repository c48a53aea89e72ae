"""An agent may answer many contacts on one page (bridge-protocol.md section 2 sets no
page size): the page is read whole, past the general limit on an answer's size, and a
page past the contact page limit fails the sync saying so, deactivating nothing."""

from connectors import bridge_contacts
from conversations import sync
from conversations.models import SyncRun


def users(n: int) -> list[dict]:
    return [{"conversation_id": f"wmU{i:05d}", "name": f"用户{i} User {i}"} for i in range(n)]


def test_a_page_larger_than_the_answer_size_limit_is_read_whole(bridge_bot, agent, settings):
    # Given an agent answering every user on one page, larger than an answer may be elsewhere
    settings.BOTADMIN_HTTP_MAX_RESPONSE_BYTES = 4_000
    agent.users, agent.groups = users(300), []
    agent.behaviour.page_size = 1_000

    # When the bot syncs
    run = sync.sync_now(bridge_bot, SyncRun.Trigger.CONSOLE)

    # Then every user is there
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error
    assert run.users_added == 300 and run.pages_fetched == 2
    assert bridge_bot.conversations.filter(kind="user", is_active=True).count() == 300


def test_a_page_past_the_contact_page_limit_fails_saying_so_and_deactivates_nothing(
    bridge_bot, agent, monkeypatch
):
    # Given a bot that synced 300 users, 10 on a page
    agent.users, agent.groups = users(300), []
    agent.behaviour.page_size = 10
    assert sync.sync_now(bridge_bot, SyncRun.Trigger.CONSOLE).users_added == 300

    # When the agent answers them all on one page, past the limit of a contact page
    monkeypatch.setattr(bridge_contacts, "CONTACT_PAGE_MAX_BYTES", 4_000, raising=False)
    agent.behaviour.page_size = 1_000
    run = sync.sync_now(bridge_bot, SyncRun.Trigger.CONSOLE)

    # Then the run fails naming the page's size, and nobody is deactivated
    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error.startswith("protocol error: a page of users is larger than"), run.error
    assert "smaller pages" in run.error
    assert run.users_deactivated == 0
    assert bridge_bot.conversations.filter(is_active=True).count() == 300
