"""bench/history.py --dashboard checks its target (p95 <= 100 ms, docs/performance.md's
current figures) and exits 1 when it is missed, as the full bench does."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_dashboard(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # it imports bench/history.py's helpers
    path = BENCH / "history_dashboard.py"
    spec = importlib.util.spec_from_file_location("bench_history_dashboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dashboard_within_its_budget_at_every_size_misses_nothing(monkeypatch, capsys):
    bench = _bench_dashboard(monkeypatch)
    results = {
        "100k": {"dashboard: all bots": [20.0, 40.0, 28_000]},
        "1m": {"dashboard: all bots": [30.0, 60.0, 28_000]},
    }

    assert bench.compare(results) == []
    assert "ok" in capsys.readouterr().out


def test_a_p95_over_the_budget_at_any_size_is_a_missed_target(monkeypatch):
    bench = _bench_dashboard(monkeypatch)
    results = {
        "100k": {"dashboard: all bots": [20.0, 219.0, 28_000], "dashboard: one bot": [9, 20, 1]},
        "1m": {"dashboard: all bots": [30.0, 60.0, 28_000], "dashboard: one bot": [9, 20, 1]},
    }

    failures = bench.compare(results)

    assert failures == ["dashboard: all bots: p95 219 ms > 100 ms at 100k"]
    assert bench.verdict(failures) == 1
