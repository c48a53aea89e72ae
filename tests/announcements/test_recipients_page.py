"""Before an announcement goes out, the operator checks whom it goes to: the first of a
chosen list on its page, all of them (or those its rule takes now) on its recipients
page, by name, a page at a time."""

import re

from announcements.models import Announcement
from console.views import announcement_recipients
from conversations.models import Conversation
from tests.counted_queries import get_counting_queries

DAILY = {"kind": "daily", "schedule": {"time": "09:00"}}  # nothing due: nothing is sent


def listed_names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a></td>', html)


def test_a_chosen_lists_page_shows_its_first_recipients_and_links_to_all_of_them(
    client, bot, make_groups, make_conversation, superuser, make_announcement
):
    groups = make_groups(bot, 12)
    user = make_conversation(bot, "wmZhang", kind=Conversation.Kind.USER, name="张伟")
    gone = make_conversation(bot, "wrGone", name="已解散的群", is_active=False)
    announcement = make_announcement(bot, [*groups, user, gone], **DAILY)
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    shown = re.search(r'<ul class="recipient-list" id="first-recipients"[^>]*>(.*?)</ul>', page)
    rows = re.findall(r"<li>([^<]*) <span class=\"muted small\">([^<]*)</span></li>", shown[1])
    assert rows == [(f"group {i}", "群聊") for i in range(10)]  # 2 before 10
    assert "13 个选定的会话" in page
    assert "查看全部 13 个接收者 →" in page
    assert f'href="/console/announcements/{announcement.pk}/recipients/"' in page


def test_the_recipients_page_lists_them_by_name_with_their_kind_a_page_at_a_time(
    client, bot, make_groups, make_conversation, superuser, make_announcement, monkeypatch
):
    groups = make_groups(bot, 5)
    user = make_conversation(bot, "wmZhang", kind=Conversation.Kind.USER, name="张伟")
    gone = make_conversation(bot, "wrGone", name="已解散的群", is_active=False)
    announcement = make_announcement(bot, [*groups, user, gone], **DAILY)
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/recipients/"

    monkeypatch.setattr(announcement_recipients, "PER_PAGE", 4)

    first = client.get(url).content.decode()
    after = re.search(r'href="\?after=(\d+)"', first)[1]
    second = client.get(f"{url}?after={after}").content.decode()

    assert listed_names(first) == ["group 0", "group 1", "group 2", "group 3"]
    assert listed_names(second) == ["group 4", "张伟"]
    assert "用户" in second and "wmZhang" in second
    assert "已解散的群" not in first + second  # not active: a run would not send to it
    assert "6 个会话" in first
    assert "下一页" not in second and "第一页" in second


def test_a_rules_recipients_page_lists_those_it_takes_now(
    client, bot, make_groups, make_conversation, superuser, make_announcement
):
    make_groups(bot, 2)
    make_conversation(bot, "wmZhang", kind=Conversation.Kind.USER, name="张伟")
    announcement = make_announcement(bot, [], **DAILY)
    Announcement.objects.filter(pk=announcement.pk).update(audience=Announcement.Audience.GROUPS)
    client.force_login(superuser)

    detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    page = client.get(f"/console/announcements/{announcement.pk}/recipients/").content.decode()

    assert "查看目前的 2 个会话 →" in detail and 'id="first-recipients"' not in detail
    assert listed_names(page) == ["group 0", "group 1"]
    assert "此规则目前包含的会话" in page


def test_a_recipients_page_far_down_a_long_list_costs_what_the_first_does(
    client, bot, make_groups, superuser, make_announcement
):
    groups = make_groups(bot, 260)
    announcement = make_announcement(bot, groups, **DAILY)
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/recipients/"

    first = get_counting_queries(client, url)
    after = re.search(r'href="\?after=(\d+)"', first.response.content.decode())[1]
    second = get_counting_queries(client, f"{url}?after={after}")
    third_after = re.search(r'href="\?after=(\d+)"', second.response.content.decode())[1]
    third = get_counting_queries(client, f"{url}?after={third_after}")

    assert len(listed_names(third.response.content.decode())) == 60
    assert len(first) == len(second) == len(third)


def test_another_operators_announcement_has_no_recipients_page(
    client, make_bot, make_groups, make_operator, make_announcement
):
    other = make_bot(name="other")
    announcement = make_announcement(other, make_groups(other, 1), **DAILY)
    client.force_login(make_operator("alice", make_bot(name="mine")))

    response = client.get(f"/console/announcements/{announcement.pk}/recipients/")

    assert response.status_code == 404


def test_a_bad_page_of_recipients_starts_again_or_is_empty(
    client, bot, make_groups, superuser, make_announcement
):
    announcement = make_announcement(bot, make_groups(bot, 2), **DAILY)
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/recipients/"

    pages = [client.get(f"{url}?after={after}") for after in ("%00", "abc", "-1", "9" * 25, "²")]

    assert [p.status_code for p in pages] == [200] * 5
    assert listed_names(pages[1].content.decode()) == ["group 0", "group 1"]
