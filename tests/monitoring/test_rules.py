# The shipped Prometheus rules and Grafana dashboard (contactcenter/monitoring/): promtool
# checks the rules and runs their unit tests (rules_test.yml); the dashboard draws only
# recording rules (so what it shows is what those tests check), and the rules read only
# metrics that /metrics exports, under the names and bucket bounds Metrics writes.
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter.core import Engine
from contactcenter.live.metrics import Metrics
from tests.scrape import Samples

MONITORING = Path(__file__).resolve().parents[2] / "contactcenter" / "monitoring"
RULES = MONITORING / "prometheus" / "rules.yml"
RULES_TEST = MONITORING / "prometheus" / "rules_test.yml"
DASHBOARD = MONITORING / "grafana" / "dashboard.json"
SL_THRESHOLD_S = 20.0  # the controller's, which the rules' le="20.0" stands for
METRIC_NAME = re.compile(r"\bcc_[a-z0-9_]+")
ALERTS = {
    "CcServiceLevelUnderTarget",
    "CcAmiLinkDown",
    "CcAllLinesBusy",
    "CcCallbacksPendingTooLong",
    "CcOperatorsStuckUnreachable",
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian package prometheus) is not installed: scripts/setup.sh installs it")
    return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True, timeout=120)


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def recorded() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard, rows' panels included."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


def fresh_metrics() -> Metrics:
    """The metrics of a centre with one skill and no call yet."""
    engine = Engine(lines=10)
    return Metrics(
        snapshot=lambda: engine.snapshot(0.0),
        counters={},
        ami_connected=lambda: True,
        sl_threshold_s=SL_THRESHOLD_S,
        skills=("info",),
        languages=("ca",),
    )


def exported_names() -> set[str]:
    """Every series name /metrics can have (from a fresh centre's exposition, with the
    names of families that have no series yet)."""
    metrics = fresh_metrics()
    names: set[str] = set()
    for family in metrics.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_promtool_checks_the_rules() -> None:
    run = promtool("check", "rules", RULES)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    run = promtool("test", "rules", RULES_TEST)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_unit_tests_fail_when_an_alert_threshold_moves(tmp_path: Path) -> None:
    # The same tests against a rules file whose SL target is 0.4 instead of 0.8: the
    # tributs alert (SL 0.5) must then be missing, and promtool must say so.
    text = RULES.read_text()
    assert "cc:service_level:ratio_rate5m < 0.8" in text
    (tmp_path / "rules.yml").write_text(
        text.replace("cc:service_level:ratio_rate5m < 0.8", "cc:service_level:ratio_rate5m < 0.4")
    )
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    run = promtool("test", "rules", tmp_path / "rules_test.yml")
    assert run.returncode != 0 and "CcServiceLevelUnderTarget" in run.stdout + run.stderr


def test_the_alerts_are_the_issues_and_each_is_tested_firing_and_silent() -> None:
    assert {rule["alert"] for rule in rules() if "alert" in rule} == ALERTS
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in ALERTS:
        expected = [case.get("exp_alerts", []) for case in cases if case["alertname"] == alert]
        assert any(expected), f"{alert} is never shown firing"
        assert any(not alerts for alerts in expected), f"{alert} is never shown silent"


def test_the_rules_read_only_metrics_that_metrics_exports() -> None:
    exported = exported_names()
    used = {name for rule in rules() for name in METRIC_NAME.findall(rule["expr"])}
    assert used and used <= exported, used - exported


def test_the_service_level_rules_use_the_bucket_metrics_writes_at_the_threshold() -> None:
    metrics = fresh_metrics()
    written = {
        s.labels["le"]
        for s in Samples(metrics.exposition().decode()).all
        if s.name == "cc_call_wait_seconds_bucket"
    }
    for name in ("cc:service_level:ratio_rate5m", "cc:service_level_centre:ratio_rate5m"):
        (le,) = re.findall(r'le="([^"]+)"', recorded()[name])
        assert le in written and float(le) == SL_THRESHOLD_S


def test_the_dashboard_draws_recording_rules_only_and_every_one_of_them() -> None:
    records = recorded()
    exprs = list(dashboard_exprs())
    assert exprs
    for title, expr in exprs:
        assert expr.strip() in records, f"panel {title!r}: {expr!r} is no recording rule of rules.yml"
    assert {expr for _, expr in exprs} == set(records), set(records) - {expr for _, expr in exprs}


def test_the_dashboard_has_queues_operators_service_level_waits_and_lines() -> None:
    doc = json.loads(DASHBOARD.read_text())
    rows = {panel["title"] for panel in doc["panels"] if panel["type"] == "row"}
    assert {"Queues", "Operators", "Service level", "Waits", "Lines"} <= rows
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
