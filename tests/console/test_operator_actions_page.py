"""The operator actions tab speaks the operator's language: operations in words,
filtered by a choice, targets by their names, no stored English summary shown."""

import csv
import io
import re
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags

from audit.models import OperatorAction
from audit.services import record_action
from conversations.bot_changes import request_sync_by
from conversations.models import SyncRun
from conversations.services import rotate_secret
from forwarding.models import WebhookEndpoint
from forwarding.signing_secrets import rotate_signing_secret
from tests.deletions.running import run_deletions


def test_operations_are_words_filtered_by_a_choice(
    operator_client, operator, bot, group, make_message
):
    message = make_message(group, direction="out", status="failed")
    record_action(
        operator, "message.retry", bot=bot, target=message, summary="Retry x (was failed)."
    )
    record_action(
        operator,
        "bot.check_connection",
        bot=bot,
        target=bot,
        summary="OK: fine",
        details={"ok": True},
    )
    record_action(
        operator, "bot.update", bot=bot, target=bot, summary="timezone, rate_limit_per_minute"
    )
    url = reverse("console:operator_actions")

    html = operator_client.get(url).content.decode()

    assert "重试了一条消息" in html and "测试了连接" in html and "成功" in html
    assert (
        "消息 #" in html and "messaging.message" not in html.split("<tbody>")[1].split('title="')[0]
    )
    body = html.split("<tbody>")[1]
    assert ">Retry x (was failed).<" not in body and ">OK: fine<" not in body
    assert '<option value="message.retry">重试了一条消息</option>' in html
    assert "时区" in body

    only_retries = operator_client.get(url + "?action=message.retry").content.decode()
    assert "重试了一条消息" in only_retries.split("<tbody>")[1]
    assert "测试了连接" not in only_retries.split("<tbody>")[1]
    assert "<th>时间</th>" in html


def test_the_changed_settings_are_listed_in_the_operators_language(operator_client, operator, bot):
    record_action(
        operator, "bot.update", bot=bot, target=bot, summary="timezone, rate_limit_per_minute"
    )
    url = reverse("console:operator_actions")

    chinese = operator_client.get(url).content.decode().split("<tbody>")[1]
    operator_client.post(reverse("set_language"), {"language": "en", "next": url})
    english = operator_client.get(url).content.decode().split("<tbody>")[1]

    assert "时区、" in chinese
    assert "time zone, " in english and "、" not in english


def test_what_was_deleted_in_the_admin_is_shown_by_name_in_both_languages(
    client, superuser, make_bot
):
    doomed = make_bot(name="doomed-bot")
    client.force_login(superuser)
    client.post(reverse("admin:conversations_bot_delete", args=[doomed.pk]), {"post": "yes"})
    run_deletions()
    url = reverse("console:operator_actions") + "?action=bot.delete"

    chinese = client.get(url).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": url})
    english = client.get(url).content.decode()

    assert '<option value="bot.delete" selected>删除了机器人</option>' in chinese
    row = chinese.split("<tbody>")[1]
    assert "删除了机器人" in row and "doomed-bot" in row and ">root<" in row
    assert "Deleted a bot" in english.split("<tbody>")[1]


def test_an_operator_sees_the_admin_changes_of_their_bots_only(
    client, operator, bot, other_bot, make_conversation, superuser
):
    mine = make_conversation(bot, "wrMine", name="我的群")
    theirs = make_conversation(other_bot, "wrTheirs", name="别人的群")
    client.force_login(superuser)
    for conversation in (mine, theirs):
        client.post(
            reverse("admin:conversations_conversation_delete", args=[conversation.pk]),
            {"post": "yes"},
        )
    run_deletions()
    client.force_login(operator)

    row = client.get(reverse("console:operator_actions")).content.decode().split("<tbody>")[1]

    assert "删除了会话" in row and "我的群" in row
    assert "别人的群" not in row


def test_a_revealed_secret_is_named_in_words_never_shown(operator_client, bot):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    operator_client.post(reverse("console:webhook_reveal_secret", args=[bot.pk, endpoint.pk]))

    html = operator_client.get(reverse("console:operator_actions")).content.decode()

    body = html.split("<tbody>")[1]
    assert "查看了密钥" in body and "Webhook 签名密钥" in body and "hooks.example" in body
    assert endpoint.signing_secret not in html


