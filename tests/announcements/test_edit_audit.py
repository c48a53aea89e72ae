"""Editing an announcement records what it changed: each changed field before and after,
its text included, shown on the audit log page (escaped, a secret in it masked)."""

from dataclasses import replace

from django.urls import reverse

from announcements.editing import Draft, save_announcement
from audit.models import OperatorAction


def text(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


def daily_at_nine(bot, conversations, content: str) -> Draft:
    """An announcement sent every day at 09:00 (Shanghai) to these conversations."""
    return Draft(
        bot=bot,
        title="Weekly report",
        body=text(content),
        conversation_ids=[c.pk for c in conversations],
        kind="daily",
        schedule={"time": "09:00"},
        timezone="Asia/Shanghai",
    )


def test_an_edit_records_the_text_before_and_after_and_the_audit_log_shows_it(
    client, superuser, bot, make_groups
):
    groups = make_groups(bot, 3)
    draft = daily_at_nine(bot, groups[:2], "Meeting at 10:00 <b>room 1</b>")
    announcement = save_announcement(superuser, draft, as_draft=False)
    edited = replace(
        draft,
        body=text("Meeting at 11:00, see https://example.com/x?access_token=s3cr3t"),
        conversation_ids=[g.pk for g in groups],
        schedule={"time": "09:30"},
    )

    save_announcement(superuser, edited, as_draft=False, announcement=announcement)

    entry = OperatorAction.objects.get(action="announcement.edit")
    changes = {change["field"]: change for change in entry.details["changes"]}
    assert set(changes) == {"text", "conversations", "schedule"}  # the title is the same
    assert changes["text"]["before"] == "Meeting at 10:00 <b>room 1</b>"
    assert changes["text"]["after"].startswith("Meeting at 11:00, see https://example.com/")
    assert "s3cr3t" not in str(entry.details)
    assert (changes["conversations"]["before"], changes["conversations"]["after"]) == (2, 3)
    client.force_login(superuser)
    page = client.get(reverse("console:operator_actions")).content.decode()
    assert "3 个字段已更改" in page
    assert "Meeting at 10:00 &lt;b&gt;room 1&lt;/b&gt;" in page and "<b>room 1" not in page
    assert "Meeting at 11:00" in page and "s3cr3t" not in page
    assert "2 个会话" in page and "3 个会话" in page
    assert "每天 09:00" in page and "每天 09:30" in page


def test_creating_an_announcement_records_no_changes(superuser, bot, make_groups):
    draft = Draft(
        bot=bot,
        title="Notice",
        body=text("hello"),
        conversation_ids=[g.pk for g in make_groups(bot, 1)],
        kind="now",
        schedule={},
        timezone="Asia/Shanghai",
    )
    save_announcement(superuser, draft, as_draft=True)
    assert "changes" not in OperatorAction.objects.get(action="announcement.create").details
