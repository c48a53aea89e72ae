"""bench/history.py --run-page fills its database through the models: a small fill here, on
either backend, catches a field it no longer fills, and the pages it times show the runs
as the bench says they are."""

import importlib.util
from pathlib import Path

import pytest
from django.urls import reverse

from announcements.progress import runs_progress

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_run_page(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # it imports bench/history.py's helpers
    path = BENCH / "history_run_page.py"
    spec = importlib.util.spec_from_file_location("bench_history_run_page", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)  # PostgreSQL's VACUUM runs outside a transaction
def test_the_fill_makes_a_large_and_a_small_run_and_their_pages_show_them(client, monkeypatch):
    bench = _bench_run_page(monkeypatch)

    operator, large, small = bench.fill(groups=2_000)

    newest = {a.title: a.runs.order_by("-scheduled_for").first() for a in (large, small)}
    progress = runs_progress(list(newest.values()))
    assert progress[newest["large"].pk]["planned"] == 2_000
    assert progress[newest["large"].pk]["sent"] == 2 * bench.SENT
    assert progress[newest["large"].pk]["waiting"] == 2 * bench.WAITING
    assert progress[newest["small"].pk]["planned"] == bench.SMALL_RUN
    assert large.runs.count() == small.runs.count() == bench.OLDER_RUNS + 1
    client.force_login(operator)
    client.cookies["django_language"] = "en"
    for _key, _label, query in bench.PAGES:
        page = client.get(reverse("announcements:detail", args=[large.pk]) + query)
        assert page.status_code == 200
        undelivered = 2 * (bench.FAILED + bench.UNCERTAIN)
        assert f"{2 * bench.SENT} sent · {undelivered} failed" in page.content.decode()


def test_a_p95_over_the_budget_is_a_missed_target(monkeypatch):
    bench = _bench_run_page(monkeypatch)
    results = {("large", "run"): (40.0, 130.0), ("small", "run"): (20.0, 30.0)}

    assert bench.missed(results) == ["large: run: p95 130 ms > 100 ms"]
