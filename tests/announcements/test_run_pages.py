"""The detail page lists an announcement's runs twenty at a time, newest first, and any of
its runs can be opened by its id (?run=), on the page of runs that lists it."""

import html
import re
from datetime import timedelta

import pytest

from announcements.models import AnnouncementRun
from messaging.models import Message
from tests.announcements.test_finished_runs import hourly_runs, set_statuses
from tests.counted_queries import get_counting_queries


@pytest.fixture
def many_runs(bot, make_groups, make_announcement, superuser, client):
    """An hourly announcement with 45 runs: the oldest sent two messages, one failed."""
    announcement, (oldest,) = hourly_runs(bot, make_groups(bot, 2), make_announcement, 1)
    set_statuses(oldest, "sent", "failed")
    AnnouncementRun.objects.bulk_create(
        AnnouncementRun(
            announcement=announcement,
            scheduled_for=oldest.scheduled_for + timedelta(hours=hour),
            started_at=oldest.scheduled_for + timedelta(hours=hour),
            status=AnnouncementRun.Status.SENDING,
            recipient_total=0,  # as every run started since it exists (scheduler._start_run)
            fanned_out_at=oldest.scheduled_for + timedelta(hours=hour),
        )
        for hour in range(1, 45)
    )
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    runs = list(announcement.runs.order_by("-scheduled_for"))
    return announcement, runs


RUN_LINK = re.compile(r'class="panel run[^"]*">\s*<div class="run-head">\s*<a href="([^"]*)"')


def run_links(response) -> list[str]:
    return [html.unescape(href) for href in RUN_LINK.findall(response.content.decode())]


def listed(response) -> list[int]:
    """The ids of the runs a page lists, newest first."""
    return [int(re.search(r"run=(\d+)", href).group(1)) for href in run_links(response)]


def link(response, label: str) -> str | None:
    found = re.search(r'href="([^"]*)">(?:← )?' + re.escape(label), response.content.decode())
    return html.unescape(found.group(1)) if found else None


def test_the_runs_are_listed_twenty_at_a_time_and_older_runs_lead_on(many_runs, client):
    announcement, runs = many_runs
    detail = f"/console/announcements/{announcement.pk}/"

    newest_queries = get_counting_queries(client, detail)
    newest = newest_queries.response
    older = link(newest, "Older runs")
    second_queries = get_counting_queries(client, detail + older)
    second = second_queries.response
    third = client.get(detail + link(second, "Older runs"))

    assert listed(newest) == [r.pk for r in runs[:20]]
    assert listed(second) == [r.pk for r in runs[20:40]]
    assert listed(third) == [r.pk for r in runs[40:]]
    assert link(newest, "Jump to latest") is None
    assert link(third, "Older runs") is None
    assert listed(client.get(detail + link(third, "Jump to latest"))) == listed(newest)
    # Each page opens on its own newest run, and reads as many rows as the first.
    assert second.context["run"] == runs[20]
    assert len(second_queries) == len(newest_queries)


