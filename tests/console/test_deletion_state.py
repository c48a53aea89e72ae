"""While a bot or a conversation is being deleted, its pages say so with a link to the
deletion's progress, and what would write new data for it is refused, saying why, instead
of racing the deletion."""

from __future__ import annotations

import pytest
from django.urls import reverse

from announcements.models import Announcement
from conversations.models import SyncRun
from deletions import services
from deletions.models import DeletionJob
from forwarding.models import WebhookEndpoint
from messaging.models import Message


def _said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def bot_deletion(bot, group, superuser) -> DeletionJob:
    return services.request_bot_deletion(bot, superuser, via="test")[0]


@pytest.fixture
def conversation_deletion(group, superuser) -> DeletionJob:
    return services.request_conversation_deletion(group, superuser, via="test")[0]


def test_the_pages_of_a_bot_being_deleted_say_so_and_link_its_progress(
    operator_client, bot, group, bot_deletion
):
    progress = reverse("console:deletion", args=[bot_deletion.pk])
    for url in (
        reverse("console:bot", args=[bot.pk]),
        reverse("console:conversations", args=[bot.pk]),
        reverse("console:history", args=[bot.pk, group.pk]),
        reverse("announcements:compose") + f"?bot={bot.pk}",
    ):
        html = operator_client.get(url).content.decode()
        assert 'id="being-deleted"' in html, url
        assert "正在删除此机器人…" in html and progress in html, url

    bot_page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert 'id="delete-bot"' not in bot_page  # asked already
    history = operator_client.get(reverse("console:history", args=[bot.pk, group.pk]))
    assert 'id="no-reply"' in history.content.decode()
    assert reverse("console:reply", args=[bot.pk, group.pk]) not in history.content.decode()
    for url in (reverse("console:bots"), reverse("console:dashboard")):
        html = operator_client.get(url).content.decode()
        assert "正在删除" in html and progress in html, url


def test_a_conversation_being_deleted_says_so_where_it_is_shown(
    operator_client, bot, group, make_conversation, conversation_deletion
):
    other = make_conversation(bot, "wrOther", name="其他群")
    history = operator_client.get(reverse("console:history", args=[bot.pk, group.pk]))
    html = history.content.decode()
    assert "正在删除此会话…" in html
    assert reverse("console:deletion", args=[conversation_deletion.pk]) in html
    assert 'id="no-reply"' in html and 'id="delete-conversation"' not in html

    listing = operator_client.get(reverse("console:conversations", args=[bot.pk]))
    rows = {c.pk: c.deletion_job for c in listing.context["page"].object_list}
    assert rows == {group.pk: conversation_deletion, other.pk: None}
    assert 'id="being-deleted"' not in listing.content.decode()  # the bot is not
    # Its bot's other pages go on as usual.
    other_history = operator_client.get(reverse("console:history", args=[bot.pk, other.pk]))
    assert 'id="being-deleted"' not in other_history.content.decode()
    assert 'id="no-reply"' not in other_history.content.decode()


def test_a_reply_to_a_conversation_being_deleted_is_refused_saying_why(
    operator_client, bot, group, conversation_deletion
):
    reply_url = reverse("console:reply", args=[bot.pk, group.pk])

    answer = operator_client.post(reply_url, {"content": "还在吗"}, follow=True)

    assert answer.redirect_chain[-1][0] == reverse(
        "console:deletion", args=[conversation_deletion.pk]
    )
    assert _said(answer) == ["正在删除 销售群：不再向它发送任何新内容。"]
    assert not Message.objects.filter(conversation=group).exists()
    # The reply box of a page opened before: htmx goes to the deletion's page.
    boxed = operator_client.post(reply_url, {"content": "还在吗"}, HTTP_HX_REQUEST="true")
    assert boxed["HX-Redirect"] == reverse("console:deletion", args=[conversation_deletion.pk])
    assert not Message.objects.filter(conversation=group).exists()


def test_writes_for_a_bot_being_deleted_are_refused(
    operator_client, bot, group, make_message, bot_deletion
):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:9/hook")
    message = make_message(group, direction="out", status=Message.Status.FAILED)
    progress = reverse("console:deletion", args=[bot_deletion.pk])
    posts = {
        reverse("console:bot_sync", args=[bot.pk]): {},
        reverse("console:bot_test", args=[bot.pk]): {},
        reverse("console:webhook_add", args=[bot.pk]): {"url": "http://127.0.0.1:9/new"},
        reverse("console:webhook_test", args=[bot.pk, endpoint.pk]): {},
        reverse("console:fix_message", args=[bot.pk, group.pk, message.pk, "retry"]): {},
        reverse("announcements:compose"): {"bot": bot.pk, "title": "周报", "msgtype": "text"},
    }
    for url, data in posts.items():
        answer = operator_client.post(url, data)
        assert answer.status_code == 302 and answer["Location"] == progress, url

    said = _said(operator_client.get(progress))
    assert said == ["正在删除 acme：不再为它发送、同步或保存任何新内容。"] * len(posts)
    assert not SyncRun.objects.filter(bot=bot).exists()
    assert WebhookEndpoint.objects.filter(bot=bot).count() == 1
    assert not Announcement.objects.exists()
    assert Message.objects.get(pk=message.pk).status == Message.Status.FAILED


def test_another_operator_is_not_told_of_a_deletion_of_a_bot_they_do_not_see(
    client, make_operator, other_bot, bot, group, bot_deletion
):
    client.force_login(make_operator("bob", other_bot))

    answer = client.post(reverse("console:reply", args=[bot.pk, group.pk]), {"content": "x"})

    assert answer.status_code == 404
    assert client.get(reverse("console:deletion", args=[bot_deletion.pk])).status_code == 404


def test_a_failed_deletion_shows_why_on_its_target_s_page(
    operator_client, bot, group, conversation_deletion
):
    DeletionJob.objects.filter(pk=conversation_deletion.pk).update(
        status=DeletionJob.Status.FAILED, error="OSError: No space left on device"
    )

    html = operator_client.get(reverse("console:history", args=[bot.pk, group.pk])).content.decode()

    assert "此会话的删除已停止：" in html and "No space left on device" in html
    assert 'id="no-reply"' not in html  # nothing is being deleted now
