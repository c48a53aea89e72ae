"""The audit page's download of the operator actions: only the entries the operator may
read, with the page's filters (audit/export.py)."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from audit.models import OperatorAction
from audit.services import record_action


def _entry(actor, action, bot=None, **fields):
    return record_action(actor, action, bot=bot, **fields)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_consoles_download_holds_only_the_operators_bots_entries(
    operator_client, operator, bot, other_bot, monkeypatch
):
    monkeypatch.setattr("audit.export.BATCH_SIZE", 2)
    mine = [_entry(operator, "secret.rotate", bot, summary=f"#{n}") for n in range(5)]
    _entry(None, "bot.update", other_bot, summary="theirs")
    _entry(None, "user.create", summary="no bot: superusers only")
    url = reverse("console:operator_actions_csv")

    response = operator_client.get(url)

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(b"".join(response.streaming_content).decode())
    assert [int(row["id"]) for row in rows] == [e.pk for e in reversed(mine)]
    recorded = OperatorAction.objects.get(action="audit.export")
    assert recorded.actor == operator and recorded.bot is None

    another = _rows(
        b"".join(operator_client.get(url, {"bot": other_bot.pk}).streaming_content).decode()
    )
    assert another == []
    assert OperatorAction.objects.filter(action="audit.export", bot=other_bot).count() == 0


def test_the_download_keeps_the_pages_filters(operator_client, operator, bot):
    _entry(operator, "secret.rotate", bot)
    kept = _entry(operator, "bot.update", bot)
    page = operator_client.get(reverse("console:operator_actions"), {"action": "bot.update"})
    link = reverse("console:operator_actions_csv") + "?action=bot.update"
    assert link in page.content.decode()

    rows = _rows(b"".join(operator_client.get(link).streaming_content).decode())

    assert [int(row["id"]) for row in rows] == [kept.pk]
