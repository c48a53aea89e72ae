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
        assert re.search(r'<option value="en" lang="en"( selected)?>English</option>', html)
        assert ">简体中文</option>" in html
    assert "英语" not in chinese
