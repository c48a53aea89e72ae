"""One estimate of a run's time, on the compose page and the announcement's page alike:
behind the bot's backlog for a run starting now, the pace alone for a later run."""

import json

import pytest
from django.utils import timezone

from announcements.models import Announcement
from messaging.sending import accept_outbound

ESTIMATE = "/console/announcements/estimate/"


def queue_earlier_messages(bot, groups) -> None:
    for group in groups:  # the bot's pace is shared: these go first
        accept_outbound(
            bot=bot,
            conversation_id=group.conversation_id,
            body={"msgtype": "text", "text": {"content": "earlier"}},
            source="api",
        )


def shown_estimate(client, announcement) -> str:
    html = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    return html.split('id="run-estimate">')[1].split("</p>")[0]


def compose_estimate(client, bot, n: int, kind: str) -> str:
    response = client.get(ESTIMATE, {"bot": bot.pk, "n": n, "kind": kind})
    assert response.status_code == 200
    return json.loads(response.content)["text"]


@pytest.mark.parametrize(
    ("kind", "schedule", "said"),
    [
        # Sent now: behind the 3 messages queued before it, 5 messages at 20/min.
        ("now", {}, "排在该机器人已在等待的 3 条消息之后：约 15 秒"),
        # A later run (three days ahead, whatever the day the test runs: on the run's own
        # day, just after its time, it is due now): its own 2 messages at 20/min; today's
        # backlog is not its own.
        ("weekly", {"time": "09:00", "weekdays": "in three days"}, "每分钟 20 条：约 6 秒"),
    ],
)
def test_the_backlog_counts_only_for_a_run_starting_now_on_both_pages_in_the_same_words(
    client, superuser, bot, make_groups, make_announcement, kind, schedule, said
):
    if schedule.get("weekdays") == "in three days":
        schedule = {**schedule, "weekdays": [(timezone.localdate().weekday() + 3) % 7]}
    bot.rate_limit_per_minute = 20
    bot.save()
    groups = make_groups(bot, 5)
    queue_earlier_messages(bot, groups[:3])
    client.force_login(superuser)

    composed = compose_estimate(client, bot, 2, kind)
    announcement = make_announcement(bot, groups[3:], kind=kind, schedule=schedule)
    shown = shown_estimate(client, announcement)

    assert composed == shown
    assert said in shown


def test_the_compose_estimate_is_said_in_english_too(client, superuser, bot):
    bot.rate_limit_per_minute = 20
    bot.save()
    client.force_login(superuser)
    client.cookies["django_language"] = "en"

    assert compose_estimate(client, bot, 1, "now") == "1 recipient at 20/min: about 3 seconds."
    assert compose_estimate(client, bot, 0, "now") == ""


def test_the_compose_estimate_is_only_for_the_operators_bots(client, bot, make_bot, make_operator):
    other = make_bot(name="rival")
    client.force_login(make_operator("alice", bot))

    assert client.get(ESTIMATE, {"bot": other.pk, "n": 3}).status_code == 404
    assert client.get(ESTIMATE, {"bot": bot.pk, "n": "-1"}).status_code == 404
    assert client.get(ESTIMATE, {"bot": bot.pk, "n": 3}).status_code == 200


@pytest.mark.parametrize("ending", ["finished", "cancelled"])
def test_an_announcement_with_no_run_to_come_says_no_run_time(
    client, superuser, bot, make_groups, make_announcement, ending
):
    """A cancelled or sent announcement's page went on saying "2 recipients at 20/min:
    about 6 seconds.", the time of a run that will not come."""
    bot.rate_limit_per_minute = 20
    bot.save()
    announcement = make_announcement(
        bot, make_groups(bot, 2), kind="daily", schedule={"time": "09:00"}
    )
    client.force_login(superuser)
    assert "约 6 秒" in shown_estimate(client, announcement)
    if ending == "cancelled":
        client.post(f"/console/announcements/{announcement.pk}/cancel/")
    else:
        Announcement.objects.filter(pk=announcement.pk).update(
            status=Announcement.Status.FINISHED, next_run_at=None
        )

    html = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    assert Announcement.objects.get(pk=announcement.pk).status == ending
    assert 'id="run-estimate"' not in html and "每分钟 20 条" not in html
