"""dashboards/loadray.json (Grafana) asks only for what /metrics exposes: every metric
name in a panel or variable query is one the exporter serves, with the labels the
query selects or groups by; promtool (when installed) parses every expression."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from loadray.live import LiveStatus, MetricsServer
from loadray.live.metrics import RunLabels
from promql import samples, scrape_text
from test_live_metrics import rows

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "loadray.json"
METRIC = re.compile(r"\b(loadray_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?")
LABEL_MATCH = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
VARIABLES = {"$__rate_interval": "1m", "$run": ".*", "$step": ".*", "$scenario": ".*"}


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, from a real scrape of an exporter fed rows and a
    closed-model status (every family present)."""
    server = MetricsServer(0, labels=RunLabels("r", "s"))
    server.start()
    try:
        server.observe(rows(["a", "b"], np.array([1e6, 2e6]), status=[200, 500], error=[None, "http_5xx"]))
        server.update(LiveStatus(state="running", users=5))
        text = scrape_text(server.url)
    finally:
        server.stop()
    names: dict[str, set[str]] = {}
    for name, labels, _ in samples(text):
        names.setdefault(name, set()).update(labels)
    return names


def expressions(doc: dict) -> list[str]:
    found = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            found.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query["query"]))
    return found


def test_every_expression_uses_only_exported_metrics_and_labels():
    doc = json.loads(DASHBOARD.read_text())
    names = exported()
    exprs = expressions(doc)
    assert len(exprs) >= 20
    used = set()
    for expr in exprs:
        metrics = METRIC.findall(expr)
        assert metrics, expr
        for name, selector in metrics:
            assert name in names, f"{name} is not exported (in {expr!r})"
            used.add(name)
            for label in LABEL_MATCH.findall(selector):
                assert label in names[name], f"{name} has no label {label!r} (in {expr!r})"
        inner = set.union(*(names[n] for n, _ in metrics))
        for group in GROUPING.findall(expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                assert label in inner, f"no label {label!r} to group by (in {expr!r})"
    # the dashboard shows every family the exporter has
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
    shown = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}
    assert families == shown, families - shown


def test_panels_are_well_formed():
    doc = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        assert p["datasource"]["uid"] == "${datasource}" and p["title"]
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert [t["refId"] for t in p["targets"]] == [chr(65 + i) for i in range(len(p["targets"]))]
    assert [v["name"] for v in doc["templating"]["list"]] == ["datasource", "scenario", "run", "step"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (apt-get install -y prometheus)")
def test_promtool_parses_every_expression(tmp_path):
    doc = json.loads(DASHBOARD.read_text())
    rules = []
    for i, expr in enumerate(expressions(doc)):
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        rules.append({"record": f"loadray:check_{i}", "expr": expr})
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
