"""Search words over 200 characters (only possible in a URL) are refused in the operator's
words, the same on every search of the console, where Django's "确保该变量包含不超过 200
字符" spoke of a variable."""

import pytest
from django.urls import reverse

from announcements.models import Announcement

SAID = {
    "zh-hans": "搜索词最多 200 个字。",
    "en": "Search words can be at most 200 characters.",
}
DJANGOS = ("确保该变量包含不超过", "Ensure this value has at most")
LANGUAGES = pytest.mark.parametrize("language", ["zh-hans", "en"])
TOO_LONG = "退款" * 100 + "x"


@LANGUAGES
@pytest.mark.parametrize("page", ["console:search", "console:audit"])
def test_too_many_search_words_are_refused_in_the_operators_words(
    operator_client, group, make_message, language, page
):
    make_message(group, text="退款", direction="out")
    operator_client.cookies["django_language"] = language

    html = operator_client.get(reverse(page), {"q": TOO_LONG}).content.decode()

    assert SAID[language] in html
    assert not any(words in html for words in DJANGOS)


@LANGUAGES
def test_too_many_words_in_the_announcement_search_are_refused_in_the_operators_words(
    client, superuser, bot, language
):
    Announcement.objects.create(
        bot=bot,
        title="退款通知",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hi"}},
    )
    client.force_login(superuser)
    client.cookies["django_language"] = language

    html = client.get("/console/announcements/", {"q": TOO_LONG}).content.decode()

    assert SAID[language] in html
    assert not any(words in html for words in DJANGOS)
