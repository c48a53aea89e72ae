"""docs/grafana-dashboard.json queries only series /metrics exports: a renamed or
misspelt metric would leave a panel empty without a word."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from botadmin import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\bbotadmin_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def series_names(family) -> set[str]:
    return {family.name + suffix for suffix in SUFFIXES[family.type]}


def exported_families(text: str) -> list:
    """What a scrape can answer: the counters and histograms botadmin/metrics.py defines
    (in a scrape only once something was counted) and every collector's families."""
    defined = [
        family
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    ]
    return defined + list(text_string_to_metric_families(text))


def queried_series() -> set[str]:
    return set(METRIC_NAME.findall(DASHBOARD.read_text()))


@pytest.fixture
def families(transactional_db, settings) -> list:
    """The families of a scrape (its sources are read on other threads: committed rows)."""
    settings.BOTADMIN_METRICS_TOKEN = "metrics-token-for-tests"
    return exported_families(metrics.exposition().decode())


def test_every_series_the_dashboard_queries_is_exported(families):
    exported = {name for family in families for name in series_names(family)}

    assert {"botadmin_scrape_source_up", "botadmin_aibot_inbox_unstored"} <= exported
    assert queried_series() - exported == set()


def test_every_exported_metric_but_the_media_fetches_has_a_panel(families):
    queried = queried_series()
    # The media archive's fetches are in docs/monitoring.md's metrics table only.
    without_panel = {"botadmin_media_fetches"}

    missing = {
        family.name
        for family in families
        if family.name not in without_panel and not series_names(family) & queried
    }
    assert missing == set()


def test_panels_have_unique_ids_and_do_not_overlap():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells = [
        (panel["id"], x, y)
        for panel in panels
        for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
        for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
    ]
    assert len({(x, y) for _, x, y in cells}) == len(cells)
    for panel in panels:
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