def test_an_older_run_opened_by_its_id_shows_its_recipients_and_its_retry(many_runs, client):
    """Only the 20 newest runs were read: ?run=<older id> showed the newest run instead,
    and "Retry failed" of an older run could not be reached."""
    announcement, runs = many_runs
    oldest = runs[-1]
    detail = f"/console/announcements/{announcement.pk}/"

    response = client.get(detail, {"run": oldest.pk}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain[0][0] == f"{detail}?run={oldest.pk}&before={runs[-2].pk}"
    assert response.context["run"] == oldest
    assert listed(response) == [oldest.pk]
    assert 'class="panel run current"' in page and "1 sent · 1 failed" in page
    assert page.count("data-msgid=") == 2
    assert f'name="run" value="{oldest.pk}"' in page and "Retry failed" in page

    retried = client.post(f"{detail}retry/", {"run": oldest.pk})

    assert retried.url == f"{detail}?run={oldest.pk}"
    assert sorted(
        Message.objects.filter(announcement_run=oldest).values_list("status", flat=True)
    ) == ["queued", "sent"]


def test_a_run_on_the_page_shown_opens_in_place(many_runs, client):
    announcement, runs = many_runs
    detail = f"/console/announcements/{announcement.pk}/"
    second = client.get(detail, {"before": runs[19].pk})

    chosen = client.get(detail + run_links(second)[3])

    assert chosen.status_code == 200
    assert chosen.context["run"] == runs[23]
    assert listed(chosen) == listed(second)


def test_a_run_of_another_announcement_or_no_id_at_all_is_not_found(
    many_runs, client, bot, make_groups, make_announcement
):
    announcement, _runs = many_runs
    other, (foreign,) = hourly_runs(bot, make_groups(bot, 1, prefix="wrX"), make_announcement, 1)
    detail = f"/console/announcements/{announcement.pk}/"

    assert client.get(detail, {"run": foreign.pk}).status_code == 404
    assert client.get(detail, {"run": "abc"}).status_code == 404
    assert client.get(detail, {"run": "\x00"}).status_code == 404
    assert client.get(detail, {"run": "99999999999999999999999"}).status_code == 404
    assert client.get(f"/console/announcements/{other.pk}/", {"run": foreign.pk}).status_code == 200


def test_an_older_page_with_nothing_left_says_so_and_leads_back(many_runs, client):
    announcement, runs = many_runs
    detail = f"/console/announcements/{announcement.pk}/"

    past_the_end = client.get(detail, {"before": runs[-1].pk})
    not_a_run = client.get(detail, {"before": "\x00"})

    assert past_the_end.status_code == 200 and listed(past_the_end) == []
    assert "No older run." in past_the_end.content.decode()
    assert link(past_the_end, "Jump to latest") == "?"
    assert listed(not_a_run) == [r.pk for r in runs[:20]]


def test_the_live_refresh_of_an_older_page_keeps_its_links_plain(many_runs, client):
    """The page refreshes its runs with ?partial=runs: its links must not carry that."""
    announcement, runs = many_runs
    partial = client.get(
        f"/console/announcements/{announcement.pk}/", {"before": runs[19].pk, "partial": "runs"}
    )

    assert partial.status_code == 200 and listed(partial) == [r.pk for r in runs[20:40]]
    assert "partial" not in "".join(re.findall(r'href="([^"]*)"', partial.content.decode()))


def recipients_listed(response) -> list[int]:
    """The conversations of the recipients a page lists, in order."""
    msgids = re.findall(r'<tr data-msgid="([^"]+)"', response.content.decode())
    by_msgid = dict(Message.objects.filter(msgid__in=msgids).values_list("msgid", "conversation"))
    return [by_msgid[msgid] for msgid in msgids]


def test_a_runs_recipients_are_paged_by_conversation_at_the_same_cost_deep_in_the_list(
    bot, make_groups, make_announcement, client, superuser
):
    """The recipients were Django's Paginator sorted by name: a COUNT and, deep in a big
    run, an OFFSET reading every recipient above the page."""
    groups = make_groups(bot, 250)
    announcement, (run,) = hourly_runs(bot, groups, make_announcement, 1)
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    detail = f"/console/announcements/{announcement.pk}/"

    first_queries = get_counting_queries(client, detail)
    first = first_queries.response
    second_queries = get_counting_queries(client, detail + link(first, "Next"))
    second = second_queries.response
    third = client.get(detail + link(second, "Next"))
    back = client.get(detail + link(third, "‹ Previous"))

    ids = [group.pk for group in groups]
    assert recipients_listed(first) == ids[:100]
    assert recipients_listed(second) == ids[100:200]
    assert recipients_listed(third) == ids[200:]
    assert link(first, "‹ Previous") is None and link(third, "Next") is None
    assert recipients_listed(back) == ids[100:200]
    assert recipients_listed(client.get(detail + link(back, "‹ Previous"))) == ids[:100]
    assert "250 recipients" in second.content.decode()
    assert f"run={run.pk}" in link(first, "Next")
    assert len(second_queries) == len(first_queries) > 0
    read = [q["sql"] for q in second_queries if '"announcement_run_id" =' in q["sql"]]
    assert read and not any("OFFSET" in sql.upper() for sql in read)


def test_a_recipient_cursor_past_the_end_or_made_up_gives_the_first_page(
    bot, make_groups, make_announcement, client, superuser
):
    announcement, (run,) = hourly_runs(bot, make_groups(bot, 3), make_announcement, 1)
    client.force_login(superuser)
    detail = f"/console/announcements/{announcement.pk}/"
    first = recipients_listed(client.get(detail))

    for cursor in ("99999999999999999999", "\x00", "-1", str(first[-1])):
        for name in ("recipients_after", "recipients_before"):
            response = client.get(detail, {name: cursor})
            assert response.status_code == 200
            assert recipients_listed(response) == first
