"""The console's times of a bot's pause, its connection test, its long connection's state,
its deletion, its secret's grace and its contact syncs read as the rest of the console's do (clock_time): a time of
today alone, "明天 09:00" / "昨天 09:00" on the days beside it, a date and a time beyond
them, never a bare "09:00" for another day nor a date on a time of today."""

import zoneinfo
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags

from announcements.models import Announcement, AnnouncementRun
from audit.models import OperatorAction
from conversations.models import Bot, Conversation, SyncRun
from deletions.models import DeletionJob
from forwarding.models import WebhookEndpoint
from messaging.models import Message
from messaging.status_labels import clock_time
from tests.connectors.wecom_app.conftest import app_settings


def _moment(ago: timedelta):
    """A whole minute `ago` (negative: ahead), so clock_time shows no seconds."""
    return (timezone.now() - ago).replace(second=0, microsecond=0)


TODAY = timedelta(hours=3)  # today, or (read before 03:00) yesterday: as clock_time says
A_DAY = timedelta(days=1)  # yesterday (ahead: tomorrow), whatever the hour
OLDER = timedelta(days=3)


def _shown_as_clock_time(text: str, moment) -> bool:
    """`text` shows `moment` as clock_time does, in either language: a time of today with
    no day, one of another day with it."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        days = (f"{local:%m-%d}", "明天", "昨天", "tomorrow", "yesterday")
        return f"{local:%H:%M}" in text and not any(day in text for day in days)
    shown = set()
    for language in ("zh-hans", "en"):
        with translation.override(language):
            shown.add(clock_time(moment))
    return any(form in text for form in shown)


def _paused_banner(moment):
    bot = Bot(pk=1, name="acme", paused_at=moment)
    return render_to_string(
        "console/_paused_banner.html",
        {"paused_bot": bot, "may_resume": False, "waiting_count": 0, "bot_admins": ["alice"]},
    )


def _resume_offer(moment):
    return render_to_string(
        "console/bots/_resume_offer.html",
        {"passed_test_at": moment, "may_resume": True, "paused_bot": Bot(pk=1)},
    )


def _deletion_banner(moment):
    job = DeletionJob(pk=1, kind="bot", status="queued", attempts=1, next_attempt_at=moment)
    return render_to_string("console/_deletion_banner.html", {"deletion": job})


def _deletion_progress(moment):
    job = DeletionJob(pk=1, kind="bot", status="done", requested_at=moment, finished_at=moment)
    job.error, job.next_attempt_at = "", None
    retrying = DeletionJob(pk=2, kind="bot", status="queued", requested_at=moment)
    retrying.error, retrying.attempts, retrying.next_attempt_at = "boom", 1, moment
    return "".join(
        render_to_string("console/deletions/_progress.html", {"job": j, "rows": []})
        for j in (job, retrying)
    )


def _sync_runs(moment):
    run = SyncRun(requested_at=moment, finished_at=moment, outcome="ok", trigger="admin")
    return render_to_string(
        "conversations/_sync_runs.html", {"runs": [run], "checks_entered": False}
    )


def _run_recipients(message):
    """The recipients table of a run showing one `message`."""
    message.conversation = Conversation(pk=1, name="产品群", kind="group")
    page = render_to_string(
        "console/announcements/_runs.html",
        {
            "runs": [],
            "run": SimpleNamespace(pk=1, recipient_count=1),
            "recipients": {"rows": [message]},
        },
        request=RequestFactory().get("/"),
    )
    return page.split("<tbody>")[1]


def _run_recipient_scheduled(moment):
    return _run_recipients(Message(pk=1, status="scheduled", scheduled_at=moment))


def _run_recipient_sent(moment):
    return _run_recipients(Message(pk=1, status="sent", sent_at=moment))


def _bot_trouble_test(moment):
    return render_to_string(
        "console/_bot_trouble.html", {"failed_test_at": moment, "bot": Bot(pk=1)}
    )


def _bot_trouble_sync(moment):
    run = SyncRun(requested_at=moment, finished_at=moment, outcome="failed", error="boom")
    return render_to_string("console/_bot_trouble.html", {"failed_sync": run, "bot": Bot(pk=1)})


def _connection(moment):
    connection = SimpleNamespace(
        state="taken_over", label="taken over", since=moment, taken_over_at=moment, last_error=""
    )
    return render_to_string("console/_connection.html", {"connection": connection})


def _connection_since(moment):
    """The dashboard's connection line: its state, since when (the time alone)."""
    connection = {"state": "retrying", "label": "Reconnecting", "since": moment}
    return render_to_string("console/_connection.html", {"connection": connection})


