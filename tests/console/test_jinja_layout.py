"""The history page is Jinja2 (console/jinja2/layout.html) and every other page a
Django template (templates/base.html): an operator must not see a different
head, header, language switcher or flash messages on either."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from messaging.models import Message


def _layout(html: str) -> str:
    """The page around its content, without what differs by page or by response."""
    head = html[html.index("<html") : html.index("<title>")]
    header = html[html.index('<header class="topbar">') : html.index("</header>")]
    layout = head + header
    layout = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", layout)
    layout = re.sub(r'name="next" type="hidden" value="[^"]+"', "next", layout)
    layout = layout.replace(' class="active"', "")
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", layout))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("staff", [True, False])
def test_the_history_page_has_the_layout_of_every_other_page(
    operator_client, operator, bot, group, language, staff
):
    operator.is_staff = staff
    operator.save()
    operator_client.cookies["django_language"] = language
    other = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()
    history = operator_client.get(reverse("console:history", args=[bot.pk, group.pk]))

    assert history.status_code == 200
    html = history.content.decode()
    assert _layout(html) == _layout(other)
    # The section the page belongs to is marked in the navigation, as on the list.
    nav = html[html.index('<nav class="mainnav">') : html.index("</nav>")]
    assert nav.count(' class="active"') == 1
    assert f'href="{reverse("console:index")}" class="active"' in nav


def test_flash_messages_show_on_the_history_page(operator_client, bot, group):
    url = reverse("console:history", args=[bot.pk, group.pk])

    response = operator_client.post(
        reverse("console:reply", args=[bot.pk, group.pk]), {"content": "好的"}, follow=True
    )

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == url
    assert re.search(r'<ul class="flash"><li class="success">[^<]+</li></ul>', html)
    assert Message.objects.filter(conversation=group, direction="out").count() == 1
    # Shown once: the next view has no flash.
    assert 'class="flash"' not in operator_client.get(url).content.decode()


def test_every_form_of_the_history_page_carries_a_working_csrf_token(operator, bot, group):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    url = reverse("console:history", args=[bot.pk, group.pk])
    html = client.get(url).content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert len(tokens) == 3  # language switch, log out, reply

    refused = client.post(reverse("console:reply", args=[bot.pk, group.pk]), {"content": "x"})
    accepted = client.post(
        reverse("console:reply", args=[bot.pk, group.pk]),
        {"content": "好的", "csrfmiddlewaretoken": tokens[-1]},
    )
    switched = client.post(
        reverse("set_language"), {"language": "en", "next": url, "csrfmiddlewaretoken": tokens[0]}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302 and accepted["Location"] == url
    assert switched.status_code == 302 and client.get(url).headers["Content-Language"] == "en"
