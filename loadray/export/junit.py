"""``--junit PATH``: a run's verdicts as JUnit XML, for CI test reports.

One ``<testsuite name="loadray.<scenario>">`` in a ``<testsuites>`` root: one
``<testcase>`` per threshold (``name`` the expression, ``classname``
``loadray.<scenario>.thresholds``), its measured value in ``<system-out>`` and, when
it failed, in a ``<failure message="...">``. When the run itself failed beside its
thresholds (the generator failed, nothing succeeded, a worker was lost, it was aborted),
one more test case ``run`` (classname ``loadray.<scenario>``) fails with that line; an
interrupted run gets it ``skipped``. The suite's properties carry the run's counts.
Written with the standard library (xml.etree), read by any JUnit parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

__all__ = ["junit_xml"]

_PROPERTIES = ("intended", "sent", "ok", "errors", "error_rate", "rate", "duration_s")


def junit_xml(summary: Mapping[str, Any]) -> str:
    """The JUnit XML document of ``summary`` (summary.json as a dict)."""
    name = str(summary.get("name") or "run")
    cases = [_threshold_case(name, t) for t in summary.get("thresholds") or []]
    run_case = _run_case(name, summary)
    if run_case is not None:
        cases.append(run_case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
              "time": _seconds(summary.get("duration_s"))}
    root = ET.Element("testsuites", {"name": "loadray", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"loadray.{name}", **counts,
                                               "timestamp": str(summary.get("started_at") or "")})
    properties = ET.SubElement(suite, "properties")
    for key in _PROPERTIES:
        ET.SubElement(properties, "property", {"name": key, "value": str(summary.get(key))})
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _threshold_case(name: str, result: Mapping[str, Any]) -> ET.Element:
    from loadray.report.text import format_threshold_value  # the terminal's units

    expr = str(result.get("expr"))
    measured = format_threshold_value(expr, result.get("value"))
    case = ET.Element("testcase", {"name": expr, "classname": f"loadray.{name}.thresholds", "time": "0"})
    if not result.get("passed"):
        failure = ET.SubElement(case, "failure", {"message": f"{expr} failed: measured {measured}",
                                                  "type": "threshold"})
        failure.text = f"measured {measured} (value {result.get('value')!r})"
    ET.SubElement(case, "system-out").text = f"measured {measured} (value {result.get('value')!r})"
    return case


def _run_case(name: str, summary: Mapping[str, Any]) -> ET.Element | None:
    """The run's own verdict, when something beside the thresholds decided it."""
    found = [summary.get(k) for k in ("generator_error", "nothing_succeeded", "archive_damaged", "aborted")]
    if summary.get("workers_lost"):
        found.append(f"workers lost: {summary['workers_lost']}")
    reasons = [str(r) for r in found if r]
    interrupted = summary.get("interrupted")
    if not reasons and not interrupted:
        return None
    case = ET.Element("testcase", {"name": "run", "classname": f"loadray.{name}",
                                   "time": _seconds(summary.get("duration_s"))})
    if reasons:
        failure = ET.SubElement(case, "failure", {"message": reasons[0], "type": "run"})
        failure.text = "\n".join(reasons)
    else:
        ET.SubElement(case, "skipped", {"message": f"interrupted ({interrupted}): judged on the part that ran"})
    return case


def _seconds(value: Any) -> str:
    return f"{float(value or 0):.3f}"
