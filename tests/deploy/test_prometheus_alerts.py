"""deploy/prometheus/botadmin-alerts.yml queries only series /metrics exports, by labels
those series have: a renamed metric or a misspelt label would leave an alert that never
fires, without a word. promtool, where installed, checks the rules and runs their unit
tests (tests/deploy/prometheus/)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from django.core.cache import cache
from prometheus_client.metrics import MetricWrapperBase

from botadmin import health, metrics
from connectors import aibot_inbox
from devtools.processes import ROOT
from forwarding.models import WebhookEndpoint
from tests.botadmin.test_metrics_dashboard import exported_families, series_names

RULES = ROOT / "deploy/prometheus/botadmin-alerts.yml"
RULE_TESTS = ROOT / "tests/deploy/prometheus/botadmin-alerts.test.yml"
METRIC_NAME = re.compile(r"\bbotadmin_[a-z0-9_]+\b")
# Labels Prometheus gives every series it scrapes (docs/monitoring.md's scrape config).
TARGET_LABELS = {"job", "instance"}


def alerting_rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def labels_named(rule: dict) -> set[str]:
    """Labels the expression matches, groups or joins on, and the annotations show."""
    expr = rule["expr"]
    named = set(re.findall(r"\b([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expr))
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        named |= {label.strip() for label in group.split(",") if label.strip()}
    for text in rule.get("annotations", {}).values():
        named |= set(re.findall(r"\$labels\.([a-z_]+)", text))
    return named


@pytest.fixture
def exported(transactional_db, settings, make_bot) -> dict[str, set[str]]:
    """Each series a scrape can answer, with its labels: every source has something to
    say (a bot, an AI bot and its connection, an endpoint, a heartbeat, a gateway's backlog)."""
    settings.BOTADMIN_METRICS_TOKEN = "metrics-token-for-tests"
    bot = make_bot()
    make_bot(connector="wecom_aibot", connector_settings={"bot_id": "b1", "bot_secret": "s"})
    WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    health.record_heartbeat("worker")
    health.record_heartbeat("scheduler", beside=["worker"])
    aibot_inbox.report_backlog("host-a:1:aa", unstored=1, orphaned=0)
    try:
        families = exported_families(metrics.exposition().decode())
    finally:
        health.forget_heartbeat("worker")
        health.forget_heartbeat("scheduler", beside=["worker"])
        cache.delete(aibot_inbox.BACKLOG_KEY)
    labels = {
        family.name: set(metric._labelnames)
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    }
    series = {}
    for family in families:
        known = labels.get(family.name, set()) | {
            label for sample in family.samples for label in sample.labels if label != "le"
        }
        for name in series_names(family):
            series[name] = series.get(name, set()) | known
    return series


def test_the_alerts_query_series_botadmin_exports_by_labels_they_have(exported):
    rules = alerting_rules()
    assert {
        "BotadminScrapeSourceDown",
        "BotadminMessagesFailed",
        "BotadminMessagesUncertain",
        "BotadminQueueStuck",
        "BotadminPausedBotQueue",
        "BotadminWebhookEndpointDisabled",
        "BotadminAibotInboxUnstored",
        "BotadminHeartbeatStale",
        "BotadminSchedulerQueueShared",
        "BotadminBotReconnecting",
        "BotadminBotNotConnected",
        "BotadminBotCredentialsRefused",
        "BotadminBotConnectionTakenOver",
        "BotadminBotConnectionFlapping",
    } <= {rule["alert"] for rule in rules}

    for rule in rules:
        queried = set(METRIC_NAME.findall(rule["expr"]))
        assert queried - set(exported) == set(), rule["alert"]
        available = TARGET_LABELS.union(*(exported[name] for name in queried))
        assert labels_named(rule) - available == set(), rule["alert"]


def test_every_alert_says_how_bad_and_what_happened():
    for rule in alerting_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_monitoring_docs_point_at_the_rules():
    assert "deploy/prometheus/botadmin-alerts.yml" in (ROOT / "docs/monitoring.md").read_text()


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: the prometheus package)")
    checked = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