def test_a_rotation_says_how_long_the_old_secret_kept_working_in_the_readers_language(
    operator_client, operator, bot
):
    """The description column was empty for rotations: whether callers still using the old
    secret failed at once was only in the English tooltip."""
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    rotate_secret(bot, grace=timedelta(0), actor=operator, via=" in the console")
    rotate_signing_secret(endpoint, grace=timedelta(hours=24), actor=operator)
    url = reverse("console:operator_actions")

    body = operator_client.get(url).content.decode().split("<tbody>")[1]
    assert ">旧密钥立即失效 · 经控制台<" in body and ">旧密钥继续有效 24 小时<" in body

    operator_client.cookies["django_language"] = "en"
    body = operator_client.get(url).content.decode().split("<tbody>")[1]
    assert ">the old secret stopped working at once · via the console<" in body
    assert ">the old secret kept working for 24 h<" in body


def test_user_and_group_operations_are_offered_to_superusers_only(client, operator, superuser):
    url = reverse("console:operator_actions")
    client.force_login(operator)
    mine = client.get(url).content.decode()
    asked = client.get(url + "?action=user.create").content.decode()
    client.force_login(superuser)
    theirs = client.get(url).content.decode()

    for code in ("user.create", "user.update", "user.delete", "group.create", "group.delete"):
        assert f'value="{code}"' not in mine
        assert f'value="{code}"' in theirs
    assert 'value="bot.update"' in mine
    assert "selected>" not in asked.split('name="action"')[1].split("</select>")[0]


def test_the_admins_action_filter_offers_user_operations_to_superusers_only(
    client, operator, superuser
):
    from django.contrib.auth.models import Permission

    operator.user_permissions.add(Permission.objects.get(codename="view_operatoraction"))
    url = reverse("admin:audit_operatoraction_changelist")
    client.force_login(operator)
    assert "action=user.create" not in client.get(url).content.decode()
    client.force_login(superuser)
    assert "action=user.create" in client.get(url).content.decode()


def test_a_filter_nothing_matches_says_so_not_that_the_log_is_empty(operator_client, operator, bot):
    record_action(operator, "bot.update", bot=bot, target=bot, summary="timezone")
    url = reverse("console:operator_actions")

    html = operator_client.get(url + "?action=secret.rotate").content.decode()

    assert "没有符合这些筛选条件的操作员操作记录。" in html and f'href="{url}"' in html
    assert "尚无" not in html


def test_a_target_is_named_in_the_readers_language_and_time_zone_not_the_actors(
    operator_client, operator, bot, group, make_message
):
    """A message retried and a sync requested by a Chinese-speaking operator read in
    English for an English reader, the sync at its local time (the server's zone)."""
    message = make_message(group, direction="out", status="failed")
    with translation.override("zh-hans"):
        record_action(operator, "message.retry", bot=bot, target=message, summary="Retry.")
        run, _created = request_sync_by(operator, bot, SyncRun.Trigger.CONSOLE)
    url = reverse("console:operator_actions")
    local = timezone.localtime(run.requested_at, zoneinfo.ZoneInfo(settings.TIME_ZONE))

    chinese = strip_tags(operator_client.get(url).content.decode().split("<tbody>")[1])
    operator_client.post(reverse("set_language"), {"language": "en", "next": url})
    english = strip_tags(operator_client.get(url).content.decode().split("<tbody>")[1])

    assert f"消息 #{message.pk}" in chinese and f"发出 文本 {message.msgid}" in chinese
    assert f"Message #{message.pk}" in english and f"Outbound Text {message.msgid}" in english
    assert "发出" not in english and "文本" not in english
    assert f"Contact sync #{run.pk} acme {local:%Y-%m-%d %H:%M}" in english
    assert f"联系人同步 #{run.pk} acme {local:%Y-%m-%d %H:%M}" in chinese
    assert "pending" not in english and "Waiting for a worker" not in english


