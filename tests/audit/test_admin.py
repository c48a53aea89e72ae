"""The audit log's admin pages."""

from django.urls import reverse

from audit.models import OperatorAction
from audit.services import record_action


def test_an_entrys_page_is_titled_in_words_not_codes(client, superuser, bot):
    """It read "root bot.update conversations.bot 1" on a Chinese page."""
    record_action(superuser, "bot.update", bot=bot, target=bot, summary="name")
    entry = OperatorAction.objects.get()
    client.force_login(superuser)

    page = client.get(reverse("admin:audit_operatoraction_change", args=[entry.pk]))

    html = page.content.decode()
    assert f"{superuser.username} · 修改了机器人设置 · {bot.name}" in html
    assert "bot.update conversations.bot" not in html


def test_the_list_names_the_target_type_in_the_readers_language(client, superuser, bot):
    record_action(superuser, "bot.update", bot=bot, target=bot, summary="name")
    record_action(superuser, "user.create", target=superuser)
    client.force_login(superuser)

    html = client.get(reverse("admin:audit_operatoraction_changelist")).content.decode()

    assert '<td class="field-target_type_words">机器人</td>' in html
    assert '<td class="field-target_type_words">用户</td>' in html
    assert "conversations.bot" not in html and "auth.user" not in html


def test_the_list_names_a_message_in_the_readers_language_not_the_actors(
    client, superuser, bot, group
):
    from django.utils import translation

    from messaging.models import Message

    message = Message.objects.create(
        bot=bot, conversation=group, direction="out", msgtype="image", body={}, status="failed"
    )
    with translation.override("zh-hans"):
        record_action(superuser, "message.retry", bot=bot, target=message)
    entry = OperatorAction.objects.get()
    client.force_login(superuser)
    client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})

    listed = client.get(reverse("admin:audit_operatoraction_changelist")).content.decode()
    titled = client.get(reverse("admin:audit_operatoraction_change", args=[entry.pk]))

    assert f'<td class="field-target_name">Outbound Image {message.msgid}</td>' in listed
    assert f"Retried a message · Outbound Image {message.msgid}" in titled.content.decode()
    assert entry.target_parts == {"direction": "out", "msgtype": "image", "msgid": message.msgid}
    assert entry.target_label == f"Outbound Image {message.msgid}"  # the fallback, in English


def test_the_admin_describes_an_entry_as_the_console_does_in_the_readers_language(
    client, superuser, bot, group
):
    """The list and an entry's page showed the stored English summary ("Retry … (was
    failed)."), where the console's audit page says what happened in the reader's words
    (console.action_summaries); the stored summary stays readable on the entry's page."""
    from conversations.bot_changes import create_bot
    from messaging.delivery_actions import retry_now
    from messaging.models import Message

    create_bot(superuser, "通知机器人", "wecom_robot", {})
    message = Message.objects.create(
        bot=bot, conversation=group, direction="out", msgtype="text", body={}, status="failed"
    )
    retry_now(message, superuser)
    retried = OperatorAction.objects.get(action="message.retry")
    client.force_login(superuser)
    listed = reverse("admin:audit_operatoraction_changelist")
    entry = reverse("admin:audit_operatoraction_change", args=[retried.pk])

    chinese, chinese_entry = client.get(listed), client.get(entry)
    client.cookies["django_language"] = "en"
    english, english_entry = client.get(listed), client.get(entry)

    assert '<td class="field-description">原状态：失败</td>' in chinese.content.decode()
    assert '<td class="field-description">企业微信群机器人</td>' in chinese.content.decode()
    assert '<td class="field-description">status before: Failed</td>' in english.content.decode()
    assert '<td class="field-description">WeCom group robot</td>' in english.content.decode()
    assert retried.summary not in chinese.content.decode() + english.content.decode()
    assert "记录时的摘要（英文）" in chinese_entry.content.decode()
    for page, description in (
        (chinese_entry, "原状态：失败"),
        (english_entry, "status before: Failed"),
    ):
        html = page.content.decode()
        assert f'<div class="readonly">{description}</div>' in html
        assert f'<div class="readonly">{retried.summary}</div>' in html  # as recorded
        assert b'name="_save"' not in page.content


def test_an_entrys_page_says_its_operation_and_target_type_in_words_beside_their_codes(
    client, superuser, bot
):
    """The page of one entry showed "bot.update" and "conversations.bot" where the list
    and its title say "修改了机器人设置" and "机器人"."""
    record_action(superuser, "bot.update", bot=bot, target=bot, summary="name")
    entry = OperatorAction.objects.get()
    client.force_login(superuser)
    url = reverse("admin:audit_operatoraction_change", args=[entry.pk])

    chinese = client.get(url).content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(url).content.decode()

    assert '<div class="readonly">修改了机器人设置 <code>bot.update</code></div>' in chinese
    assert '<div class="readonly">机器人 <code>conversations.bot</code></div>' in chinese
    assert (
        '<div class="readonly">Changed a bot&#x27;s settings <code>bot.update</code></div>'
        in english
    )
    assert '<div class="readonly">Bot <code>conversations.bot</code></div>' in english
