"""The console's setup page of an app bot: what to paste into WeCom, the last checks, a test message."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import OperatorAction
from conversations.models import Bot, Conversation
from messaging.models import Message

from .conftest import AES_KEY, TOKEN
from .test_callback import _url_check, wecom


@pytest.fixture
def operator(make_operator, app_bot, client):
    user = make_operator("hr", app_bot)
    client.force_login(user)
    return user


def page(client, bot):
    return client.get(reverse("console:app_setup", args=[bot.pk]))


def test_the_page_shows_the_callback_url_and_masks_the_token_and_key(
    client, operator, app_bot, settings
):
    settings.BOTADMIN_PUBLIC_URL = "https://bots.example.com"

    html = page(client, app_bot).content.decode()

    assert f"https://bots.example.com/api/wecom_app/{app_bot.pk}/callback" in html
    assert TOKEN not in html and AES_KEY not in html  # not even in the page source
    assert TOKEN[:4] in html and AES_KEY[:4] in html
    for which in ("callback_token", "encoding_aes_key"):
        assert f'data-reveal-url="{reveal_url(app_bot, which)}"' in html
    assert "csrfmiddlewaretoken" in html and "botadmin/reveal.js" in html


def reveal_url(bot, which):
    return reverse("console:bot_reveal", args=[bot.pk, which])


@pytest.mark.parametrize(
    ("which", "value"), [("callback_token", TOKEN), ("encoding_aes_key", AES_KEY)]
)
def test_a_bot_admin_reveals_the_token_or_key_and_it_is_audited(
    client, operator, app_bot, which, value
):
    answer = client.post(reveal_url(app_bot, which))

    assert answer.json() == {"value": value}  # the button then copies it (reveal.js)
    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.bot == app_bot and entry.actor == operator
    assert entry.details == {"secret": which, "via": "console"}
    assert value not in f"{entry.summary} {entry.details}"


def test_the_token_is_refused_to_an_operator_who_is_no_bot_admin_and_to_others(
    client, make_operator, make_bot, app_bot
):
    user = make_operator("viewer", app_bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)
    assert client.post(reveal_url(app_bot, "callback_token")).status_code == 403

    client.force_login(make_operator("stranger", make_bot(name="elsewhere")))
    assert client.post(reveal_url(app_bot, "callback_token")).status_code == 404
    assert client.get(reveal_url(app_bot, "callback_token")).status_code in (404, 405)
    assert not OperatorAction.objects.filter(action="secret.reveal").exists()


def test_the_connector_form_never_fills_in_the_token_or_key(client, operator, app_bot):
    html = client.get(reverse("console:bot", args=[app_bot.pk])).content.decode()

    assert 'id="connector-form"' in html
    assert TOKEN not in html and AES_KEY not in html


def test_the_conversation_list_links_to_it(client, operator, app_bot):
    html = client.get(reverse("console:conversations", args=[app_bot.pk])).content.decode()

    assert reverse("console:app_setup", args=[app_bot.pk]) in html


def test_the_last_url_check_is_shown_after_wecom_sent_it(client, operator, app_bot):
    # The console speaks Simplified Chinese unless the operator chose English.
    assert 'id="url-check-status">尚未收到' in page(client, app_bot).content.decode()

    client.get(reverse("wecom_app_callback", args=[app_bot.pk]), _url_check(app_bot, wecom()))

    html = page(client, app_bot).content.decode()
    assert 'id="url-check-status">通过' in html


def test_send_a_test_message_to_me_queues_a_text_to_that_member(client, operator, app_bot, member):
    response = client.post(
        reverse("console:app_setup", args=[app_bot.pk]), {"action": "test", "userid": "zhangsan"}
    )

    assert response.status_code == 302
    message = Message.objects.get(direction="out")
    assert message.conversation == member and message.msgtype == "text"


def test_a_test_message_posted_twice_from_the_page_is_queued_once(
    client, operator, app_bot, member
):
    html = page(client, app_bot).content.decode()
    test_form = html[html.index('value="test"') :]
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', test_form)[1]
    data = {"action": "test", "userid": "zhangsan", "submission": submission}
    url = reverse("console:app_setup", args=[app_bot.pk])

    assert client.post(url, data).status_code == client.post(url, data).status_code == 302

    assert Message.objects.filter(direction="out").count() == 1


def test_a_paused_bot_shows_the_trusted_ip_hint(client, operator, app_bot):
    Bot.objects.filter(pk=app_bot.pk).update(
        paused_reason="WeCom refuses calls from 203.0.113.9 (60020): add it to 企业可信IP"
    )

    html = page(client, app_bot).content.decode()

    assert "203.0.113.9" in html and "企业可信IP" in html


def test_creating_an_app_chat_from_the_page(client, operator, app_api, app_bot):
    client.post(
        reverse("console:app_setup", args=[app_bot.pk]),
        {"action": "chat", "name": "项目群", "owner": "zhangsan", "members": "lisi"},
    )

    assert Conversation.objects.get(bot=app_bot, kind="group").name == "项目群"


def test_a_chat_posted_twice_from_the_page_is_created_once(client, operator, app_api, app_bot):
    html = page(client, app_bot).content.decode()
    chat_form = html[html.index('value="chat"') :]
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', chat_form)[1]
    data = {"action": "chat", "name": "项目群", "owner": "zhangsan", "members": "lisi"}
    data["submission"] = submission
    url = reverse("console:app_setup", args=[app_bot.pk])
    client.cookies["django_language"] = "en"

    first = client.post(url, data, follow=True).content.decode()
    Conversation.objects.all().delete()  # as if the first post were still recording it
    second = client.post(url, data, follow=True).content.decode()
    third = client.post(url, data, follow=True).content.decode()

    assert len(app_api.chats) == 1
    chat = Conversation.objects.get(bot=app_bot, kind="group")
    assert chat.conversation_id in app_api.chats and chat.name == "项目群"
    assert "Chat 项目群 created" in first
    assert "Chat 项目群 was already created from this page: it was created once." in second
    assert "was already created from this page" in third
    assert OperatorAction.objects.filter(action="group_chat.create").count() == 1


def test_a_chat_refused_before_wecom_is_asked_says_why_in_the_operators_language(
    client, operator, app_bot
):
    """The reason was an English f-string on the Chinese page."""
    chat = {"action": "chat", "name": "小群", "owner": "zhangsan", "members": "zhangsan"}
    url = reverse("console:app_setup", args=[app_bot.pk])

    chinese = client.post(url, chat, follow=True).content.decode()
    client.cookies["django_language"] = "en"
    english = client.post(url, chat, follow=True).content.decode()

    assert "群聊未创建：群聊需要 2 到 2000 名成员" in chinese
    assert "The chat was not created: a group chat needs 2 to 2000 members" in english
    assert not Conversation.objects.filter(kind="group").exists()


def test_an_operator_who_is_no_bot_admin_is_refused(client, make_operator, app_bot):
    user = make_operator("viewer", app_bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)

    assert page(client, app_bot).status_code == 403


def test_a_bot_of_another_connector_has_no_setup_page(client, superuser, bot):
    client.force_login(superuser)

    assert page(client, bot).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {"action": "test", "userid": "zhang\x00san"},
        {"action": "test", "userid": "x" * 10_000},
        {"action": "test"},
        {"action": "chat", "name": "a\x00", "owner": "zhangsan", "members": "lisi"},
        {"action": "chat", "name": "n", "owner": "zhangsan", "members": "li\x00si"},
        {"action": "chat", "name": "n", "owner": "", "members": ""},
        {"action": "nonsense"},
    ],
)
def test_a_bad_post_on_the_setup_page_stores_nothing(client, operator, app_api, app_bot, data):
    response = client.post(reverse("console:app_setup", args=[app_bot.pk]), data)

    assert response.status_code == 200
    assert not Message.objects.exists()
    assert not Conversation.objects.filter(kind="group").exists()


@pytest.mark.parametrize(
    ("language", "said"),
    [("zh-hans", "还没有应用群聊：请在下方创建。"), ("en", "No app chat yet: create one below.")],
)
def test_the_app_chats_say_when_there_is_none_yet(client, operator, app_bot, language, said):
    """The section said "these are the ones created here" over an empty space."""
    client.cookies["django_language"] = language

    html = page(client, app_bot).content.decode()

    assert f'<p class="muted" id="no-app-chats">{said}</p>' in html
