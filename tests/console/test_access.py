"""Every console page needs a login and shows only the operator's own bots."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.urls import reverse

from console.views.scoping import visible_conversation_or_404
from conversations.services import bots_visible_to


def console_urls(bot, conversation):
    return [
        reverse("console:index"),
        reverse("console:conversations", args=[bot.pk]),
        reverse("console:history", args=[bot.pk, conversation.pk]),
        reverse("console:history_updates", args=[bot.pk, conversation.pk]),
        reverse("console:search") + "?q=x",
        reverse("console:audit"),
        reverse("console:audit_csv"),
        reverse("console:operator_actions"),
        reverse("console:dashboard"),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client, bot, group):
    for url in console_urls(bot, group):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("console:login")), url


def test_root_redirects_to_the_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:index")


def test_login_page_logs_an_operator_in_and_lands_on_their_conversations(
    client, operator, bot, group
):
    response = client.post(
        reverse("console:login"), {"username": "alice", "password": "pw-alice"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("console:conversations", args=[bot.pk])
    assert "销售群" in response.content.decode()


def test_wrong_password_explains_what_went_wrong(client, operator):
    response = client.post(reverse("console:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()


def test_a_form_sent_after_the_session_ended_comes_back_to_its_page_after_logging_in(
    client, operator, bot, group
):
    history = reverse("console:history", args=[bot.pk, group.pk])
    sent = client.post(
        reverse("console:reply", args=[bot.pk, group.pk]),
        {"content": "你好"},
        HTTP_REFERER=f"http://testserver{history}?before=12",
    )
    assert sent.status_code == 302
    login_page = client.get(sent["Location"])
    assert "登录已过期：没有保存任何内容。请重新登录。" in login_page.content.decode()

    logged_in = client.post(
        sent["Location"], {"username": "alice", "password": "pw-alice"}, follow=True
    )

    assert logged_in.redirect_chain[-1][0] == f"{history}?before=12"
    assert logged_in.status_code == 200  # the history page, not the reply URL's 405
    assert not group.messages.exists()


def test_a_form_posted_from_elsewhere_after_the_session_ended_leads_to_the_console(
    client, operator, bot, group
):
    sent = client.post(
        reverse("console:reply", args=[bot.pk, group.pk]),
        {"content": "你好"},
        HTTP_REFERER="https://elsewhere.example/console/bots/",
    )
    logged_in = client.post(
        sent["Location"], {"username": "alice", "password": "pw-alice"}, follow=True
    )
    assert logged_in.redirect_chain[-1][0] == reverse("console:conversations", args=[bot.pk])


@pytest.mark.parametrize(
    "name", ["conversations", "history", "history_updates", "reply", "dashboard"]
)
def test_pages_of_another_operators_bot_answer_404(operator_client, other_bot, other_group, name):
    urls = {
        "conversations": reverse("console:conversations", args=[other_bot.pk]),
        "history": reverse("console:history", args=[other_bot.pk, other_group.pk]),
        "history_updates": reverse("console:history_updates", args=[other_bot.pk, other_group.pk]),
        "reply": reverse("console:reply", args=[other_bot.pk, other_group.pk]),
        "dashboard": reverse("console:dashboard") + f"?bot={other_bot.pk}",
    }
    if name == "reply":
        response = operator_client.post(urls[name], {"content": "hi"})
    else:
        response = operator_client.get(urls[name])
    assert response.status_code == 404


def test_a_conversation_is_only_reachable_under_its_own_bot(operator_client, bot, other_group):
    url = reverse("console:history", args=[bot.pk, other_group.pk])
    assert operator_client.get(url).status_code == 404


def test_a_user_without_bots_who_may_create_one_is_invited_to(client, make_operator, bot):
    client.force_login(make_operator("bob"))  # holds add_bot, like every permission
    response = client.get(reverse("console:index"))
    assert response.status_code == 200
    assert "你还没有操作任何机器人。创建一个" in response.content.decode()
    assert bot.name not in response.content.decode()


def test_superuser_sees_every_bot(client, superuser, bot, other_bot, other_group):
    client.force_login(superuser)
    response = client.get(reverse("console:history", args=[other_bot.pk, other_group.pk]))
    assert response.status_code == 200


def test_admin_links_back_to_the_console(client, superuser):
    client.force_login(superuser)
    response = client.get(reverse("admin:index"))
    assert 'href="/console/"' in response.content.decode()


def test_conversation_lookup_follows_the_bot_visibility_rule_for_every_kind_of_user(
    make_operator, superuser, bot, other_bot, group, other_group
):
    inactive = make_operator("carol", bot)
    inactive.is_active = False
    inactive.save()
    users = [
        make_operator("alice", bot),
        make_operator("dave", bot, other_bot),
        make_operator("bob"),
        inactive,
        superuser,
        AnonymousUser(),
    ]
    for user in users:
        visible = set(bots_visible_to(user))
        for bot_id in (bot.pk, other_bot.pk):
            for conversation in (group, other_group):
                expected = conversation.bot_id == bot_id and conversation.bot in visible
                try:
                    found = visible_conversation_or_404(user, bot_id, conversation.pk)
                except Http404:
                    found = None
                assert (found is not None) == expected, (user, bot_id, conversation)
                if found:
                    assert found == (conversation.bot, conversation)
