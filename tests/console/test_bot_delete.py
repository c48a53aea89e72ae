"""Deleting a bot in the console: its bot admins see what goes and confirm with its name,
then follow the job; operators of other bots, and operators who are not its admins, cannot."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import OperatorAction
from conversations.models import Bot
from deletions import services
from deletions.models import DeletionJob
from messaging.models import Message


def _delete_url(bot) -> str:
    return reverse("console:bot_delete", args=[bot.pk])


def test_a_bot_admin_sees_what_goes_confirms_and_follows_the_job(
    operator_client, operator, bot, group, make_message
):
    for _ in range(3):
        make_message(group)
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert _delete_url(bot) in page

    confirm = operator_client.get(_delete_url(bot))
    assert confirm.status_code == 200
    rows = {row["label"]: row["planned"] for row in confirm.context["rows"]}
    assert rows["messaging.Message"] == 3 and rows["conversations.Conversation"] == 1

    wrong = operator_client.post(_delete_url(bot), {"name": "not-it"})
    assert wrong.status_code == 400 and Bot.objects.get(pk=bot.pk).is_active

    answer = operator_client.post(_delete_url(bot), {"name": bot.name})
    job = DeletionJob.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("console:deletion", args=[job.pk])
    assert not Bot.objects.get(pk=bot.pk).is_active
    assert OperatorAction.objects.filter(action="bot.delete_request", actor=operator).exists()
    progress = operator_client.get(answer["Location"])
    assert progress.status_code == 200 and 'data-active="1"' in progress.content.decode()
    # Asking again leads to the job under way.
    assert operator_client.get(_delete_url(bot))["Location"] == answer["Location"]

    services.run_job(job.pk)
    status = operator_client.get(reverse("console:deletion_status", args=[job.pk])).json()
    assert status["active"] is False
    assert "3" in status["html"]
    # The asker still sees the finished job, though the bot (and so their role) is gone.
    assert operator_client.get(answer["Location"]).status_code == 200


def test_the_operator_of_another_bot_gets_not_found(
    client, make_operator, bot, other_bot, superuser
):
    client.force_login(make_operator("bob", other_bot))
    job, _ = services.request_bot_deletion(other_bot, superuser, via="test")
    mine = services.request_bot_deletion(bot, superuser, via="test")[0]

    assert client.get(_delete_url(bot)).status_code == 404
    assert client.post(_delete_url(bot), {"name": bot.name}).status_code == 404
    assert client.get(reverse("console:deletion", args=[mine.pk])).status_code == 404
    assert client.get(reverse("console:deletion_status", args=[mine.pk])).status_code == 404
    # The job of the bot they administer is theirs to follow.
    assert client.get(reverse("console:deletion", args=[job.pk])).status_code == 200


def test_an_operator_who_is_not_its_bot_admin_may_not(client, make_operator, bot):
    user = make_operator("reader", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)

    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert _delete_url(bot) not in page
    assert client.get(_delete_url(bot)).status_code == 403
    assert client.post(_delete_url(bot), {"name": bot.name}).status_code == 403
    assert not DeletionJob.objects.exists() and Bot.objects.get(pk=bot.pk).is_active


# What the confirmation said before: the models' names, "Message media", "Card task IDs".
MODEL_NAMES = {
    "en": ["Message media", "Card task IDs", "Bot connections", "Deleted conversations"],
    "zh-hans": ["消息媒体", "卡片任务 ID", "机器人连接", "已删除的会话"],
}


@pytest.mark.parametrize(
    "language, messages, count, conversations",
    [
        ("en", "Messages", "1,234", "Conversations (groups and contacts)"),
        ("zh-hans", "消息", "1234", "会话（群聊和联系人）"),  # Django's Chinese: no separator
    ],
)
def test_the_confirmation_counts_what_goes_in_the_operators_words(
    operator_client, bot, group, language, messages, count, conversations
):
    Message.objects.bulk_create(
        Message(
            bot=bot,
            conversation=group,
            direction="in",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": f"第 {i} 条"}},
            status=Message.Status.RECEIVED,
            source=Message.Source.AGENT,
        )
        for i in range(1234)
    )
    operator_client.cookies["django_language"] = language

    page = operator_client.get(_delete_url(bot)).content.decode()

    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', page))
    assert rows[messages] == count and rows[conversations] == "1"
    assert not [name for name in MODEL_NAMES[language] if name in rows]
    assert "0" not in rows.values()  # a kind it removes none of is left out


def test_a_bot_without_history_says_nothing_else_goes(operator_client, bot):
    operator_client.cookies["django_language"] = "en"

    page = operator_client.get(_delete_url(bot)).content.decode()

    assert "Nothing else: it has no history yet." in page and "<th scope=" not in page
