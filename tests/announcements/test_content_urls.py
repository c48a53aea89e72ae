"""A link, picture or icon URL in an announcement with another scheme than http(s) is
refused on its field saying it must start with http:// or https://, as the agent and
webhook URLs are, where an ftp:// link went on to the API's English words above the form
and an address like `cdn.example.com:8080/a.png` read "Enter a valid URL."."""

import pytest
from django.utils.html import escape

from announcements.models import Announcement

from .test_console_pages import compose_post

SAID = {
    "zh-hans": "请输入以 http:// 或 https:// 开头的 URL。",
    "en": "Enter a URL that starts with http:// or https://.",
}
LANGUAGES = pytest.mark.parametrize("language", ["zh-hans", "en"])


@LANGUAGES
@pytest.mark.parametrize(
    "fields",
    [
        {"link__url": "ftp://files.example.com/notes"},
        {"link__image_url": "cdn.example.com:8080/a.png"},
        {
            "msgtype": "news",
            "news__title": "发版",
            "news__url": "https://example.com/notes",
            "news__picurl": "ftp://cdn.example.com/a.png",
        },
        {"msgtype": "image", "image__url": "cdn.example.com:8080/a.png"},
    ],
    ids=["ftp link", "link image without scheme", "ftp news picture", "image without scheme"],
)
def test_a_content_url_of_another_scheme_is_refused_saying_it_must_be_http(
    client, bot, make_groups, superuser, language, fields
):
    client.force_login(superuser)
    client.cookies["django_language"] = language

    refused = client.post(
        "/console/announcements/new/", compose_post(bot, make_groups(bot, 1), **fields)
    )

    html = refused.content.decode()
    assert escape(SAID[language]) in html
    assert "must be an http(s) URL" not in html
    assert not Announcement.objects.exists()
