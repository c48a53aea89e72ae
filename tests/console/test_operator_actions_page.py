"""The operator actions tab speaks the operator's language: operations in words,
filtered by a choice, targets by their names, no stored English summary shown."""

from django.urls import reverse

from audit.services import record_action


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
