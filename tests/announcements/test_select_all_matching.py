"""The picker's "Select all N matching" (announcements.audience.select_all_matching): the
chosen list becomes every conversation matching the search, posted as one base field
whatever their number, kept with those chosen before it does not match; the send question
and the saved announcement count them all, less those unchecked after."""

import pytest

from announcements import audience
from announcements.editing import save_audience
from announcements.models import Announcement
from conversations.models import Conversation
from tests.announcement_posts import asked_question, post_confirmed

from .test_console_pages import compose_post

NEW = "/console/announcements/new/"


def select_all_matching(client, bot, **fields):
    """The button pressed, as the page's script posts it."""
    return client.post("/console/announcements/audience/all/", {"bot": bot.pk, **fields})


@pytest.fixture
def contacts(bot, make_conversation) -> dict[str, Conversation]:
    group, user = Conversation.Kind.GROUP, Conversation.Kind.USER
    return {
        name: make_conversation(bot, conversation_id, name=name, kind=kind)
        for name, conversation_id, kind in [
            ("销售一群", "wrSales1", group),
            ("销售二群", "wrSales2", group),
            ("研发群", "wrDev", group),
            ("销售张伟", "wmZhangWei", user),
        ]
    }


def test_all_1500_groups_matching_a_search_are_sent_to_less_the_one_unchecked_after(
    client, bot, make_groups, make_conversation, superuser
):
    groups = make_groups(bot, 1_500)  # "group 0" … "group 1499"
    make_conversation(bot, "wmGroupie", name="group 1 fan", kind=Conversation.Kind.USER)
    # "group 1", "group 10"-"group 19", "group 100"-"group 199", "group 1000"-"group 1499"
    matching = [g for g in groups if g.name.startswith("group 1")]
    assert len(matching) == 611
    client.force_login(superuser)

    answer = select_all_matching(client, bot, audience_query="group 1", audience_kind="group")

    assert answer.status_code == 200
    selection = answer.json()
    assert selection == {
        "audience_base": "search:group:group 1",
        "conversations": "",
        "count": 611,
        "status": "已选中与此搜索匹配的全部 611 个会话。",
    }
    unchecked = matching[5]
    data = compose_post(
        bot,
        [],
        kind="now",
        audience_base=selection["audience_base"],
        removed=[unchecked.pk],
    )
    assert asked_question(client, NEW, data) == "现在发送给 610 个会话？"
    response = post_confirmed(client, NEW, data)

    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.audience == Announcement.Audience.LISTED
    assert set(announcement.conversations.values_list("pk", flat=True)) == {
        g.pk for g in matching if g != unchecked
    }


def test_selecting_all_matching_keeps_those_chosen_before_and_takes_back_unchecked_ones(
    client, bot, contacts, superuser
):
    client.force_login(superuser)

    answer = select_all_matching(
        client,
        bot,
        audience_query="销售",
        audience_kind="group",
        conversations=f"{contacts['研发群'].pk},{contacts['销售二群'].pk}",
        removed=str(contacts["销售一群"].pk),
    )

    selection = answer.json()
    # 研发群 does not match, so it stays checked one by one; 销售一群, unchecked before,
    # matches: chosen again; 销售张伟 is a user, not of the kind filtered on.
    assert selection["audience_base"] == "search:group:销售"
    assert selection["conversations"] == str(contacts["研发群"].pk)
    assert selection["count"] == 3
    assert selection["status"] == "已选中与此搜索匹配的全部 2 个会话。"
    data = compose_post(
        bot, [contacts["研发群"]], audience_base=selection["audience_base"], save_draft="1"
    )
    client.post(NEW, data)
    announcement = Announcement.objects.get()
    assert set(announcement.conversations.values_list("name", flat=True)) == {
        "销售一群",
        "销售二群",
        "研发群",
    }


def test_the_picker_shows_every_match_of_a_search_base_checked(client, bot, contacts, superuser):
    client.force_login(superuser)

    response = client.post(
        "/console/announcements/audience/",
        {"bot": bot.pk, "audience_base": "search::销售", "audience_query": ""},
    )

    taken = {str(c) for c, chosen in response.context["results"].rows if chosen}
    assert taken == {"销售一群", "销售二群", "销售张伟"}


def test_a_search_base_of_an_unknown_kind_is_refused(client, bot, contacts, superuser):
    client.force_login(superuser)
    data = compose_post(bot, [], audience_base="search:robot:销售", save_draft="1")

    response = client.post(NEW, data)

    assert response.status_code == 200
    assert "请刷新页面：无法识别该搜索。" in response.content.decode()
    assert not Announcement.objects.exists()


def test_more_kept_one_by_one_than_a_form_carries_is_refused_in_words(
    client, bot, contacts, superuser, monkeypatch
):
    saved = save_audience(superuser, bot, "研发和销售", [c.pk for c in contacts.values()])
    monkeypatch.setattr(audience, "MAX_PICKED", 1)
    client.force_login(superuser)

    # 研发群 and 销售张伟 (a user) do not match groups named 销售: two to keep, one allowed.
    answer = select_all_matching(
        client, bot, audience_query="销售", audience_kind="group", audience_base=f"saved:{saved.pk}"
    )

    assert answer.status_code == 409
    assert answer.json()["error"].startswith("未选择：之前选中的会话中有超过 1 个与此搜索不匹配。")


def test_a_saved_audience_then_all_matching_is_saved_as_the_search_not_that_audience(
    client, bot, contacts, superuser
):
    """The selection started from a saved audience; "Select all matching" made it every
    match of a search, so the announcement no longer names that audience as its own."""
    saved = save_audience(superuser, bot, "研发", [contacts["研发群"].pk])
    client.force_login(superuser)
    selection = select_all_matching(
        client, bot, audience_query="销售", audience_kind="group", audience_base=f"saved:{saved.pk}"
    ).json()
    data = compose_post(
        bot,
        [contacts["研发群"]],
        audience_base=selection["audience_base"],
        saved_audience=str(saved.pk),  # as a page without its script would still post it
        save_draft="1",
    )

    client.post(NEW, data)

    announcement = Announcement.objects.get()
    assert announcement.saved_audience is None
    assert set(announcement.conversations.values_list("name", flat=True)) == {
        "销售一群",
        "销售二群",
        "研发群",
    }
