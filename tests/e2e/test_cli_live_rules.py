"""``loadray validate`` accepts a live rule only on a metric judged live: a breaker or
an abort_on_fail threshold on any other is refused, one line naming the metric and its
YAML path, exit 2."""

from __future__ import annotations

import pytest
import yaml

SCENARIO = {
    "name": "rules",
    "target": "http://127.0.0.1:9",
    "load": {"phases": [{"duration": "30s", "rate": 100}]},
    "requests": [{"path": "/"}],
}


def write(tmp_path, **extra):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, **extra}))
    return path


@pytest.mark.parametrize(
    "extra, line",
    [
        ({"abort_when": ["service_p99 > 1ms for 2s", "cut > 0 for 2s"]},
         "abort_when[1]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
         "a breaker cannot stop the run on it; use it in thresholds instead"),
        ({"thresholds": ["cut < 5", {"threshold": "cut < 5", "abort_on_fail": True}]},
         "thresholds[1]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
         "abort_on_fail cannot stop the run on it; keep it without abort_on_fail"),
    ],
)
def test_a_live_rule_on_a_metric_not_judged_live_is_refused(cli, tmp_path, extra, line):
    done = cli("validate", write(tmp_path, **extra))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip() == f"loadray validate: error: {line}"
    assert "Traceback" not in done.stderr


def test_live_rules_on_service_time_and_flow_failures_validate(cli, tmp_path):
    done = cli("validate", write(
        tmp_path,
        abort_when=["service_p99 > 1ms for 2s", "flow_error_rate > 50% for 2s"],
        thresholds=[{"threshold": "service_p99 < 100ms", "abort_on_fail": True},
                    {"threshold": "flow_error_rate < 1%", "abort_on_fail": True}, "cut < 5"],
    ))
    assert done.returncode == 0, done.stderr
