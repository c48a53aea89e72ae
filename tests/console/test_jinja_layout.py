"""The history page is Jinja2 (console/jinja2/layout.html) and every other page a
Django template (templates/base.html): an operator must not see a different
head, header, language switcher or flash messages on either."""

import re

import pytest
from django.contrib.auth import get_user_model
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


def _header(response) -> str:
    html = response.content.decode()
    return html[html.index('<header class="topbar">') : html.index("</header>")]


def test_the_remembered_header_is_each_operators_own_in_each_section_and_language(
    make_operator, bot, group
):
    # console.jinja.topbar() draws the header once per language, section and user.
    alice, bob, carol = Client(), Client(), Client()
    alice.force_login(make_operator("alice", bot))
    bob.force_login(make_operator("bob", bot))
    carol_user = make_operator("carol", bot)
    get_user_model().objects.filter(pk=carol_user.pk).update(is_staff=False)
    carol.force_login(carol_user)
    pages = [
        reverse("console:search") + "?q=%3Cb%3E",
        reverse("console:history", args=[bot.pk, group.pk]),
    ]

    for page in pages * 2:  # drawn, then remembered
        a, b, c = (_header(client.get(page)) for client in (alice, bob, carol))
        assert "alice" in a and "bob" not in a and "bob" in b and "alice" not in b
        assert 'href="/admin/"' in a and 'href="/admin/"' not in c  # carol is not staff
        section = "search" if "search" in page else "index"
        assert f'href="{reverse("console:" + section)}" class="active"' in a
        assert a.count(' class="active"') == 1
        path = page.replace("<", "&lt;")
        assert f'name="next" type="hidden" value="{path}"' in a
    alice.cookies["django_language"] = "en"
    english = _header(alice.get(pages[1]))
    assert ">Log out<" in english and ">Log out<" not in a
    get_user_model().objects.filter(username="alice").update(is_staff=False)
    assert 'href="/admin/"' not in _header(alice.get(pages[1]))


def test_each_drawing_of_the_header_has_a_working_csrf_field(operator_client, bot, group):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_client.get(reverse("console:index")).wsgi_request.user)
    history = reverse("console:history", args=[bot.pk, group.pk])
    tokens = set()
    for _ in range(2):
        header = _header(client.get(history))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', header)[1]
        tokens.add(token)

    response = client.post(
        reverse("set_language"), {"language": "en", "next": history, "csrfmiddlewaretoken": token}
    )

    assert len(tokens) == 2  # masked anew each time, as Django does
    assert response.status_code == 302 and response["Location"] == history
    assert client.cookies["django_language"].value == "en"
