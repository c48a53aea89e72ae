"""A bot's state on its own, in a badge, starts with a capital in English as the
statuses beside it do ("Paused", "Running", "Inactive"); Chinese reads as before."""

import re
from datetime import timedelta

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason
from conversations.pauses import pause_bot


def badges(html: str) -> list[str]:
    return re.findall(r'class="badge[^"]*"[^>]*>([^<]+)</', html)


def test_the_bots_list_shows_each_sending_state_capitalised_in_english(
    operator_client, bot, make_bot, operator
):
    paused = make_bot(name="paused-bot")
    inactive = make_bot(name="old-bot", is_active=False)
    for other in (paused, inactive):
        other.operators.add(operator)
    pause_bot(paused.pk, "the agent refused the token", timezone.now())
    bots = reverse("console:bots")

    chinese = badges(operator_client.get(bots).content.decode())
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    english = badges(operator_client.get(bots).content.decode())

    assert {"已暂停", "正常", "已停用"} <= set(chinese)
    assert {"Paused", "Running", "Inactive"} <= set(english)
    assert not {"paused", "running", "inactive"} & set(english)
    page = operator_client.get(reverse("console:bot", args=[paused.pk])).content.decode()
    assert "Paused" in badges(page)


def test_a_connections_line_says_last_frame_and_its_error_as_a_sentence_in_english():
    now = timezone.now()
    connection = {
        "state": "retrying",
        "label": "Reconnecting",
        "last_frame_at": now - timedelta(minutes=3),
        "last_error": Reason(gettext_noop("the connection failed")),
    }
    with translation.override("en"):
        html = render_to_string("console/_connection.html", {"connection": connection})
    assert "· Last frame <time" in html
    assert ">The connection failed</div>" in html
    with translation.override("zh-hans"):
        html = render_to_string("console/_connection.html", {"connection": connection})
    assert "· 最近一帧 <time" in html