def _admin_connection(moment):
    connection = SimpleNamespace(
        state="taken_over",
        label="taken over",
        since=moment,
        taken_over_at=moment,
        last_frame_at=moment,
        last_error="boom",
        last_error_at=moment,
    )
    return render_to_string("admin/conversations/bot/connection.html", {"connection": connection})


def _admin_connection_since(moment):
    """The admin's connection line, its state and since when alone."""
    connection = {"state": "retrying", "label": "Reconnecting", "since": moment}
    html = render_to_string("admin/conversations/bot/connection.html", {"connection": connection})
    return html.split("<br>")[0]


def _live(connection, shown):
    return render_to_string(
        "connectors/guides/_live_connection.html",
        {
            "connection": connection,
            "shown_connection": shown,
            "bot_zone": timezone.get_current_timezone(),
        },
    )


def _live_connection(moment):
    """A long connection's guide on the bot page (and its live refresh)."""
    connection = SimpleNamespace(
        last_frame_at=moment, shown_error="boom", last_error_at=moment, holder=""
    )
    return _live(connection, {"state": "connected", "label": "Connected", "since": moment})


def _live_connection_since(moment):
    """The bot page's connection state and since when, without the frame and error times."""
    connection = SimpleNamespace(last_frame_at=None, shown_error="", holder="")
    return _live(connection, {"state": "retrying", "label": "Reconnecting", "since": moment})


def _connection_test(moment):
    """The last connection test's time beside its result, on the bot page."""
    return render_to_string(
        "console/bots/_connection_test.html",
        {
            "last_test": SimpleNamespace(ok=True, reason="agent answered", at=moment, by="alice"),
            "bot_zone": timezone.get_current_timezone(),
        },
    ).split('id="last-contact"')[0]


def _bridge_guide(moment, state):
    bot = Bot.objects.create(name="agent-bot", connector="bridge", agent_url="http://127.0.0.1:9")
    page = render_to_string(
        "connectors/guides/bridge.html",
        {
            "bot": bot,
            "state": state,
            "checked_at": moment,
            "last_test": SimpleNamespace(ok=False, reason="agent unreachable", at=moment),
            "bot_zone": timezone.get_current_timezone(),
        },
        request=RequestFactory().get("/"),
    )
    return page.split('id="capabilities">')[1].split("</dd>")[0]


def _bridge_capabilities_asked(moment):
    return _bridge_guide(moment, {"msgtypes": ["text"]})


def _bridge_last_test_failed(moment):
    return _bridge_guide(moment, {})


def _robot_key_check(moment):
    bot = Bot.objects.create(name="robot-bot", connector="wecom_robot")
    Conversation.objects.create(
        bot=bot, conversation_id="wrKeyed", kind="group", robot_key="k" * 36, key_checked_at=moment
    )
    page = render_to_string(
        "connectors/guides/wecom_robot.html",
        {"bot": bot, "bot_zone": timezone.get_current_timezone()},
        request=RequestFactory().get("/"),
    )
    return page.split('class="key-check"')[1].split("</td>")[0]


def _blocked_bot_in_the_list(moment):
    request = RequestFactory().get("/console/bots/")
    request.user = SimpleNamespace(is_authenticated=False, is_superuser=False, is_staff=False)
    page = render_to_string(
        "console/bots/list.html",
        {
            "rows": [
                {
                    "bot": Bot(pk=1, name="acme"),
                    "connector": "bridge",
                    "blocked": {"since": moment, "reason": "agent unreachable"},
                }
            ]
        },
        request=request,
    )
    return page.split('class="sending-state">')[1].split("<br>")[0]


def _app_setup_step(moment, zone=None):
    """The setup checklist's step an app bot's connection test passed, at its time."""
    bot = Bot.objects.create(
        name="hr-app", connector="wecom_app", connector_settings=app_settings()
    )
    page = render_to_string(
        "console/bots/_setup_checklist.html",
        {
            "bot": bot,
            "last_test": SimpleNamespace(ok=True, reason="", at=moment),
            "bot_zone": zone or timezone.get_current_timezone(),
        },
        request=RequestFactory().get("/"),
    )
    return page.split('data-step-status="app"')[1].split("</p>")[0]


