"""The bot page's forms: connector settings, sending, operators, conversations by hand,
and creating a bot — who may post them, what they store, and bad input refused."""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import OperatorAction
from connectors.registry import CONNECTORS
from console.bot_forms import connector_settings_form, settings_values
from conversations.bot_changes import change_connector_settings
from conversations.models import Bot, Conversation, SyncRun
from conversations.pauses import pause_bot
from conversations.services import rotate_secret
from tests.db_faults import changed_while_waited_for, fails_to_record
from tests.html_forms import submitted_form
from tests.meanwhile import before_saving
from tests.outbound import Names

NUL = "\x00"


@pytest.fixture
def plain_operator(make_operator, bot):
    user = make_operator("olga", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    return user


def connector_post(client, bot, **values):
    data = {f"settings-{name}": value for name, value in values.items()}
    return client.post(reverse("console:bot_connector", args=[bot.pk]), data)


def test_a_bot_admin_changes_the_agent_url_and_an_empty_token_keeps_the_old(operator_client, bot):
    token = bot.agent_token
    response = connector_post(
        operator_client, bot, agent_url="http://10.1.2.3:8080", agent_token=""
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.1.2.3:8080" and bot.agent_token == token
    action = OperatorAction.objects.get(action="bot.update", bot=bot)
    assert action.summary == "agent_url" and token not in str(action.details)


def test_the_agent_url_is_shown_masked_and_saving_it_unchanged_keeps_its_password(
    operator_client, bot
):
    bot.agent_url = "http://agent:AGENT-pw@10.0.0.5:7600"
    bot.save()
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    form = submitted_form(page, "connector-form")
    assert "AGENT-pw" not in page
    assert form["settings-agent_url"] == ["http://********@10.0.0.5:7600"]

    response = operator_client.post(reverse("console:bot_connector", args=[bot.pk]), {**form})

    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://agent:AGENT-pw@10.0.0.5:7600"
    assert not OperatorAction.objects.filter(action="bot.update").exists()


def test_an_agent_url_at_the_metadata_address_is_refused_and_a_private_one_taken(
    operator_client, bot, settings
):
    """An agent may be inside the company's network, never at a link-local address (the
    cloud's metadata service hands out credentials there)."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/role?x="

    refused = connector_post(operator_client, bot, agent_url=metadata, agent_token="")
    taken = connector_post(operator_client, bot, agent_url="http://10.1.2.3:8080", agent_token="")

    assert refused.status_code == 400
    assert "不允许此代理 URL：169.254.169.254 解析为 169.254.169.254" in refused.content.decode()
    assert taken.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.1.2.3:8080"


def test_an_agent_url_edited_around_its_masked_password_is_refused(operator_client, bot):
    """The stored password would go to an address typed without knowing it."""
    bot.agent_url = "http://agent:AGENT-pw@10.0.0.5:7600"
    bot.save()
    operator_client.cookies["django_language"] = "en"

    response = connector_post(
        operator_client, bot, agent_url="http://********@10.0.0.6:7600", agent_token=""
    )

    assert response.status_code == 400
    assert "still shows ******** in place of a password or key" in response.content.decode()
    bot.refresh_from_db()
    assert bot.agent_url == "http://agent:AGENT-pw@10.0.0.5:7600"


def test_an_operator_who_is_no_bot_admin_cannot_change_connector_settings(
    client, plain_operator, bot
):
    client.force_login(plain_operator)
    response = connector_post(client, bot, agent_url="http://10.1.2.3:8080", agent_token="")
    assert response.status_code == 403
    bot.refresh_from_db()
    assert bot.agent_url == "http://127.0.0.1:9"
    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert 'id="connector-form"' not in page and 'id="operator-form"' not in page
    assert 'id="sending-form"' in page  # quiet hours and pace stay theirs


@pytest.mark.parametrize(
    "values",
    [
        {"agent_url": f"http://agent{NUL}.internal", "agent_token": ""},
        {"agent_url": "ftp://agent.internal", "agent_token": ""},
        {"agent_url": "http://agent.internal", "agent_token": "short"},
        {"agent_url": "", "agent_token": ""},
    ],
)
def test_bad_connector_settings_are_refused_and_nothing_is_stored(operator_client, bot, values):
    response = connector_post(operator_client, bot, **values)
    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.agent_url == "http://127.0.0.1:9"


def test_quiet_hours_and_pace_are_saved(client, plain_operator, bot):
    client.force_login(plain_operator)
    response = client.post(
        reverse("console:bot_sending", args=[bot.pk]),
        {
            "is_active": "on",
            "rate_limit_per_minute": "12",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:30",
            "timezone": "Asia/Shanghai",
        },
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 12 and bot.timezone == "Asia/Shanghai"
    assert f"{bot.quiet_hours_start:%H:%M}-{bot.quiet_hours_end:%H:%M}" == "22:00-07:30"


def test_quiet_hours_that_start_and_end_at_the_same_time_are_refused_not_ignored(
    operator_client, bot
):
    """An operator typing 00:00 to 00:00 for "quiet all day" would find every message sent."""
    data = {"is_active": "on", "rate_limit_per_minute": "20"}
    quiet = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}
    response = operator_client.post(
        reverse("console:bot_sending", args=[bot.pk]), {**data, **quiet}
    )

    assert response.status_code == 400
    assert "免打扰时段的开始和结束是同一时间" in response.content.decode()
    bot.refresh_from_db()
    assert bot.quiet_hours_start is None and bot.quiet_hours_end is None


def test_sending_settings_keep_a_rotation_and_a_pause_made_while_they_were_saved(
    operator_client, bot
):
    leaked, rotated = bot.secret, []

    def rotate_and_pause():  # another process, between the view's read and its save
        rotated.append(rotate_secret(Bot.objects.get(pk=bot.pk), timedelta(0)).secret)
        pause_bot(bot.pk, "the agent refused the token", timezone.now())

    with before_saving(Bot, rotate_and_pause) as ran:
        response = operator_client.post(
            reverse("console:bot_sending", args=[bot.pk]),
            {"is_active": "on", "rate_limit_per_minute": "12"},
        )

    assert response.status_code == 302 and ran
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 12
    assert bot.secret == rotated[0] != leaked
    assert bot.paused_reason == "the agent refused the token"


def test_sending_settings_are_not_saved_without_their_audit_entry(operator_client, bot):
    with fails_to_record("bot.update"):
        operator_client.post(
            reverse("console:bot_sending", args=[bot.pk]),
            {"is_active": "on", "rate_limit_per_minute": "12"},
        )

    bot.refresh_from_db()
    assert bot.rate_limit_per_minute != 12


@pytest.mark.parametrize(
    "changes",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": NUL},
        {"timezone": "Factory"},  # in the zoneinfo database, but no place
        {"timezone": "localtime"},
        {"rate_limit_per_minute": "99999999999999999999"},
        {"quiet_hours_start": "22:00"},  # one end only
    ],
)
def test_bad_sending_settings_are_refused(operator_client, bot, changes):
    data = {"is_active": "on", "rate_limit_per_minute": "20", **changes}
    response = operator_client.post(reverse("console:bot_sending", args=[bot.pk]), data)
    assert response.status_code == 400
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 20 and bot.timezone == ""


def test_the_bots_time_zone_list_offers_places_utc_and_the_servers_not_pseudo_zones(
    operator_client, bot
):
    """As the announcements' list does: "localtime" and "Factory" are no place to be."""
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    form = submitted_form(page, "sending-form")

    assert form["timezone"] == [""]  # the server's
    for pseudo in ("localtime", "Factory", "Etc/GMT-8", "EST5EDT", "Zulu", "GMT"):
        assert f'<option value="{pseudo}"' not in page
    for place in ("UTC", "Asia/Shanghai", "America/New_York"):
        assert f'<option value="{place}"' in page


def test_a_bot_saved_with_a_pseudo_zone_keeps_it_when_its_sending_settings_are_saved(
    operator_client, bot
):
    """A bot set to Factory before the list hid it: saving its pace must not fail or
    drop the zone."""
    Bot.objects.filter(pk=bot.pk).update(timezone="Factory")
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    form = submitted_form(page, "sending-form")

    saved = operator_client.post(
        reverse("console:bot_sending", args=[bot.pk]), {**form, "rate_limit_per_minute": "7"}
    )

    assert form["timezone"] == ["Factory"]
    assert saved.status_code == 302
    bot.refresh_from_db()
    assert bot.rate_limit_per_minute == 7 and bot.timezone == "Factory"


def test_an_operator_without_change_rights_cannot_change_sending(client, make_operator, bot):
    viewer = make_operator("vera", bot)
    viewer.user_permissions.remove(
        *Permission.objects.filter(codename__in=["change_bot", "administer_bot"])
    )
    client.force_login(viewer)
    response = client.post(reverse("console:bot_sending", args=[bot.pk]), {"timezone": "UTC"})
    assert response.status_code == 403


def test_an_operator_without_change_rights_reads_the_pace_in_one_or_many(
    client, make_operator, bot
):
    viewer = make_operator("vera", bot)
    viewer.user_permissions.remove(
        *Permission.objects.filter(codename__in=["change_bot", "administer_bot"])
    )
    client.force_login(viewer)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = reverse("console:bot", args=[bot.pk])

    for pace, shown in ((1, "1 message per minute"), (20, "20 messages per minute")):
        type(bot).objects.filter(pk=bot.pk).update(rate_limit_per_minute=pace)
        assert f"<dd>{shown}</dd>" in client.get(page).content.decode()
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "<dd>每分钟 20 条消息</dd>" in client.get(page).content.decode()


def test_removing_an_operator_offers_to_rotate_the_secret(operator_client, bot, make_operator):
    bob = make_operator("bob", bot)
    response = operator_client.post(
        reverse("console:bot_operator_remove", args=[bot.pk, bob.pk]), follow=True
    )
    assert not bot.operators.filter(pk=bob.pk).exists()
    assert response.redirect_chain[-1][0].startswith(reverse("console:bot_rotate", args=[bot.pk]))
    assert 'id="rotate-form"' in response.content.decode()
    assert "bob" in response.content.decode()
    assert OperatorAction.objects.filter(action="bot.operator_remove", bot=bot).exists()


def test_adding_an_operator_by_username(operator_client, bot, make_operator):
    make_operator("carl")
    url = reverse("console:bot_operator_add", args=[bot.pk])
    assert operator_client.post(url, {"username": "carl"}).status_code == 302
    assert bot.operators.filter(username="carl").exists()
    assert operator_client.post(url, {"username": f"nobody{NUL}"}).status_code == 400


def test_adding_someone_already_an_operator_says_so(operator_client, bot, make_operator):
    """The button did nothing visible: no message, the list as it was."""
    make_operator("carl", bot)

    response = operator_client.post(
        reverse("console:bot_operator_add", args=[bot.pk]), {"username": "carl"}, follow=True
    )

    assert "carl 已经是操作员。" in response.content.decode()
    assert bot.operators.filter(username="carl").count() == 1


def test_a_superuser_adding_someone_without_an_account_is_shown_where_users_are_made(
    client, superuser, bot
):
    client.force_login(superuser)

    refused = client.post(reverse("console:bot_operator_add", args=[bot.pk]), {"username": "ghost"})

    html = refused.content.decode()
    assert refused.status_code == 400 and "没有使用此用户名的有效用户" in html
    help_text = html.split('id="new-user-help"')[1].split("</p>")[0]
    assert f'href="{reverse("admin:auth_user_add")}"' in help_text
    assert "超级用户无需列在这里，即可操作所有机器人" in html


def test_a_bot_admin_who_is_no_superuser_is_told_who_creates_users(operator_client, bot):
    html = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    help_text = html.split('id="new-user-help"')[1].split("</p>")[0]
    assert "由超级用户在管理后台创建" in help_text and "href" not in help_text
    assert 'id="superusers-note"' in html


@pytest.fixture
def robot_bot(make_bot, operator):
    bot = make_bot(name="robots", connector="wecom_robot", agent_url="", agent_token="")
    bot.operators.add(operator)
    return bot


def test_a_robot_bot_is_empty_until_a_group_is_added_by_hand(operator_client, robot_bot):
    page = operator_client.get(reverse("console:bot", args=[robot_bot.pk])).content.decode()
    assert 'id="sync-not-possible"' in page and 'id="conversation-form"' in page
    assert "还没有要检查的群聊" in page and 'id="sync-now"' not in page
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    data = {"name": "销售群", "conversation_id": "sales", "kind": "group", "robot_key": KEY}
    assert operator_client.post(url, data).status_code == 302
    group = Conversation.objects.get(bot=robot_bot, conversation_id="sales")
    assert group.robot_key == KEY
    again = operator_client.post(url, {**data, "name": "另一个"})
    assert again.status_code == 400  # the same conversation ID twice
    page = operator_client.get(reverse("console:bot", args=[robot_bot.pk])).content.decode()
    assert 'id="sync-not-possible"' not in page and "5b1f••••••••" in page
    assert 'id="sync-now"' in page  # now there is a key to check


KEY = "5b1f3c2a-9d4e-4f60-8a7b-0c1d2e3f4a5b"


def test_a_robots_webhook_address_pasted_as_its_key_keeps_the_key_alone(operator_client, robot_bot):
    """Pasting what WeCom shows, the whole …/send?key=… address, stored the address."""
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    address = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
    data = {"name": "销售群", "conversation_id": "sales", "kind": "group"}

    assert operator_client.post(url, {**data, "robot_key": f" {address} "}).status_code == 302
    assert Conversation.objects.get(bot=robot_bot).robot_key == KEY


@pytest.mark.parametrize(
    ("entered", "error"),
    [
        ("", "群机器人通过其密钥发消息"),
        ("k-123", "这不是机器人密钥"),
        (f"{KEY}0", "这不是机器人密钥"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?debug=1", "这个地址中没有密钥"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123", "这不是机器人密钥"),
    ],
)
def test_a_robot_group_needs_a_key_shaped_as_wecoms(operator_client, robot_bot, entered, error):
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    data = {"name": "销售群", "conversation_id": "sales", "kind": "group", "robot_key": entered}

    response = operator_client.post(url, data)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Conversation.objects.filter(bot=robot_bot).exists()


def test_a_robot_bot_offers_and_accepts_group_chats_only(operator_client, robot_bot):
    """A group robot posts into the group it was added to: a hand-added "user" was stored,
    listed under 群聊 in the guide and left out of announcements to all groups."""
    page = operator_client.get(reverse("console:bot", args=[robot_bot.pk])).content.decode()
    form = re.search(r'<form[^>]*id="conversation-form".*?</form>', page, re.S).group(0)
    kinds = re.search(r'<select name="kind".*?</select>', form, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', kinds) == ["group"]
    assert "selected" in kinds and ">群聊</option>" in kinds
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    data = {"name": "运维告警群", "conversation_id": "ops-alerts", "kind": "user", "robot_key": KEY}

    response = operator_client.post(url, data)

    assert response.status_code == 400
    assert not Conversation.objects.filter(bot=robot_bot).exists()
    assert "选择一个有效的选项" in response.content.decode()
    assert operator_client.post(url, {**data, "kind": "group"}).status_code == 302
    assert Conversation.objects.get(bot=robot_bot).kind == "group"


def test_a_bridge_bot_offers_no_hand_entered_conversations(operator_client, bot):
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert 'id="conversation-form"' not in page
    url = reverse("console:bot_conversation_add", args=[bot.pk])
    data = {"name": "x", "conversation_id": "x", "kind": "group"}
    assert operator_client.post(url, data).status_code == 404
    assert not Conversation.objects.filter(bot=bot).exists()


def test_a_conversation_with_a_nul_is_refused(operator_client, robot_bot):
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    data = {"name": "x", "conversation_id": f"x{NUL}", "kind": "group", "robot_key": f"k{NUL}"}
    assert operator_client.post(url, data).status_code == 400
    assert not Conversation.objects.filter(bot=robot_bot).exists()


def test_creating_a_bot_needs_the_permission(operator_client, plain_operator, client):
    assert operator_client.get(reverse("console:bot_create")).status_code == 200
    client.force_login(plain_operator)
    assert client.get(reverse("console:bot_create")).status_code == 403


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings: lower case, spaces to -, punctuation out."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_each_connector_tab_says_what_it_is_and_links_its_setup(operator_client, kind):
    connector = CONNECTORS[kind]

    page = operator_client.get(reverse("console:bot_create"), {"connector": kind})

    summary = page.content.decode().split('id="connector-summary"')[1].split("</p>")[0]
    with translation.override("en"):
        english = str(connector.summary)
    with translation.override("zh-hans"):
        assert str(connector.summary) in summary and str(connector.summary) != english
    link = re.search(r'href="(/console/docs/bots/)#([^"]+)"', summary)
    assert link and unquote(link.group(2)) == connector.docs_section
    bots_md = (Path(__file__).resolve().parents[2] / "docs" / "bots.md").read_text()
    assert connector.docs_section in _github_anchors(bots_md)
    # The section is there on the console's own page of docs/bots.md.
    guide = operator_client.get(link.group(1)).content.decode()
    assert f'id="{connector.docs_section}"' in guide


def test_a_created_bridge_bot_gets_a_generated_token_and_its_creator(operator_client, operator):
    response = operator_client.post(
        reverse("console:bot_create"),
        {"connector": "bridge", "name": "新桥", "settings-agent_url": "http://10.0.0.9:8080"},
    )
    assert response.status_code == 302
    bot = Bot.objects.get(name="新桥")
    assert len(bot.agent_token) >= 32 and list(bot.operators.all()) == [operator]


@pytest.mark.parametrize(
    "data",
    [
        {"connector": "bridge", "name": "acme", "settings-agent_url": "http://10.0.0.9"},  # taken
        {"connector": "bridge", "name": f"a{NUL}b", "settings-agent_url": "http://10.0.0.9"},
        {"connector": "bridge", "name": "x" * 101, "settings-agent_url": "http://10.0.0.9"},
        {"connector": "bridge", "name": "ok", "settings-agent_url": ""},
        {"connector": f"bridge{NUL}", "name": "ok", "settings-agent_url": ""},
    ],
)
def test_a_bad_new_bot_is_refused(operator_client, bot, data):
    count = Bot.objects.count()
    response = operator_client.post(reverse("console:bot_create"), data)
    assert response.status_code in (200, 400)
    assert Bot.objects.count() == count


def test_a_bot_admin_who_removes_themselves_lands_on_their_bot_list(operator_client, operator, bot):
    response = operator_client.post(
        reverse("console:bot_operator_remove", args=[bot.pk, operator.pk]), follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("console:bots")
    assert not bot.operators.exists()


def test_sending_settings_of_a_bot_whose_agent_is_now_outside_the_networks(
    operator_client, bot, settings
):
    """BOTADMIN_AGENT_NETWORKS set after the bot was made: its pace form says why it
    cannot be saved instead of failing."""
    settings.BOTADMIN_AGENT_NETWORKS = ["10.20.0.0/16"]
    response = operator_client.post(
        reverse("console:bot_sending", args=[bot.pk]),
        {"is_active": "on", "rate_limit_per_minute": "12"},
    )
    assert response.status_code == 400
    assert "BOTADMIN_AGENT_NETWORKS" in response.content.decode()


def test_the_apps_generated_secrets_say_generated_only_when_the_bot_is_created(
    operator_client, operator, app_bot
):
    """Editing read "generated when left empty. Leave empty to keep the current value."."""
    app_bot.operators.add(operator)

    def helps(language: str) -> tuple[str, str]:
        operator_client.cookies["django_language"] = language
        create = operator_client.get(reverse("console:bot_create") + "?connector=wecom_app")
        edit = operator_client.get(reverse("console:bot", args=[app_bot.pk]))
        return create.content.decode(), edit.content.decode()

    create, edit = helps("zh-hans")
    assert "中的 Token，两边须相同。留空则自动生成。" in create
    assert "（43 位字母和数字），两边须相同。留空则自动生成。" in create
    assert "中的 Token，两边须相同。留空则保留当前值。" in edit
    assert "（43 位字母和数字），两边须相同。留空则保留当前值。" in edit
    assert "自动生成" not in edit

    create, edit = helps("en")
    assert "设置API接收, the same here and there. Generated when left empty." in create
    assert "the same here and there. Leave empty to keep the current value." in edit
    assert "enerated" not in edit


def test_a_help_text_and_its_hint_read_as_two_sentences_in_both_languages(
    operator_client, operator, bot, app_bot
):
    """It read "Secret Leave empty to keep the current value."."""
    app_bot.operators.add(operator)

    def page(language: str, of: Bot) -> str:
        operator_client.cookies["django_language"] = language
        return operator_client.get(reverse("console:bot", args=[of.pk])).content.decode()

    assert "your WeCom client. Leave empty to keep the current value." in page("en", app_bot)
    assert "你的企业微信客户端。留空则保留当前值。" in page("zh-hans", app_bot)
    # A help text that is a sentence already gets no second full stop.
    assert (
        "Shared with the agent, at least 32 characters. Leave empty to keep the current value."
        in page("en", bot)
    )
    assert "与代理共享，至少 32 个字符。留空则保留当前值。" in page("zh-hans", bot)


def test_the_proxy_urls_help_offers_https_proxies_in_both_languages(
    operator_client, operator, app_bot
):
    """It showed http:// examples only, after https:// proxies were supported."""
    app_bot.operators.add(operator)

    def page(language: str) -> str:
        operator_client.cookies["django_language"] = language
        return operator_client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()

    assert "https://host:port for a proxy reached over TLS" in page("en")
    assert "通过 TLS 连接的代理写 https://主机:端口（其证书按系统和 certifi 的 CA 验证）" in page(
        "zh-hans"
    )


def test_an_app_bots_proxy_must_be_where_proxies_may_be_and_its_password_is_never_shown(
    operator_client, operator, app_bot, settings
):
    """Any bot admin may set the proxy: the server's BOTADMIN_OUTBOUND_PROXY_NETWORKS
    decides where it may point, and its password is write-only like the app secret."""
    app_bot.operators.add(operator)
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    password = "pw-9f8e7d6c"
    values = {
        "corp_id": "ww1436e0e65a779aee",
        "agent_id": "1000002",
        "proxy_url": "http://botadmin@127.0.0.1:3128",
        "proxy_password": password,
    }

    refused = connector_post(operator_client, app_bot, **values)
    assert refused.status_code == 400
    assert "BOTADMIN_OUTBOUND_PROXY_NETWORKS" in refused.content.decode()
    app_bot.refresh_from_db()
    assert app_bot.connector_settings["proxy_url"] == ""

    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    assert connector_post(operator_client, app_bot, **values).status_code == 302
    kept = connector_post(operator_client, app_bot, **values | {"proxy_password": ""})
    assert kept.status_code == 302
    app_bot.refresh_from_db()
    assert app_bot.connector_settings["proxy_password"] == password  # empty kept it
    page = operator_client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()
    assert "http://********@127.0.0.1:3128" in page and password not in page
    action = OperatorAction.objects.get(action="bot.update", bot=app_bot)
    assert {"proxy_url", "proxy_password"} <= set(action.details["changed"])
    assert password not in action.summary + str(action.details)


def test_the_robot_guide_says_how_many_groups_it_leaves_out_and_where_they_are(
    operator_client, robot_bot
):
    """It listed the first 100 groups and silently stopped."""
    page_url = reverse("console:bot", args=[robot_bot.pk])
    Conversation.objects.bulk_create(
        Conversation(bot=robot_bot, conversation_id=f"g{i:03d}", name=f"群{i:03d}", robot_key=KEY)
        for i in range(100)
    )
    full = operator_client.get(page_url).content.decode()
    Conversation.objects.bulk_create(
        Conversation(bot=robot_bot, conversation_id=f"g{i:03d}", robot_key=KEY)
        for i in range(100, 103)
    )

    more = operator_client.get(page_url).content.decode()

    assert 'id="more-groups"' not in full
    table = more.split('class="robot-keys"')[1].split("</table>")[0]
    assert table.count("<tr>") == 101  # the header and the first 100
    list_url = reverse("console:conversations", args=[robot_bot.pk])
    assert f'还有 3 个群聊：请在<a href="{list_url}">会话列表</a>中查看。' in more


def test_a_taken_bot_name_or_conversation_id_is_said_in_words_not_djangos_field_names(
    operator_client, bot, robot_bot
):
    create = operator_client.post(
        reverse("console:bot_create"),
        {"connector": "bridge", "name": "acme", "settings-agent_url": "http://10.0.0.9"},
    ).content.decode()
    url = reverse("console:bot_conversation_add", args=[robot_bot.pk])
    data = {"name": "销售群", "conversation_id": "sales", "kind": "group", "robot_key": KEY}
    operator_client.post(url, data)
    again = operator_client.post(url, {**data, "name": "另一个"}).content.decode()

    assert "已有名为 acme 的机器人：请换一个名称。" in create and "具有" not in create
    assert "这个机器人已有 ID 为 sales 的会话。" in again and "已经存在" not in again


@pytest.mark.parametrize("days", ["-5", "0"])
def test_retention_below_a_day_is_refused_with_the_same_minimum(operator_client, bot, days):
    """-5 said "≥ 0", and 0 then said "≥ 1"."""
    data = {"is_active": "on", "rate_limit_per_minute": "20", "message_retention_days": days}

    response = operator_client.post(reverse("console:bot_sending", args=[bot.pk]), data)

    html = response.content.decode()
    assert response.status_code == 400
    assert "确保该值大于或等于1。" in html and "大于或等于0" not in html
    assert re.search(r'<input[^>]*name="message_retention_days"[^>]*min="1"', html)


def test_english_labels_and_headers_are_capitalised(operator_client, bot):
    SyncRun.objects.create(bot=bot, trigger=SyncRun.Trigger.CONSOLE, outcome="succeeded")
    url = reverse("console:bot", args=[bot.pk])
    operator_client.post(reverse("set_language"), {"language": "en", "next": url})

    html = operator_client.get(url).content.decode()

    assert ">Agent URL</label>" in html and ">Time zone</label>" in html
    assert ">agent URL<" not in html and ">time zone<" not in html
    assert "<th>Requested</th><th>Trigger</th><th>Outcome</th>" in html
    assert "<dt>Agent URL</dt>" in html


@pytest.fixture
def one_label_names(monkeypatch):
    """`squid` and `agent`, names of one label as a Docker network gives its services,
    resolve to this host."""
    names = Names(monkeypatch)
    names.answer("squid", ["127.0.0.1"])
    names.answer("agent", ["127.0.0.1"])


def test_an_agent_and_a_proxy_named_by_one_label_are_taken(
    operator_client, operator, bot, app_bot, settings, one_label_names
):
    """`http://botadmin@squid:3128` was refused as "输入一个有效的 URL。" although the help
    text asks for http://host:port: Django's URL check wants a dot in the host name."""
    app_bot.operators.add(operator)
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    app = {"corp_id": "ww1436e0e65a779aee", "agent_id": "1000002"}

    proxy = connector_post(operator_client, app_bot, **app, proxy_url="http://botadmin@squid:3128")
    agent = connector_post(operator_client, bot, agent_url="http://agent:8080", agent_token="")

    assert proxy.status_code == 302 and agent.status_code == 302
    app_bot.refresh_from_db()
    bot.refresh_from_db()
    assert app_bot.connector_settings["proxy_url"] == "http://botadmin@squid:3128"
    assert bot.agent_url == "http://agent:8080"


@pytest.mark.parametrize(
    ("proxy_url", "error"),
    [
        # Where proxies may be is still the server's rule, whatever the name.
        ("http://squid:3128", "代理服务器只能位于 BOTADMIN_OUTBOUND_PROXY_NETWORKS"),
        # The reviewer's URL: now told what is wrong with it.
        ("http://user:pw@squid:3128", "请把代理服务器的密码填在单独的密码栏中"),
        ("http://1234:3128", "输入一个有效的 URL。"),  # a number is no host name
    ],
)
def test_a_proxy_named_by_one_label_is_still_checked(
    operator_client, operator, app_bot, settings, one_label_names, proxy_url, error
):
    app_bot.operators.add(operator)
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["10.0.0.0/8"]
    app = {"corp_id": "ww1436e0e65a779aee", "agent_id": "1000002"}

    refused = connector_post(operator_client, app_bot, **app, proxy_url=proxy_url)

    assert refused.status_code == 400
    assert error in refused.content.decode()
    app_bot.refresh_from_db()
    assert app_bot.connector_settings["proxy_url"] == ""


def test_the_bots_on_off_switch_is_called_enabled_and_says_what_off_does(operator_client, bot):
    """It read "有效" ("active"), which says nothing of what unticking it does."""
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    sending = page.split('id="sending-form"')[1].split("</form>")[0]

    assert '<label for="id_is_active">启用</label>' in sending
    assert "关闭后，此机器人不发送任何消息，其 API 也拒绝新消息。" in sending
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert '<label for="id_is_active">Enabled</label>' in english


def test_a_sending_form_saves_only_what_its_page_changed_not_what_another_tab_did(
    operator_client, bot
):
    page = reverse("console:bot", args=[bot.pk])
    first_tab = submitted_form(operator_client.get(page).content.decode(), "sending-form")
    second_tab = submitted_form(operator_client.get(page).content.decode(), "sending-form")
    turned_off = {name: value for name, value in first_tab.items() if name != "is_active"}
    assert first_tab["is_active"] == ["on"]

    operator_client.post(reverse("console:bot_sending", args=[bot.pk]), turned_off)
    operator_client.post(
        reverse("console:bot_sending", args=[bot.pk]),
        {**second_tab, "rate_limit_per_minute": "7"},
    )

    bot.refresh_from_db()
    assert not bot.is_active  # the first tab turned it off; the second did not touch it
    assert bot.rate_limit_per_minute == 7


def test_a_stale_connector_settings_page_saves_only_what_it_changed(operator_client, bot):
    """Two tabs on one bot: a new agent token typed in the second undid the agent URL
    saved from the first with the URL it still showed."""
    page = reverse("console:bot", args=[bot.pk])
    first = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    second = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    saved = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {**first, "settings-agent_url": "http://10.1.2.3:8080"},
    )

    response = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {**second, "settings-agent_token": "new-token-" + "x" * 30},
    )

    assert saved.status_code == response.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.1.2.3:8080"
    assert bot.agent_token == "new-token-" + "x" * 30


def test_an_empty_token_keeps_the_token_stored_when_the_row_is_locked_not_when_read(
    operator_client, bot, operator
):
    """An empty secret keeps the stored one: the one stored when the save locks the bot,
    not the one its request read before. Another bot admin's new agent token, saved in
    between (and already given to the agent), is not put back to the old one."""
    connector = CONNECTORS[bot.connector]
    data = {"settings-agent_url": "http://10.1.2.3:8080", "settings-agent_token": ""}
    form = connector_settings_form(connector, Bot.objects.get(pk=bot.pk), data)
    assert form.is_valid(), form.errors
    new_token = "new-token-" + "x" * 30
    change_connector_settings(Bot.objects.get(pk=bot.pk), {"agent_token": new_token}, operator)

    changed = change_connector_settings(bot, settings_values(form), operator)

    assert changed == ["agent_url"]
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.1.2.3:8080"
    assert bot.agent_token == new_token
    assert OperatorAction.objects.filter(action="bot.update").count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row lock: PostgreSQL's")
def test_an_empty_token_posted_while_another_admin_saves_a_new_one_keeps_the_new_one(
    transactional_db, operator_client, bot, operator
):
    """The race itself, on two connections: the page's request reads the bot, then waits
    for the row lock another admin's save holds; that save's new token must survive."""
    new_token = "new-token-" + "x" * 30

    def new_agent_token(other):  # another admin, while the page's request waits for the row
        change_connector_settings(other, {"agent_token": new_token}, operator)

    with changed_while_waited_for(Bot, bot.pk, new_agent_token):
        response = connector_post(
            operator_client, bot, agent_url="http://10.1.2.3:8080", agent_token=""
        )

    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.1.2.3:8080"
    assert bot.agent_token == new_token


def test_a_stale_connector_settings_page_keeps_a_masked_agent_url_changed_since(
    operator_client, bot
):
    bot.agent_url = "http://agent:OLD-pw@10.0.0.5:7600"
    bot.save()
    page = reverse("console:bot", args=[bot.pk])
    stale = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    bot.agent_url = "http://agent:NEW-pw@10.0.0.6:7600"  # by another operator
    bot.save()

    html = operator_client.get(page).content.decode()
    response = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {**stale, "settings-agent_token": "new-token-" + "x" * 30},
    )

    assert "NEW-pw" not in html
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://agent:NEW-pw@10.0.0.6:7600"
    assert bot.agent_token == "new-token-" + "x" * 30


def test_the_app_forms_mini_program_help_names_wecoms_menu_once_in_chinese(operator_client):
    """It read "应用已关联小程序（关联小程序）时勾选": the English's gloss of WeCom's term,
    kept beside the same words."""
    operator_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})

    page = operator_client.get(reverse("console:bot_create") + "?connector=wecom_app")

    assert "“关联小程序”" in page.content.decode()
    assert "已关联小程序（关联小程序）" not in page.content.decode()
