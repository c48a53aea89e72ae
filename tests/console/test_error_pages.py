"""Error pages speak the operator's language in the console's layout, not Django's bare pages."""

from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import server_error


def _html(response) -> str:
    return response.content.decode()


def test_a_page_that_does_not_exist_says_so_in_chinese_in_the_console_layout(
    operator_client, other_bot
):
    response = operator_client.get(reverse("console:conversations", args=[other_bot.pk]))

    html = _html(response)
    assert response.status_code == 404
    assert '<html lang="zh-hans">' in html
    assert "<title>页面不存在 · botadmin</title>" in html
    assert "或者它属于你未担任操作员的机器人" in html
    assert 'class="mainnav"' in html and "审计日志" in html  # the console's header
    assert reverse("console:index") in html


def test_a_page_that_does_not_exist_says_so_in_english_when_chosen(operator_client):
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})

    html = _html(operator_client.get("/console/no-such-page/"))

    assert '<html lang="en">' in html and "<title>Page not found · botadmin</title>" in html
    assert "页面不存在" not in html


def test_a_form_sent_with_an_expired_security_token_explains_what_to_do(operator, bot, group):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    response = client.post(
        reverse("console:reply", args=[bot.pk, group.pk]), {"content": "你好"}, HTTP_REFERER=""
    )

    html = _html(response)
    assert response.status_code == 403
    assert '<html lang="zh-hans">' in html and "<title>页面已过期 · botadmin</title>" in html
    assert "没有保存任何内容" in html and "刷新页面后重新提交" in html
    assert "botadmin/app" in html  # the console's stylesheet
    assert "CSRF验证失败" not in html  # Django's own page


def test_an_action_the_account_may_not_take_answers_a_translated_403(client, bot):
    plain = get_user_model().objects.create_user("zhao", password="pw-zhao")
    bot.operators.add(plain)
    client.force_login(plain)

    response = client.get(reverse("console:bot_create"))

    html = _html(response)
    assert response.status_code == 403
    assert "<title>无权操作 · botadmin</title>" in html and "机器人管理员或超级用户" in html


def test_a_server_error_page_is_translated_and_stands_alone():
    request = RequestFactory().get("/console/")
    for language, words in [("zh-hans", "出错了"), ("en", "Something went wrong")]:
        with translation.override(language):
            html = _html(server_error(request))
        assert f'<html lang="{language}">' in html and words in html
        assert 'href="/console/"' in html


def test_opening_a_forms_target_as_a_page_answers_the_consoles_405_page(
    operator_client, bot, group
):
    """A bookmarked or reloaded form target (the reply box's) is no blank page: the
    console's own page says nothing changed and leads back, keeping the 405 and Allow."""
    reply = reverse("console:reply", args=[bot.pk, group.pk])

    response = operator_client.get(reply)

    html = _html(response)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert '<html lang="zh-hans">' in html and "<title>此地址没有页面 · botadmin</title>" in html
    assert "没有更改任何内容" in html
    assert 'class="mainnav"' in html  # the console's header
    assert f'class="btn primary" href="{reverse("console:index")}"' in html

    operator_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    english = operator_client.get(reply)

    assert english.status_code == 405 and english["Allow"] == "POST"
    assert "<title>No page at this address · botadmin</title>" in _html(english)
    assert "Nothing was changed" in _html(english) and "此地址" not in _html(english)


def test_another_wrong_method_on_a_console_page_answers_the_405_page_too(operator_client, bot):
    response = operator_client.put(reverse("console:reply", args=[bot.pk, 1]))

    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "<title>不接受此请求方式 · botadmin</title>" in _html(response)


def test_a_get_of_an_admin_action_answers_the_405_page_leading_back_to_the_admin(
    client, superuser, bot
):
    client.force_login(superuser)

    response = client.get(reverse("admin:logout"))

    html = _html(response)
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert "<title>此地址没有页面 · botadmin</title>" in html
    assert f'class="btn primary" href="{reverse("admin:index")}"' in html
    assert client.get(reverse("admin:index")).status_code == 200  # still logged in


def test_the_api_still_answers_a_wrong_method_with_its_json_envelope(client):
    response = client.get("/api/send")

    assert response.status_code == 405 and "POST" in response["Allow"]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["errcode"] != 0
