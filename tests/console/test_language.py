import re

from django.urls import reverse


def test_console_speaks_chinese_by_default(operator_client, bot):
    html = operator_client.get(reverse("console:dashboard")).content.decode()
    assert '<html lang="zh-hans">' in html and "仪表盘" in html and "会话" in html


def test_english_when_chosen(operator_client, bot):
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    html = operator_client.get(reverse("console:dashboard")).content.decode()
    assert '<html lang="en">' in html and "Dashboard" in html and "仪表盘" not in html


def test_the_language_switch_names_each_language_in_its_own_words(operator_client, bot):
    chinese = operator_client.get(reverse("console:dashboard")).content.decode()
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    english = operator_client.get(reverse("console:dashboard")).content.decode()

    for html in (chinese, english):
        assert re.search(r'value="en" lang="en"( aria-current="true")?>English</button>', html)
        assert re.search(r'lang="zh-hans"( aria-current="true")?>简体中文</button>', html)
    assert "英语" not in chinese


def test_the_language_switch_marks_the_current_language(operator_client, bot):
    chinese = operator_client.get(reverse("console:dashboard")).content.decode()
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    english = operator_client.get(reverse("console:dashboard")).content.decode()

    assert 'lang="zh-hans" aria-current="true">简体中文' in chinese
    assert 'lang="en">English' in chinese
    assert 'lang="en" aria-current="true">English' in english
    assert 'lang="zh-hans">简体中文' in english


def test_switching_language_on_a_form_with_errors_comes_back_to_the_forms_page(
    operator_client, bot
):
    """The errors' page is the answer to a POST: its own URL answers only POST (the 405 page)."""
    bot_page = reverse("console:bot", args=[bot.pk])
    refused = operator_client.post(
        reverse("console:bot_sending", args=[bot.pk]),
        {"timezone": "Mars/Olympus", "rate_limit_per_minute": "20"},
        HTTP_REFERER=f"http://testserver{bot_page}",
    )
    assert refused.status_code == 400
    next_url = re.search(r'name="next" type="hidden" value="([^"]*)"', refused.content.decode())

    switched = operator_client.post(
        reverse("set_language"), {"language": "en", "next": next_url.group(1)}, follow=True
    )

    assert switched.redirect_chain[-1][0] == f"http://testserver{bot_page}"
    assert switched.status_code == 200 and "Sending settings" in switched.content.decode()
