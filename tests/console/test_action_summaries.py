"""The audit page's description of an operator action is said in the reader's language,
from the entry's code and details, with plurals; an entry recorded before the details
held what it says is read from its stored English summary's pattern, and an entry of a
code nothing words shows that summary as it is. No stored English in a tooltip."""

import re

from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from audit.services import record_action
from botadmin.reasons import Reason
from connectors.bridge_answers import TOKEN_REFUSED
from conversations.bot_changes import add_conversation, create_bot, request_sync_by
from conversations.models import Conversation
from conversations.pauses import pause_bot, resume_bot
from messaging.delivery_actions import retry_now

URL = reverse("console:operator_actions")
ROW = re.compile(
    r'<td class="nowrap" title="(?P<code>[^"]+)">[^<]*</td>.*?<td class="text-cell">(?P<said>[^<]*)</td>',
    re.DOTALL,
)


def descriptions(client, language: str) -> list[tuple[str, str]]:
    """(code, description) of each row, newest first, read in `language`."""
    client.cookies["django_language"] = language
    return [(m["code"], m["said"]) for m in ROW.finditer(client.get(URL).content.decode())]


def said(client, language: str, code: str) -> str:
    return dict(descriptions(client, language))[code]


def test_what_the_services_record_is_said_in_either_language(
    superuser, client, bot, make_message, make_conversation
):
    client.force_login(superuser)
    create_bot(superuser, "通知机器人", "wecom_robot", {})
    add_conversation(
        Conversation(bot=bot, conversation_id="wrNew", name="新群", kind="group"), superuser
    )
    retry_now(
        make_message(make_conversation(bot, "wrOld"), direction="out", status="failed"), superuser
    )
    request_sync_by(superuser, bot, "console")
    request_sync_by(superuser, bot, "console")  # joins the one still requested
    pause_bot(bot.pk, Reason(TOKEN_REFUSED, status=401), timezone.now())
    bot.refresh_from_db()
    resume_bot(bot, superuser)

    chinese = dict(descriptions(client, "zh-hans"))
    assert chinese["bot.create"] == "企业微信群机器人"
    assert chinese["conversation.add"] == "群聊"
    assert chinese["message.retry"] == "原状态：失败"
    assert chinese["bot.resume_sending"].startswith(
        "暂停原因：代理拒绝了 botadmin 的令牌（HTTP 401）"
    )
    assert [
        words for code, words in descriptions(client, "zh-hans") if code == "contacts.sync"
    ] == [
        "加入了正在进行的联系人同步",
        "",
    ]

    english = dict(descriptions(client, "en"))
    assert english["bot.create"] == "WeCom group robot"
    assert english["conversation.add"] == "Group"
    assert english["message.retry"] == "status before: Failed"
    assert english["bot.resume_sending"].startswith(
        "paused because: the agent refused botadmin&#x27;s token (HTTP 401)"
    )
    assert [words for code, words in descriptions(client, "en") if code == "contacts.sync"] == [
        "joined the sync already running",
        "",
    ]


def test_counts_are_said_with_their_plural(superuser, client, bot, group):
    client.force_login(superuser)
    for members in (["zhangsan"], ["zhangsan", "lisi"]):
        record_action(
            superuser,
            "group_chat.create",
            bot=bot,
            target=group,
            summary=f"Group chat '项目群' created with {len(members)} members.",
            details={"chatid": "wrX", "owner": "zhangsan", "members": members},
        )

    assert [s for c, s in descriptions(client, "en") if c == "group_chat.create"] == [
        "2 members",
        "1 member",
    ]
    assert [s for c, s in descriptions(client, "zh-hans") if c == "group_chat.create"] == [
        "2 名成员",
        "1 名成员",
    ]


def test_entries_recorded_with_an_english_summary_alone_are_read_by_its_pattern(
    superuser, client, bot, group, make_message
):
    """Rows of earlier releases: no details, the English sentence only."""
    client.force_login(superuser)
    message = make_message(group, direction="in", msgtype="image")
    old = {
        "bot.create": "Created the WeCom group robot bot 通知 from the command line.",
        "conversation.add": f"Added the group {group} by hand.",
        "media.fetch_again": f"Fetched the image of message {message.pk} again.",
        "bot.resume_sending": "Resumed sending (paused because: this connector cannot test its connection).",
        "secret.rotate": "Rotated the API secret (grace 24 h) in the admin.",
        "contacts.sync": "Contact sync from the command line.",
        "endpoint.create": "Added https://hooks.example/in",
    }
    for code, summary in old.items():
        OperatorAction.objects.create(actor=superuser, bot=bot, action=code, summary=summary)

    chinese = dict(descriptions(client, "zh-hans"))
    assert chinese == {
        "bot.create": "企业微信群机器人 · 经命令行",
        "conversation.add": "群聊",
        "media.fetch_again": "图片",
        "bot.resume_sending": "暂停原因：此连接器无法测试连接",
        "secret.rotate": "旧密钥继续有效 24 小时 · 经管理后台",
        "contacts.sync": "经命令行",
        "endpoint.create": "https://hooks.example/in",
    }
    english = dict(descriptions(client, "en"))
    assert english["bot.create"] == "WeCom group robot · via the command line"
    assert english["bot.resume_sending"] == (
        "paused because: this connector cannot test its connection"
    )


def test_a_new_bots_entry_names_its_connector_once_and_reads_in_either_language(superuser, client):
    """The entry said "Created the WeCom AI bot bot …"; entries stored in that wording
    and in today's, without the details that name the connector, read alike."""
    client.force_login(superuser)
    created = create_bot(superuser, "助手", "wecom_aibot", {"bot_id": "aib1", "bot_secret": "s"})
    entry = OperatorAction.objects.get(action="bot.create", bot=created)
    assert entry.summary == "Created the bot 助手 (WeCom AI bot)."
    for summary in (
        "Created the WeCom AI bot bot 旧助手 (test) from the command line.",  # before
        "Created the bot 新助手 (test) (WeCom AI bot) from the command line.",  # now
    ):
        OperatorAction.objects.create(actor=superuser, action="bot.create", summary=summary)
    entry.details = {}
    entry.save()

    assert [s for c, s in descriptions(client, "zh-hans") if c == "bot.create"] == [
        "企业微信智能机器人 · 经命令行",
        "企业微信智能机器人 · 经命令行",
        "企业微信智能机器人",
    ]
    assert [s for c, s in descriptions(client, "en") if c == "bot.create"] == [
        "WeCom AI bot · via the command line",
        "WeCom AI bot · via the command line",
        "WeCom AI bot",
    ]


def test_a_code_nothing_words_shows_its_stored_summary_and_no_english_is_a_tooltip(
    superuser, client, bot
):
    client.force_login(superuser)
    OperatorAction.objects.create(
        actor=superuser, bot=bot, action="bot.frobnicate", summary="Frobbed it."
    )
    record_action(superuser, "message.mark_sent", bot=bot, summary="Marked 20261207-abc as sent.")

    page = client.get(URL).content.decode()

    assert dict(descriptions(client, "zh-hans")) == {
        "message.mark_sent": "",  # 标记为已发送: the operation's words say it all
        "bot.frobnicate": "Frobbed it.",
    }
    assert "Marked 20261207-abc as sent." not in page