def test_an_entry_recorded_before_names_were_kept_in_parts_shows_its_stored_name(
    operator_client, operator, bot
):
    OperatorAction.objects.create(
        actor=operator,
        actor_label="alice",
        bot=bot,
        bot_label="acme",
        action="message.retry",
        target_type="messaging.message",
        target_id="9",
        target_label="发出 文本 0123abcd",
    )

    row = operator_client.get(reverse("console:operator_actions")).content.decode()

    assert "消息 #9 发出 文本 0123abcd" in strip_tags(row.split("<tbody>")[1])


def test_the_old_and_the_new_signing_secret_rotation_are_one_filter_entry_read_apart(
    operator_client, operator, bot
):
    """The filter listed "轮换了 Webhook 签名密钥" (the bot's one signing secret of earlier
    releases) beside "轮换了 Webhook 端点的签名密钥" (each endpoint's own, now): one entry
    finds both, and each row still says which it was."""
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/in")
    record_action(operator, "signing_secret.rotate", bot=bot, target=bot, summary="old")
    record_action(operator, "endpoint.rotate_signing_secret", bot=bot, target=endpoint)
    record_action(operator, "secret.rotate", bot=bot, target=bot)
    url = reverse("console:operator_actions")

    page = operator_client.get(url).content.decode()
    menu = page.split('name="action"')[1].split("</select>")[0]
    assert menu.count("签名密钥") == 1
    assert '<option value="endpoint.rotate_signing_secret">轮换了 Webhook 端点的签名密钥' in menu

    for asked in ("endpoint.rotate_signing_secret", "signing_secret.rotate"):  # an old link too
        rows = operator_client.get(url, {"action": asked}).content.decode().split("<tbody>")[1]
        assert strip_tags(rows).count("轮换了") == 2, asked
        assert "轮换了 Webhook 端点的签名密钥" in rows
        assert "轮换了机器人的 Webhook 签名密钥（旧版本）" in rows
        assert "轮换了密钥" not in rows


def test_long_names_in_the_audit_tables_end_in_an_ellipsis_with_the_whole_name_in_the_title(
    operator_client, operator, bot, group, make_message
):
    group.name = "华东区大客户售后服务与技术支持协调群（第二期）"
    group.save()
    make_message(group, direction="out")
    record_action(operator, "bot.update", bot=bot, target=bot, summary="timezone")

    outbound = operator_client.get(reverse("console:audit")).content.decode()
    actions = operator_client.get(reverse("console:operator_actions")).content.decode()

    assert f'class="cell-name" title="{group.name}"' in outbound
    assert f'<span class="cell-name" title="{bot.name}">{bot.name}</span>' in outbound
    assert f'<span class="cell-name" title="{bot.name}">{bot.name}</span>' in actions
    assert f'<span class="cell-name" title="{operator.username}">' in actions


def test_outcomes_of_connection_checks_and_test_events_are_said_alike_in_english_and_chinese(
    operator_client, operator, bot
):
    """In English a connection check read "succeeded" / "failed" beside a test event's
    "Failure · HTTP 500": both say Success / Failure, on the page and in the download."""
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    for ok in (True, False):
        record_action(operator, "bot.check_connection", bot=bot, target=bot, details={"ok": ok})
    record_action(operator, "endpoint.test", bot=bot, target=endpoint, summary="failure 500")
    page, csv_url = reverse("console:operator_actions"), reverse("console:operator_actions_csv")

    def descriptions() -> tuple[list[str], list[str]]:
        html = operator_client.get(page, {"bot": bot.pk}).content.decode()
        shown = re.findall(r'<td class="text-cell">([^<]*)</td>', html)
        download = b"".join(operator_client.get(csv_url, {"bot": bot.pk}).streaming_content)
        rows = csv.DictReader(io.StringIO(download.decode().removeprefix("\ufeff")))
        # The oldest three: the downloads are recorded too, newest first.
        return shown[-3:], [row["summary"] for row in rows][-3:]

    assert descriptions() == (["失败 · HTTP 500", "失败", "成功"],) * 2
    operator_client.cookies["django_language"] = "en"
    assert descriptions() == (["Failure · HTTP 500", "Failure", "Success"],) * 2
