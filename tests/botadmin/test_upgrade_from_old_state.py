"""An install of an old release upgrades with its data: the test database is taken back
to an early state (messaging 0004, before announcements and forwarding became apps),
rows are written through the models of that state, every migration since runs, and
today's code reads and delivers what the old release stored.

One row per data migration since that state: messaging 0005 (a bot's webhook URL
becomes its primary endpoint), 0009 with announcements/forwarding 0001 (models move
app, content types and permissions with them), messaging 0011 (earlier media marked
failed), forwarding 0002 (a delivery's lease kept), audit 0002 (names kept),
announcements 0004 (search text) and 0005 (finished runs), conversations 0009 (a
renamed column keeps its values), conversations 0031 and 0033 (names' sort keys), messaging 0026
and announcements 0009 (creators' names kept), announcements 0013 (runs' recipient totals).
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from announcements.models import Announcement, AnnouncementRun
from audit.models import OperatorAction
from botadmin.natural_order import sort_key
from conversations.models import Bot, Conversation
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.delivery import deliver
from messaging.models import Message, MessageMedia
from tests.connectors.conftest import agent  # noqa: F401  (the fake agent)

pytestmark = pytest.mark.django_db(transaction=True)  # migrations run outside a test transaction

OLD_STATE = [
    ("messaging", "0004_inbound_media_and_webhooks"),
    ("conversations", "0003_bot_quiet_hours"),
    ("audit", "0001_operator_action"),
    ("announcements", None),
    ("forwarding", None),
]
LAST_SEEN = timezone.now() - timedelta(days=3)
LEASE = timezone.now() + timedelta(minutes=5)


@pytest.fixture
def old_release():
    """The test database as the old release left it; back at today's state afterwards."""
    MigrationExecutor(connection).migrate(OLD_STATE)
    loader = MigrationExecutor(connection).loader
    yield loader.project_state(list(loader.applied_migrations)).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def upgrade():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def store_as_the_old_release(apps, agent_url: str, agent_token: str) -> dict[str, int]:
    """What the old release's processes wrote, through its models."""
    Bot = apps.get_model("conversations", "Bot")
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("messaging", "Message")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")

    bot = Bot.objects.create(
        name="sales",
        secret="s" * 32,
        connector="bridge",
        agent_url=agent_url,
        agent_token=agent_token,
        webhook_url="https://hooks.example.com/in",
    )
    group = Conversation.objects.create(
        bot=bot,
        conversation_id="wrDemoGroup0001",
        kind="group",
        name="销售部通知群",
        last_message_at=LAST_SEEN,
    )
    queued = Message.objects.create(
        bot=bot,
        conversation=group,
        msgid="m-queued-before-upgrade",
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "升级前排队的消息"}},
        search_text="升级前排队的消息",
        status="queued",
        source="api",
    )
    inbound = Message.objects.create(
        bot=bot,
        conversation=group,
        msgid="m-inbound-image",
        direction="in",
        msgtype="image",
        body={"msgtype": "image", "image": {"url": "https://cdn.example.com/a.png"}},
        status="received",
        source="callback",
        sender_id="zhangsan",
    )
    media = apps.get_model("messaging", "MessageMedia").objects.create(
        message=inbound, kind="image", cdn="https://cdn.example.com/a.png"
    )
    endpoint = apps.get_model("messaging", "WebhookEndpoint").objects.create(
        bot=bot, url="https://hooks.example.com/other", description="CRM"
    )
    delivery = apps.get_model("messaging", "WebhookDelivery").objects.create(
        message=inbound, endpoint=endpoint, status="delivering", claimed_until=LEASE
    )

    announcement = apps.get_model("messaging", "Announcement").objects.create(
        bot=bot,
        title="季度通知",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "第三季度报告已发布"}},
        status="cancelled",
    )
    announcement.conversations.add(group)
    run = apps.get_model("messaging", "AnnouncementRun").objects.create(
        announcement=announcement,
        scheduled_for=timezone.now() - timedelta(days=1),
        started_at=timezone.now() - timedelta(days=1),
        status="cancelled",  # cancelled after all its messages had gone out
        recipient_ids=[group.pk],
        fanout_cursor=1,
        fanned_out_at=timezone.now() - timedelta(days=1),
    )
    Message.objects.create(
        bot=bot,
        conversation=group,
        msgid="m-announced",
        direction="out",
        msgtype="text",
        body=announcement.body,
        status="sent",
        source="announcement",
        announcement_run=run,
    )

    operator = User.objects.create(username="wangwu")
    can_view_deliveries = Permission.objects.get(
        content_type=ContentType.objects.get(app_label="messaging", model="webhookdelivery"),
        codename="view_webhookdelivery",
    )
    operator.user_permissions.add(can_view_deliveries)
    # What they made keeps their name (messaging 0026, announcements 0009).
    Message.objects.filter(msgid="m-announced").update(created_by=operator)
    type(announcement).objects.filter(pk=announcement.pk).update(created_by=operator)
    apps.get_model("audit", "OperatorAction").objects.create(
        actor=operator, bot=bot, action="bot.edit", summary="edited the bot"
    )
    return {
        "bot": bot.pk,
        "group": group.pk,
        "queued": queued.pk,
        "media": media.pk,
        "delivery": delivery.pk,
        "announcement": announcement.pk,
        "run": run.pk,
        "operator": operator.pk,
    }


def test_an_old_install_upgrades_with_its_data_and_today_s_code_uses_it(
    old_release,
    agent,  # noqa: F811
):
    ids = store_as_the_old_release(old_release, agent.url, agent.token)

    upgrade()

    bot = Bot.objects.get(pk=ids["bot"])
    primary = WebhookEndpoint.objects.get(bot=bot, is_primary=True)  # messaging 0005
    assert primary.url == "https://hooks.example.com/in"
    group = Conversation.objects.get(pk=ids["group"])
    assert group.last_inbound_at == LAST_SEEN
    assert group.name_sort_key == sort_key("销售部通知群")  # conversations 0031, 0033

    media = MessageMedia.objects.get(pk=ids["media"])  # messaging 0011
    assert media.status == MessageMedia.Status.FAILED and media.error

    delivery = WebhookDelivery.objects.get(pk=ids["delivery"])  # forwarding 0001, 0002
    assert delivery.status == "delivering" and delivery.next_attempt_at == LEASE

    announcement = Announcement.objects.get(pk=ids["announcement"])  # announcements 0001, 0004
    assert "第三季度报告已发布" in announcement.search_text
    assert list(announcement.conversations.values_list("pk", flat=True)) == [ids["group"]]
    run = AnnouncementRun.objects.get(pk=ids["run"])
    assert run.status == "sending"  # announcements 0005
    assert run.recipient_total == 1  # announcements 0013

    action = OperatorAction.objects.get(bot=bot)  # audit 0002
    assert (action.actor_label, action.bot_label) == ("wangwu", "sales")

    assert Message.objects.get(msgid="m-announced").created_by_label == "wangwu"
    assert announcement.created_by_label == "wangwu"

    operator = get_user_model().objects.get(pk=ids["operator"])
    assert operator.has_perm("forwarding.view_webhookdelivery")  # its content type moved

    # Today's delivery engine sends what the old release queued.
    assert deliver(ids["queued"]).result == "sent"
    queued = Message.objects.get(pk=ids["queued"])
    assert queued.status == Message.Status.SENT
    assert agent.sent[queued.msgid].body["text"] == {"content": "升级前排队的消息"}
