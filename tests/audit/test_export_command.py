"""`manage.py export_audit_log`: the operator-action log as CSV, with its filters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import OperatorAction
from audit.services import record_action


def _entry(actor, action, bot=None, days_old=0, **fields):
    entry = record_action(actor, action, bot=bot, **fields)
    OperatorAction.objects.filter(pk=entry.pk).update(
        created_at=timezone.now() - timedelta(days=days_old)
    )
    return entry


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_command_writes_the_entries_of_a_period_newest_first(tmp_path, make_bot, superuser):
    bot = make_bot(name="archive")
    _entry(superuser, "secret.rotate", bot, days_old=40)
    inside = [
        _entry(superuser, "bot.update", bot, days_old=20, summary="=cmd()", details={"a": 1}),
        _entry(None, "contacts.sync", bot, days_old=10),
    ]
    _entry(superuser, "bot.update", bot, days_old=1)
    since = (timezone.localdate() - timedelta(days=30)).isoformat()
    before = (timezone.localdate() - timedelta(days=5)).isoformat()
    output = tmp_path / "audit.csv"

    call_command("export_audit_log", "--since", since, "--before", before, "-o", str(output))

    rows = _rows(output.read_text(encoding="utf-8"))
    assert [int(row["id"]) for row in rows] == [e.pk for e in reversed(inside)]
    assert rows[1]["operator"] == superuser.username and rows[1]["bot"] == "archive"
    assert rows[1]["action"] == "bot.update" and rows[1]["operation"]
    assert rows[1]["summary"] == "'=cmd()" and rows[1]["details"] == '{"a": 1}'
    assert rows[0]["operator"] == ""
    recorded = OperatorAction.objects.get(action="audit.export")
    assert recorded.details["count"] == 2 and recorded.details["via"] == "command line"
    assert recorded.details["filters"]["since"].startswith(since)


def test_the_command_filters_by_bot_and_action(capsys, make_bot, superuser):
    ours, theirs = make_bot(name="ours"), make_bot(name="theirs")
    kept = _entry(superuser, "secret.rotate", ours)
    _entry(superuser, "bot.update", ours)
    _entry(superuser, "secret.rotate", theirs)

    call_command("export_audit_log", "--bot", "ours", "--action", "secret.rotate")

    rows = _rows(capsys.readouterr().out)
    assert [int(row["id"]) for row in rows] == [kept.pk]


def test_the_command_refuses_an_unknown_bot_or_a_bad_date(db):
    with pytest.raises(CommandError, match="No bot"):
        call_command("export_audit_log", "--bot", "nobody")
    with pytest.raises(CommandError, match="--since"):
        call_command("export_audit_log", "--since", "yesterday")
