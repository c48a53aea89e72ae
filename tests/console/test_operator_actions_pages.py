"""The operator actions tab pages newest first by id (keyset: ?before= / ?after= an
action's id), so a page deep in a big log costs what the first one does: it was
Django's Paginator, a COUNT of the log and an OFFSET that read every newer action."""

import html
import re

import pytest
from django.urls import reverse

from audit.models import OperatorAction
from tests.counted_queries import get_counting_queries

URL = reverse("console:operator_actions")


@pytest.fixture
def actions(bot, operator):
    """120 actions about the bot, newest first."""
    OperatorAction.objects.bulk_create(
        OperatorAction(actor=operator, bot=bot, action="bot.update", summary=f"#{n}")
        for n in range(120)
    )
    return list(OperatorAction.objects.filter(bot=bot).order_by("-id"))


def listed(response) -> list[int]:
    return [row.pk for row in response.context["page"].rows]


def link(response, label: str) -> str | None:
    found = re.search(r'href="([^"]*)">(?:← )?' + re.escape(label), response.content.decode())
    return html.unescape(found.group(1)) if found else None


def test_older_and_newer_pages_lead_through_the_log(operator_client, actions):
    operator_client.cookies["django_language"] = "en"
    first_queries = get_counting_queries(operator_client, URL)
    first = first_queries.response
    second_queries = get_counting_queries(operator_client, URL + link(first, "Older actions"))
    second = second_queries.response
    third = operator_client.get(URL + link(second, "Older actions"))
    back = operator_client.get(URL + link(third, "Newer actions"))

    assert listed(first) == [a.pk for a in actions[:50]]
    assert listed(second) == [a.pk for a in actions[50:100]]
    assert listed(third) == [a.pk for a in actions[100:]]
    assert link(first, "Newer actions") is None and link(third, "Older actions") is None
    assert listed(back) == listed(second)
    assert listed(operator_client.get(URL + link(back, "Newer actions"))) == listed(first)
    assert link(third, "Jump to latest") == "?"
    # The same queries on a deeper page: no COUNT of the log, no OFFSET.
    assert len(second_queries) == len(first_queries) > 0
    log = " ".join(q["sql"] for q in second_queries if "audit_" in q["sql"])
    assert "audit_operatoraction" in log
    assert "OFFSET" not in log.upper() and "COUNT(" not in log.upper()


def test_pages_keep_the_filters_and_a_cursor_past_the_end_says_so(operator_client, actions, bot):
    operator_client.cookies["django_language"] = "en"
    filtered = operator_client.get(URL, {"bot": bot.pk, "action": "bot.update"})
    older = link(filtered, "Older actions")

    assert f"bot={bot.pk}" in older and "action=bot.update" in older
    past_the_end = operator_client.get(URL, {"before": actions[-1].pk})
    assert listed(past_the_end) == []
    assert "No older operator action." in past_the_end.content.decode()
    for made_up in ("99999999999999999999", "\x00", "abc"):  # the latest page
        response = operator_client.get(URL, {"after": made_up})
        assert response.status_code == 200 and listed(response) == listed(filtered)
