"""Two tabs editing one announcement: the second save does not silently undo the first."""

import pytest

from announcements.models import Announcement
from audit.models import OperatorAction
from tests.announcement_posts import post_confirmed
from tests.html_forms import submitted_form

from .test_console_pages import text_body


@pytest.fixture
def two_tabs(client, bot, make_groups, superuser, make_announcement):
    """A daily announcement, its edit URL, and its edit page's form opened in two tabs."""
    announcement = make_announcement(
        bot, make_groups(bot, 2), kind="daily", schedule={"time": "09:00"}, body=text_body("old")
    )
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/edit/"
    tabs = []
    for _tab in range(2):
        page = client.get(url)
        assert page.status_code == 200
        tabs.append(submitted_form(page.content.decode(), "compose"))
    return announcement, url, tabs


def test_a_save_from_a_page_opened_before_another_save_is_refused_and_keeps_what_was_typed(
    client, two_tabs
):
    announcement, url, (first_tab, second_tab) = two_tabs
    # A pause and a resume change no text: the first tab saves over them.
    for verb in ("pause", "resume"):
        assert client.post(f"/console/announcements/{announcement.pk}/{verb}/").status_code == 302

    post_confirmed(client, url, {**first_tab, "text__content": ["typo fixed"]})
    stale = post_confirmed(client, url, {**second_tab, "title": ["Second tab's title"]})

    announcement.refresh_from_db()
    assert announcement.body["text"]["content"] == "typo fixed"
    assert announcement.title == "Notice"
    assert announcement.status == Announcement.Status.ACTIVE
    assert stale.status_code == 200
    page = stale.content.decode()
    assert "已被修改" in page
    assert 'value="Second tab&#x27;s title"' in page
    assert OperatorAction.objects.filter(action="announcement.edit").count() == 1


def test_saving_again_after_being_told_replaces_the_other_edit(client, two_tabs):
    announcement, url, (first_tab, second_tab) = two_tabs
    post_confirmed(client, url, {**first_tab, "text__content": ["typo fixed"]})
    told = post_confirmed(client, url, {**second_tab, "title": ["Second tab's title"]})

    again = post_confirmed(client, url, submitted_form(told.content.decode(), "compose"))

    assert again.status_code == 302
    announcement.refresh_from_db()
    assert announcement.title == "Second tab's title"
    assert announcement.body["text"]["content"] == "old"


def test_the_same_edit_posted_twice_is_no_edit_from_elsewhere(client, two_tabs):
    announcement, url, (tab, _other) = two_tabs
    edited = {**tab, "title": ["Edited"], "text__content": ["new"], "time": ["10:00"]}

    first = post_confirmed(client, url, edited)
    second = post_confirmed(client, url, edited)  # a double click

    assert (first.status_code, second.status_code) == (302, 302)
    announcement.refresh_from_db()
    assert (announcement.title, announcement.schedule["time"]) == ("Edited", "10:00")
