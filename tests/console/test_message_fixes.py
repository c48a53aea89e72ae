"""Fixing a message from its trace: retry now, mark as sent, cancel — as its state allows, audited;
the trace page shows the message once."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from messaging.models import Message


def fix_url(bot, group, message, verb):
    return reverse("console:fix_message", args=[bot.pk, group.pk, message.pk, verb])


def buttons(html: str) -> list[str]:
    return [verb for verb in ("retry", "mark-sent", "cancel") if f'/{verb}"' in html]


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("failed", ["retry"]),
        ("uncertain", ["retry", "mark-sent"]),
        ("queued", ["cancel"]),
        ("scheduled", ["cancel"]),
        ("sending", []),
        ("sent", []),
        ("cancelled", []),
    ],
)
def test_the_trace_offers_the_fixes_the_state_allows(
    operator_client, bot, group, make_message, status, offered
):
    message = make_message(group, direction="out", text="发货通知", status=status)
    url = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])

    popup = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    page = operator_client.get(url).content.decode()

    assert buttons(popup) == offered and buttons(page) == offered
    assert "发货通知" in popup  # the message's content, not only its attempts
    assert all("data-confirm=" in html for html in (popup, page) if offered)


def test_an_inbound_message_offers_no_fix_but_shows_its_content(
    operator_client, bot, group, make_message
):
    message = make_message(group, text="请问几点发货")
    url = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])
    popup = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert buttons(popup) == [] and "请问几点发货" in popup


def test_retry_now_queues_a_failed_message_again_and_audits_it(
    operator_client, operator, bot, group, make_message
):
    message = make_message(group, direction="out", status="failed", attempt_count=5)

    response = operator_client.post(fix_url(bot, group, message, "retry"))

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED and message.attempt_count == 0
    history = reverse("console:history", args=[bot.pk, group.pk])
    assert response.status_code == 302 and response["Location"] == f"{history}?at={message.pk}"
    action = OperatorAction.objects.get(action="message.retry")
    assert action.actor == operator and action.target_id == str(message.pk)
    assert "消息已重新排队" in operator_client.get(response["Location"]).content.decode()


def test_mark_as_sent_only_applies_to_an_uncertain_message(
    operator_client, bot, group, make_message
):
    uncertain = make_message(group, direction="out", status="uncertain")
    failed = make_message(group, direction="out", status="failed")

    operator_client.post(fix_url(bot, group, uncertain, "mark-sent"))
    response = operator_client.post(fix_url(bot, group, failed, "mark-sent"), follow=True)

    uncertain.refresh_from_db()
    failed.refresh_from_db()
    assert uncertain.status == "sent" and uncertain.sent_at is not None
    assert failed.status == "failed"
    assert "未做任何操作" in response.content.decode()
    assert list(OperatorAction.objects.values_list("action", flat=True)) == ["message.mark_sent"]


def test_cancel_stops_a_queued_message_and_returns_to_the_trace_page(
    operator_client, bot, group, make_message
):
    message = make_message(group, direction="out", status="queued")
    trace = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])

    response = operator_client.post(fix_url(bot, group, message, "cancel"), {"next": trace})

    message.refresh_from_db()
    assert message.status == "cancelled" and response["Location"] == trace
    assert OperatorAction.objects.filter(action="message.cancel").count() == 1


def test_fixes_are_posts_on_the_operators_own_bots_only(
    client, operator_client, make_operator, bot, group, other_group, make_message
):
    mine = make_message(group, direction="out", status="failed")
    theirs = make_message(other_group, direction="out", status="failed")

    assert operator_client.get(fix_url(bot, group, mine, "retry")).status_code == 405
    assert operator_client.post(fix_url(bot, group, mine, "delete")).status_code == 404
    stolen = fix_url(other_group.bot, other_group, theirs, "retry")
    assert operator_client.post(stolen).status_code == 404
    assert operator_client.post(fix_url(bot, group, theirs, "retry")).status_code == 404
    elsewhere = "https://evil.example/"
    response = operator_client.post(fix_url(bot, group, mine, "retry"), {"next": elsewhere})
    assert response["Location"] != elsewhere
    theirs.refresh_from_db()
    assert theirs.status == "failed"


def test_a_message_waiting_to_retry_is_labelled_so_in_the_timeline_trace_and_audit_log(
    operator_client, bot, group, make_message
):
    message = make_message(group, direction="out", status="queued", attempt_count=2)
    history = reverse("console:history", args=[bot.pk, group.pk])
    trace = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])

    pages = [
        operator_client.get(history).content.decode(),
        operator_client.get(trace).content.decode(),
        operator_client.get(reverse("console:audit")).content.decode(),
    ]

    for html in pages:
        assert '<span class="badge retrying"' in html and "等待重试" in html


def test_the_dashboard_leads_to_failed_messages_and_the_audit_log_to_their_fixes(
    operator_client, bot, group, make_message
):
    failed = make_message(group, direction="out", status="failed")
    dashboard = operator_client.get(reverse("console:dashboard")).content.decode()
    link = re.search(r'href="([^"]*\?status=undelivered[^"]*)"', dashboard)
    assert link, "the dashboard's failed card links to the undelivered messages"
    audit_url = unescape(link.group(1))

    audit = operator_client.get(audit_url).content.decode()

    trace = reverse("console:message_trace", args=[bot.pk, group.pk, failed.pk])
    assert f'<a class="small" href="{trace}">修复 →</a>' in audit
    assert "/retry" in operator_client.get(trace).content.decode()


def test_the_dashboard_links_a_failing_sync_to_the_bots_contacts(operator_client, bot):
    from conversations.models import SyncRun

    SyncRun.objects.create(
        bot=bot, trigger="console", outcome="failed", error="agent down", finished_at=timezone.now()
    )
    html = operator_client.get(reverse("console:dashboard")).content.decode()
    assert reverse("console:bot", args=[bot.pk]) + "#contacts" in html


def test_the_trace_page_shows_a_body_without_words_once(operator_client, bot, group, make_message):
    picture = make_message(
        group,
        msgtype="image",
        text="",
        body={"msgtype": "image", "image": {"url": "https://cdn.example.com/a.png"}},
    )
    worded = make_message(group, text="你好，请问退款")
    url = reverse("console:message_trace", args=[bot.pk, group.pk, picture.pk])
    worded_url = reverse("console:message_trace", args=[bot.pk, group.pk, worded.pk])

    html = operator_client.get(url).content.decode()
    worded_html = operator_client.get(worded_url).content.decode()

    assert html.count("https://cdn.example.com/a.png") == 1
    assert 'id="body"' in html and 'class="trace-content"' not in html
    assert 'class="trace-content"><pre class="content">你好，请问退款' in worded_html