@pytest.mark.parametrize(
    "ago",
    [TODAY, A_DAY, OLDER, -TODAY, -A_DAY, -OLDER],
    ids=["3h-ago", "1d-ago", "3d-ago", "in-3h", "in-1d", "in-3d"],
)
@pytest.mark.parametrize(
    "render",
    [
        _paused_banner,
        _resume_offer,
        _deletion_banner,
        _deletion_progress,
        _sync_runs,
        _run_recipient_scheduled,
        _run_recipient_sent,
        _bot_trouble_test,
        _bot_trouble_sync,
        _connection,
        _connection_since,
        _admin_connection,
        _admin_connection_since,
        _live_connection,
        _live_connection_since,
        _connection_test,
        _bridge_capabilities_asked,
        _bridge_last_test_failed,
        _robot_key_check,
        _blocked_bot_in_the_list,
        _app_setup_step,
    ],
    ids=lambda render: render.__name__.strip("_"),
)
def test_a_time_of_a_bot_reads_as_the_consoles_other_times(db, render, ago):
    moment = _moment(ago)

    text = strip_tags(render(moment))

    assert _shown_as_clock_time(text, moment), text


@pytest.mark.parametrize("ago", [TODAY, OLDER], ids=["3h-ago", "3d-ago"])
def test_the_resume_page_says_since_when_sending_is_paused_as_the_console_does(
    client, make_operator, bot, ago
):
    paused = _moment(ago)
    Bot.objects.filter(pk=bot.pk).update(paused_at=paused, paused_reason="risk control")
    client.force_login(make_operator("alice", bot))

    page = strip_tags(client.get(reverse("console:bot_resume", args=[bot.pk])).content.decode())

    assert _shown_as_clock_time(page.split("原因")[0], paused), page


@pytest.mark.parametrize("ahead", [TODAY, OLDER], ids=["in-3h", "in-3d"])
def test_the_previous_secrets_grace_reads_as_the_console_does_in_the_bots_zone(
    client, make_operator, bot, ahead
):
    ends = _moment(-ahead)
    Bot.objects.filter(pk=bot.pk).update(
        previous_secret="s" * 32, previous_secret_expires_at=ends, timezone="Asia/Shanghai"
    )
    client.force_login(make_operator("alice", bot))

    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    grace = strip_tags(page.split('id="secret-grace"')[1].split("</dd>")[0])
    with timezone.override("Asia/Shanghai"):
        assert _shown_as_clock_time(grace, ends), grace
    assert grace.rstrip().endswith("CST"), grace


@pytest.mark.parametrize("ago", [TODAY, OLDER], ids=["3h-ago", "3d-ago"])
def test_the_setup_checklists_step_time_reads_as_the_console_does_in_the_bots_zone(db, ago):
    """It was the only time of a bot's page written out with its seconds and date,
    today's too ("2026-06-01 09:30:00 CST")."""
    tested = _moment(ago)

    step = strip_tags(_app_setup_step(tested, zone=zoneinfo.ZoneInfo("Asia/Shanghai")))

    with timezone.override("Asia/Shanghai"):
        assert _shown_as_clock_time(step, tested), step
    assert step.rstrip().endswith("CST"), step


@pytest.mark.parametrize("ahead", [TODAY, OLDER], ids=["in-3h", "in-3d"])
def test_an_endpoints_previous_signing_secret_grace_reads_as_the_bots_secret_grace(
    client, make_operator, bot, receiver, ahead
):
    ends = _moment(-ahead)
    Bot.objects.filter(pk=bot.pk).update(timezone="Asia/Shanghai")
    endpoint = WebhookEndpoint.objects.create(
        bot=bot,
        url=receiver.url("/hook"),
        previous_signing_secret="p" * 32,
        previous_signing_secret_expires_at=ends,
    )
    client.force_login(make_operator("alice", bot))

    page = client.get(reverse("console:webhook", args=[bot.pk, endpoint.pk])).content.decode()

    grace = strip_tags(page.split('id="signing-secret-grace"')[1].split("</dd>")[0])
    with timezone.override("Asia/Shanghai"):
        assert _shown_as_clock_time(grace, ends), grace
    assert grace.rstrip().endswith("CST"), grace


def _page_part(client, name: str, params: dict, start: str, end: str) -> str:
    page = client.get(reverse(f"console:{name}"), params).content.decode()
    return strip_tags(page.split(start)[1].split(end)[0])


