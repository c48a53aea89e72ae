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


def test_the_download_says_each_summary_in_the_operators_language_as_the_page_does(
    operator_client, operator, bot
):
    """Its `summary` column read "Exported the operator actions as CSV in the console." in
    a Chinese console: it is now the page's description, in the downloading operator's
    language; the English recorded with the entry follows the other columns."""
    _entry(operator, "bot.update", bot, target=bot, summary="timezone, rate_limit_per_minute")
    _entry(operator, "secret.rotate", bot, target=bot)

    def download(**filters) -> list[dict]:
        url = reverse("console:operator_actions_csv")
        return _rows(b"".join(operator_client.get(url, filters).streaming_content).decode())

    chinese = download(bot=bot.pk)
    operator_client.cookies["django_language"] = "en"
    english = download(bot=bot.pk)

    export, rotation, update = chinese  # newest first: the download's own entry first
    assert (export["action"], export["operation"]) == ("audit.export", "导出了审计日志")
    assert export["summary"] == f"bot={bot.name} · 经控制台"
    assert export["summary_as_recorded"] == "Exported the operator actions as CSV in the console."
    assert (update["operation"], update["summary"]) == (
        "修改了机器人设置",
        "时区、发送频率上限（每分钟消息数）",
    )
    assert update["summary_as_recorded"] == "timezone, rate_limit_per_minute"
    assert [row["summary"] for row in english] == [
        f"bot={bot.name} · via the console",
        f"bot={bot.name} · via the console",  # the Chinese download, read in English
        "",
        "time zone, send rate limit (messages per minute)",
    ]


def test_an_export_filtered_by_an_operation_names_it_in_words(operator_client, operator, bot):
    _entry(operator, "secret.rotate", bot, target=bot)
    url = reverse("console:operator_actions_csv")

    rows = _rows(
        b"".join(
            operator_client.get(url, {"action": "secret.rotate", "bot": bot.pk}).streaming_content
        ).decode()
    )
    export = _rows(
        b"".join(
            operator_client.get(url, {"action": "audit.export", "bot": bot.pk}).streaming_content
        ).decode()
    )[-1]

    assert [row["action"] for row in rows] == ["secret.rotate"]
    assert export["summary"] == f"bot={bot.name}, action=轮换了密钥 · 经控制台"
