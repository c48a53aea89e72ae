"""A draft's page: it says a draft is not sent on its own, offers to send or schedule it
(checked as the compose page's send is), and discards it with words that say so."""

from datetime import timedelta

import pytest
from django.utils import timezone

from announcements.editing import Draft, save_announcement
from announcements.models import Announcement
from audit.models import OperatorAction


@pytest.fixture
def make_draft(superuser):
    def make(bot, conversations, *, kind="now", schedule=None):
        return save_announcement(
            superuser,
            Draft(
                bot=bot,
                title="Notice",
                body={"msgtype": "text", "text": {"content": "hello"}},
                conversation_ids=[c.pk for c in conversations],
                kind=kind,
                schedule=schedule or {},
                timezone="Asia/Shanghai",
            ),
            as_draft=True,
        )

    return make


def test_a_draft_says_it_is_not_sent_on_its_own_and_lists_no_next_runs(
    client, bot, make_groups, superuser, make_draft
):
    draft = make_draft(bot, make_groups(bot, 2), kind="daily", schedule={"time": "09:30"})
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{draft.pk}/").content.decode()

    assert "草稿：不会自动发送" in page
    assert "接下来的运行时间" not in page
    assert f'action="/console/announcements/{draft.pk}/send/"' in page
    assert "计划发送…" in page and "丢弃草稿" in page
    assert ">取消</button>" not in page


def test_a_draft_to_send_now_offers_to_send_with_a_confirmation_naming_the_recipients(
    client, bot, make_groups, superuser, make_draft
):
    draft = make_draft(bot, make_groups(bot, 3))
    client.force_login(superuser)
    client.cookies["django_language"] = "en"

    page = client.get(f"/console/announcements/{draft.pk}/").content.decode()

    assert "Draft: not sent on its own" in page
    assert "Send…" in page
    assert 'data-confirm="Send to 3 conversations now?"' in page


def test_sending_a_draft_starts_it_as_the_compose_pages_send_does(
    client, bot, make_groups, superuser, make_draft
):
    draft = make_draft(bot, make_groups(bot, 2))
    client.force_login(superuser)

    page = client.post(f"/console/announcements/{draft.pk}/send/", follow=True)

    draft.refresh_from_db()
    assert draft.status == Announcement.Status.ACTIVE
    assert abs(draft.next_run_at - timezone.now()) < timedelta(minutes=1)
    assert "正在发送" in page.content.decode()
    assert OperatorAction.objects.filter(action="announcement.send_draft").count() == 1


def test_a_scheduled_draft_gets_its_first_run_time(client, bot, make_groups, superuser, make_draft):
    draft = make_draft(bot, make_groups(bot, 1), kind="once", schedule={"at": "2030-01-02T09:00"})
    client.force_login(superuser)

    page = client.post(f"/console/announcements/{draft.pk}/send/", follow=True)

    draft.refresh_from_db()
    assert draft.status == Announcement.Status.ACTIVE
    assert draft.next_run_at.isoformat() == "2030-01-02T01:00:00+00:00"
    assert "公告已计划" in page.content.decode()


def test_a_draft_whose_time_has_passed_is_not_sent_and_says_why(
    client, bot, make_groups, superuser, make_draft
):
    draft = make_draft(bot, make_groups(bot, 1), kind="once", schedule={"at": "2020-01-02T09:00"})
    client.force_login(superuser)

    page = client.post(f"/console/announcements/{draft.pk}/send/", follow=True).content.decode()

    draft.refresh_from_db()
    assert draft.status == Announcement.Status.DRAFT and draft.next_run_at is None
    assert "未发送" in page and "该时间已经过去" in page


def test_a_draft_whose_recipients_are_all_gone_is_not_sent(
    client, bot, make_groups, superuser, make_draft
):
    groups = make_groups(bot, 1)
    draft = make_draft(bot, groups)
    groups[0].is_active = False
    groups[0].save()
    client.force_login(superuser)

    page = client.post(f"/console/announcements/{draft.pk}/send/", follow=True).content.decode()

    draft.refresh_from_db()
    assert draft.status == Announcement.Status.DRAFT
    assert "未发送" in page


def test_only_a_draft_is_sent_this_way(client, bot, make_groups, superuser, make_announcement):
    announcement = make_announcement(
        bot, make_groups(bot, 1), kind="once", schedule={"at": "2030-01-02T09:00"}
    )
    client.force_login(superuser)

    client.post(f"/console/announcements/{announcement.pk}/cancel/")
    page = client.post(f"/console/announcements/{announcement.pk}/send/", follow=True)

    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.CANCELLED
    assert "不是草稿" in page.content.decode()


def test_discarding_a_draft_cancels_it_and_says_so(client, bot, make_groups, superuser, make_draft):
    draft = make_draft(bot, make_groups(bot, 1))
    client.force_login(superuser)

    page = client.post(f"/console/announcements/{draft.pk}/cancel/", follow=True).content.decode()

    draft.refresh_from_db()
    assert draft.status == Announcement.Status.CANCELLED
    assert "草稿已丢弃" in page
