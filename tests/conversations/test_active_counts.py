"""A bot's counts of active users and groups (the compose page's "All groups (n)") come
from the shared cache and are right again once a change to its conversations commits:
a contact sync, a conversation first seen in a message or out of reach, one entered by
hand or changed in the admin."""

import pytest
from django.utils import timezone

from conversations import active_counts as active_counts_module
from conversations import sync
from conversations.active_counts import active_counts
from conversations.activity import record_reachable, record_seen_in_message
from conversations.bot_changes import add_conversation
from conversations.models import Conversation, SyncRun
from tests.console.test_bad_posts import conversation_form
from tests.polling import wait_until

from .test_sync import GROUPS, USERS


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what a block leaves for the commit (the test's transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_a_sync_that_adds_and_deactivates_conversations_is_counted_at_once(
    bridge_bot, agent, committed
):
    agent.users, agent.groups = [dict(u) for u in USERS], [dict(g) for g in GROUPS]
    agent.behaviour.page_size = 2
    assert active_counts(bridge_bot) == {"user": 0, "group": 0}  # kept from now on

    with committed():
        sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)
    assert active_counts(bridge_bot) == {"user": 2, "group": 7}

    agent.users.pop()
    del agent.groups[2:5]
    with committed():
        run = sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND)
    assert run.counts()["group"]["deactivated"] == 3
    assert active_counts(bridge_bot) == {"user": 1, "group": 4}


def test_a_conversation_first_seen_in_a_message_is_counted_at_once(bot, group, committed):
    assert active_counts(bot) == {"user": 0, "group": 1}

    # What messaging/inbound.py does in the transaction that stores a message.
    with committed():
        record_seen_in_message(bot, "zhangsan", at=timezone.now(), kind="user", name="张三")
    assert active_counts(bot) == {"user": 1, "group": 1}

    # A message that says the group is a one-to-one chat after all.
    with committed():
        record_seen_in_message(bot, group.conversation_id, at=timezone.now(), kind="user")
    assert active_counts(bot) == {"user": 2, "group": 0}


def test_a_member_out_of_reach_is_no_longer_counted_and_counted_again_once_back(
    bot, make_conversation, committed
):
    make_conversation(bot, "lisi", kind=Conversation.Kind.USER)
    assert active_counts(bot) == {"user": 1, "group": 0}

    with committed():
        record_reachable(bot, "lisi", reachable=False)
    assert active_counts(bot) == {"user": 0, "group": 0}

    with committed():
        record_reachable(bot, "lisi", reachable=True)
    assert active_counts(bot) == {"user": 1, "group": 0}


def test_a_group_entered_by_hand_is_counted_at_once(make_bot, superuser, committed):
    robot_bot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    assert active_counts(robot_bot) == {"user": 0, "group": 0}

    with committed():
        add_conversation(
            Conversation(bot=robot_bot, conversation_id="sales", name="销售群", robot_key="k-1"),
            superuser,
        )

    assert active_counts(robot_bot) == {"user": 0, "group": 1}


def test_a_conversation_switched_off_in_the_admin_is_no_longer_counted(
    client, superuser, bot, group, committed
):
    assert active_counts(bot) == {"user": 0, "group": 1}
    client.force_login(superuser)

    with committed():
        switched_off = conversation_form(bot, group)
        del switched_off["is_active"]  # the box unticked
        response = client.post(
            f"/admin/conversations/conversation/{group.pk}/change/", switched_off
        )
    assert response.status_code == 302

    assert active_counts(bot) == {"user": 0, "group": 0}


def test_a_change_made_around_the_app_shows_within_the_time_the_counts_are_kept(
    bot, group, monkeypatch
):
    """What no write of the conversations app forgets (a row changed by hand in the
    database) is shown once the counts expire: a minute, made a second here."""
    monkeypatch.setattr(active_counts_module, "KEEP_SECONDS", 1)
    assert active_counts(bot) == {"user": 0, "group": 1}

    Conversation.objects.filter(pk=group.pk).update(is_active=False)

    assert active_counts(bot) == {"user": 0, "group": 1}  # kept
    assert wait_until(lambda: active_counts(bot) == {"user": 0, "group": 0}, timeout=30)
