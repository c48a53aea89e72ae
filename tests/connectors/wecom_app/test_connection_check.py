"""The connection test of an app bot: agent/get checks the secret and the AgentId at once,
and says whether the app is enabled and whom it sees, in the operator's language."""

import json

import pytest
from django.urls import reverse
from django.utils import translation

from conversations.models import Bot
from conversations.services import check_connection

from .conftest import AGENT_ID


@pytest.fixture
def operator_client(client, make_operator, app_bot):
    client.force_login(make_operator("hr", app_bot))
    return client


def test_the_test_asks_agent_get_for_the_bots_agent_id_and_says_whom_the_app_sees(
    app_api, app_bot, superuser
):
    app_api.visible_departments, app_api.visible_users = [1], ["zhangsan", "lisi"]

    ok, text = check_connection(app_bot, superuser)

    assert ok, text
    asked = [json.loads(query) for api, query, _ in app_api.requests if api == "agent/get"]
    assert [query["agentid"] for query in asked] == [str(AGENT_ID)]
    with translation.override("zh-hans"):
        assert "已启用" in text.translated()
        assert "1 个部门、2 名成员" in text.translated()


def connection_test_page(client, bot) -> str:
    answer = client.post(reverse("console:bot_test", args=[bot.pk]), follow=True)
    return answer.content.decode()


def with_settings(bot, **changes) -> None:
    Bot.objects.filter(pk=bot.pk).update(connector_settings=dict(bot.connector_settings, **changes))


def test_a_wrong_agent_id_fails_the_test_saying_so_in_the_operators_language(
    app_api, app_bot, operator_client
):
    with_settings(app_bot, agent_id="1000003")

    page = connection_test_page(operator_client, app_bot)

    assert "上次测试：失败" in page and "1000003" in page and "40056" in page
    assert "AgentId" in page and "请在机器人的连接器设置中更正" in page


def test_a_disabled_app_fails_the_test(app_api, app_bot, operator_client):
    app_api.app_closed = True

    page = connection_test_page(operator_client, app_bot)

    assert "上次测试：失败" in page and "已在企业微信管理后台停用" in page


def test_an_app_wecom_answers_50003_for_fails_the_test_saying_it_is_disabled(
    app_api, app_bot, operator_client
):
    app_api.answer_next("agent/get", 50003)

    page = connection_test_page(operator_client, app_bot)

    assert "上次测试：失败" in page and "已停用（50003" in page and "启用该应用" in page


def test_an_untrusted_ip_fails_the_test_naming_the_ip_to_add(app_api, app_bot, operator_client):
    app_api.answer_next("agent/get", 60020)

    page = connection_test_page(operator_client, app_bot)

    assert "上次测试：失败" in page and "127.0.0.1" in page and "企业可信IP" in page


def test_a_wrong_secret_fails_the_test_in_the_operators_language(app_api, app_bot, operator_client):
    with_settings(app_bot, app_secret="wrong-secret-value")

    page = connection_test_page(operator_client, app_bot)

    assert "上次测试：失败" in page and "企业微信拒绝了企业ID或应用 Secret" in page
    assert "wrong-secret-value" not in page
