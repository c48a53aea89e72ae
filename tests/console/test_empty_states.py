"""An empty list says what would fill it and what to do, in the reader's language; a
filtered one that nothing matches says so, with the way back to all."""

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from forwarding.models import WebhookEndpoint

SAID = {
    "zh-hans": {
        "deliveries": "尚无投递：机器人收到的每条消息都会转发到这里。",
        "filtered": "没有此状态的投递。",
        "announcements": "尚无公告：点击“新建公告”",
    },
    "en": {
        "deliveries": "No delivery yet: each message the bot receives is forwarded here.",
        "filtered": "No delivery with this status.",
        "announcements": "No announcements yet: “New announcement” sends one message",
    },
}


def _part(html: str, element_id: str) -> str:
    return strip_tags(html.split(f'id="{element_id}">')[1].split("</div>")[0])


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_endpoint_without_deliveries_says_what_comes_there(operator_client, bot, language):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    operator_client.cookies["django_language"] = language
    url = reverse("console:webhook", args=[bot.pk, endpoint.pk])

    everything = operator_client.get(url).content.decode()
    failed = operator_client.get(url, {"status": "failed"}).content.decode()

    assert SAID[language]["deliveries"] in _part(everything, "no-deliveries")
    assert SAID[language]["filtered"] in _part(failed, "no-deliveries")
    assert '<a href="?">' in failed.split('id="no-deliveries"')[1].split("</div>")[0]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_announcement_yet_says_what_one_is_for(operator_client, bot, language):
    operator_client.cookies["django_language"] = language

    html = operator_client.get(reverse("announcements:list")).content.decode()

    assert SAID[language]["announcements"] in _part(html, "no-announcements")


@pytest.mark.parametrize(
    ("language", "for_admin", "for_operator"),
    [
        (
            "zh-hans",
            "还没有群聊：请在下方连同机器人密钥一起添加。",
            "还没有群聊：由机器人管理员连同机器人密钥逐个添加。",
        ),
        (
            "en",
            "No group yet: add one with its robot key below.",
            "No group yet: a bot admin adds each one with its robot key.",
        ),
    ],
)
def test_a_group_robot_without_groups_says_who_adds_them(
    client, make_bot, make_operator, language, for_admin, for_operator
):
    """It said "add one … below" in an empty table wider than a phone, also to an operator
    who has no form below."""
    from django.contrib.auth.models import Permission

    robot = make_bot(name="robot", connector="wecom_robot", agent_url="", agent_token="")
    admin = make_operator("anna", robot)
    operator = make_operator("olga", robot)
    operator.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.cookies["django_language"] = language
    url = reverse("console:bot", args=[robot.pk])

    client.force_login(admin)
    admins = client.get(url).content.decode()
    client.force_login(operator)
    operators = client.get(url).content.decode()

    assert f'<p class="muted" id="no-groups">{for_admin}</p>' in admins
    assert f'<p class="muted" id="no-groups">{for_operator}</p>' in operators
    assert 'class="robot-keys"' not in admins + operators
