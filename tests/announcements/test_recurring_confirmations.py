"""Pausing or cancelling a recurring announcement asks a question that says what happens
to its runs to come, and cancelling one says it will not run again: they spoke only of
"recipients not yet sent", which a daily announcement between runs has none of, so an
operator could cancel it for good meaning to skip one day, or pause it expecting the runs
due meanwhile to be sent on resume."""

from html import unescape

import pytest

DETAIL = "/console/announcements/{}/"


def confirmations(client, announcement) -> dict[str, str]:
    """The question each action's button asks first, by action."""
    page = unescape(client.get(DETAIL.format(announcement.pk)).content.decode())
    asked = {}
    for verb in ("pause", "cancel"):
        form = page.split(f'action="{DETAIL.format(announcement.pk)}{verb}/"')[1]
        asked[verb] = form.split('data-confirm="')[1].split('"')[0]
    return asked


@pytest.mark.parametrize(
    ("language", "pause", "cancel"),
    [
        ("en", "the runs due meanwhile are skipped, not sent late", "It will not run again"),
        ("zh-hans", "期间到期的运行会被跳过，不会补发", "此后不再运行"),
    ],
)
def test_a_recurring_announcement_says_what_pausing_and_cancelling_do_to_its_runs(
    bot, make_groups, make_announcement, client, superuser, language, pause, cancel
):
    daily = make_announcement(bot, make_groups(bot, 2), kind="daily", schedule={"time": "09:00"})
    client.force_login(superuser)
    client.cookies["django_language"] = language

    asked = confirmations(client, daily)

    assert pause in asked["pause"] and cancel in asked["cancel"]


def test_a_one_off_announcement_asks_about_its_recipients_only(
    bot, make_groups, make_announcement, client, superuser
):
    once = make_announcement(
        bot, make_groups(bot, 2), kind="once", schedule={"at": "2099-01-01T09:00"}
    )
    client.force_login(superuser)
    client.cookies["django_language"] = "en"

    asked = confirmations(client, once)

    assert asked == {
        "pause": "Pause? Recipients not yet sent wait until you resume.",
        "cancel": "Cancel? Recipients not yet sent are cancelled; sent messages stay in the history.",
    }


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "Announcement cancelled: it will not run again; recipients not yet sent"),
        ("zh-hans", "公告已取消：此后不再运行；尚未发送的接收者不会再收到"),
    ],
)
def test_cancelling_a_recurring_announcement_says_it_will_not_run_again(
    bot, make_groups, make_announcement, client, superuser, language, said
):
    groups = make_groups(bot, 2)
    daily = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
    once = make_announcement(bot, groups, kind="once", schedule={"at": "2099-01-01T09:00"})
    client.force_login(superuser)
    client.cookies["django_language"] = language

    told = client.post(DETAIL.format(daily.pk) + "cancel/", follow=True).content.decode()
    told_once = client.post(DETAIL.format(once.pk) + "cancel/", follow=True).content.decode()

    assert said in unescape(told)
    assert said.split("：")[0].split(":")[0] in unescape(told_once)
    assert said not in unescape(told_once)