@pytest.mark.parametrize("ago", [TODAY, OLDER], ids=["3h-ago", "3d-ago"])
def test_search_results_and_the_audit_tables_read_as_the_console_does(
    operator_client, operator, bot, group, make_message, ago
):
    moment = _moment(ago)
    make_message(group, direction="out", text="退款", created_at=moment, sent_at=moment)
    action = OperatorAction.objects.create(actor=operator, bot=bot, action="message.retry")
    OperatorAction.objects.filter(pk=action.pk).update(created_at=moment)

    parts = {
        "search": _page_part(operator_client, "search", {"q": "退款"}, 'class="results', "</ul>"),
        "audit": _page_part(operator_client, "audit", {}, "<tbody>", "</tbody>"),
        "actions": _page_part(operator_client, "operator_actions", {}, "<tbody>", "</tbody>"),
    }

    for name, text in parts.items():
        assert _shown_as_clock_time(text, moment), (name, text)
    local = f"{timezone.localtime(moment):%H:%M}"
    assert parts["audit"].count(local) == 2, parts["audit"]  # accepted and sent


@pytest.mark.parametrize("ago", [TODAY, OLDER], ids=["3h-ago", "3d-ago"])
def test_a_conversations_newest_message_in_the_list_reads_as_the_console_does(
    operator_client, bot, group, make_message, ago
):
    moment = _moment(ago)
    make_message(group, text="退款", created_at=moment)

    page = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()

    cell = page.split('class="conv-time')[1].split("</span>")[0]
    shown = strip_tags(cell)
    assert _shown_as_clock_time(shown, moment), shown
    # The full time, its date included, stays in the title.
    assert f'title="{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"' in cell, cell


def _announcement(bot, group, operator, next_run_at, ran_at):
    """An hourly announcement in New York (not the reader's Shanghai) that ran `ran_at`."""
    announcement = Announcement.objects.create(
        bot=bot,
        title="通知",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hello"}},
        schedule_kind="cron",
        schedule={"cron": "0 * * * *"},
        timezone="America/New_York",
        status="active",
        next_run_at=next_run_at,
        created_by=operator,
    )
    announcement.conversations.add(group)
    AnnouncementRun.objects.create(
        announcement=announcement,
        scheduled_for=ran_at,
        started_at=ran_at,
        status="sending",
        fanned_out_at=ran_at,
    )
    return announcement


def test_an_announcements_next_and_last_runs_read_as_the_console_does_in_its_zone(
    client, superuser, bot, group
):
    """Today, a time alone (its day beside it otherwise), in the announcement's zone."""
    ahead, ago = _moment(-TODAY), _moment(TODAY)
    announcement = _announcement(bot, group, superuser, ahead, ago)
    client.force_login(superuser)

    listing = client.get(reverse("announcements:list")).content.decode()
    row = listing.split('<td class="nowrap next-run">')[1].split("</tr>")[0]
    next_run, last_run = (strip_tags(cell) for cell in row.split("</td>")[:2])
    detail = client.get(reverse("announcements:detail", args=[announcement.pk])).content
    head = strip_tags(detail.decode().split('id="announcement-head"')[1].split("</p>")[1])
    heading = strip_tags(detail.decode().split('class="run-head"')[1].split("</strong>")[0])

    with timezone.override("America/New_York"):
        assert _shown_as_clock_time(next_run, ahead), next_run
        assert _shown_as_clock_time(last_run, ago), last_run
        assert _shown_as_clock_time(head.split("America/New_York")[1], ahead), head
        assert _shown_as_clock_time(heading, ago), heading
    assert "America/New_York" in next_run, next_run


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("ago", [TODAY, OLDER], ids=["3h-ago", "3d-ago"])
def test_the_audit_filters_accepted_since_line_reads_as_the_console_does(
    operator_client, ago, language
):
    """The dashboard's "failed (24 h)" link filters by a moment: the line said it as
    "2026-12-07 09:00:00", date and seconds, beside "09:00" everywhere else."""
    since = _moment(ago)
    operator_client.cookies["django_language"] = language

    page = operator_client.get(reverse("console:audit"), {"since": since.isoformat()})

    line = strip_tags(page.content.decode().split('id="filter-since">')[1].split("·")[0])
    assert _shown_as_clock_time(line, since), line
    assert f"{timezone.localtime(since):%H:%M:%S}" not in line, line
    assert line.startswith({"zh-hans": "受理时间不早于 ", "en": "Accepted since "}[language])
