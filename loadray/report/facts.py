"""The run's metadata as (label, value) pairs for the report's "run" table: scenario,
target, workers, start/end, schema and software versions, and what the live run
recorded (cluster nodes, lost workers, live events, abort reason), if it did."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

__all__ = ["arrivals_of", "run_events", "run_facts", "target_of", "versions"]

_PACKAGES = ("loadray", "ray", "numpy", "pyarrow", "pandas", "matplotlib")


def target_of(doc: Mapping[str, Any]) -> str:
    target = doc.get("target")
    if isinstance(target, Mapping):
        return "built-in target" if target.get("builtin") is not None or "url" not in target else str(target.get("url"))
    return "" if target is None else str(target)


def _iso(ns: int | None) -> str:
    if ns is None:
        return "-"
    dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def versions() -> str:
    """Python and the installed versions of loadray and its main libraries."""
    found = [f"python {platform.python_version()}"]
    for name in _PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_value(v) for v in value)
    return str(value)


def run_facts(
    summary: Mapping[str, Any],
    doc: Mapping[str, Any],
    start_ns: int | None,
    end_ns: int | None,
    info: Mapping[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """(label, text) rows describing the run; ``info`` is what the live run recorded
    (``RunMeta.record``: placement, lost workers, events...)."""
    load = doc["load"] if isinstance(doc.get("load"), Mapping) else {}
    phases = load.get("phases") or []
    facts = [
        ("scenario", str(summary.get("name") or doc.get("name") or "-")),
        ("target", target_of(doc) or "-"),
        ("load", f"{load.get('model', 'open')} model, {len(phases)} phase(s)"),
        ("workers", f"{summary.get('workers', 0)} with rows (scenario: {doc.get('workers', '-')})"),
        ("started", _iso(start_ns)),
        ("ended", _iso(end_ns) if end_ns is not None else "not recorded (interrupted run?)"),
        ("duration", f"{summary.get('duration_s') or 0:.3f} s"),
        ("samples schema", str(summary.get("schema_version") or "-")),
        ("report built with", versions()),
    ]
    facts.extend(live_facts(info or {}, arrivals_of(doc)))
    return facts


def arrivals_of(doc: Mapping[str, Any]) -> str:
    """What the plan counts: requests, flow instances, or (closed model) user-seconds."""
    load = doc["load"] if isinstance(doc.get("load"), Mapping) else {}
    if load.get("model") == "closed":
        return "user-seconds"
    return "flow instances" if doc.get("flows") else "requests"


def live_facts(info: Mapping[str, Any], arrivals: str = "requests") -> list[tuple[str, str]]:
    placement = info.get("placement") or []
    out = []
    if placement:
        nodes = {p.get("node") for p in placement}
        out.append(("cluster", f"{len(nodes)} node(s), {len(placement)} worker actor(s) started"))
        out.append(("placement", "; ".join(
            f"worker {p.get('worker')} on {p.get('address') or p.get('host') or '?'}" for p in placement)))
        measured = [p for p in placement if p.get("clock_offset_ms") is not None]
        if measured:
            out.append(("host clocks (corrected)", "; ".join(
                f"worker {p.get('worker')} {p['clock_offset_ms']:+,.1f} ms (+-{p.get('clock_error_ms', 0):.1f})"
                for p in measured)))
    if info.get("planned") is not None:
        out.append(("accounting", f"planned {info['planned']} {arrivals} = {info.get('rows', 0)} with rows + "
                    f"{info.get('lost', 0)} lost (never sent) + {info.get('unknown', 0)} unknown"))
    if info.get("dead_workers"):
        out.append(("workers lost", str(info["dead_workers"])))
    if info.get("aborted"):
        out.append(("aborted", str(info["aborted"])))
    events = run_events(info)
    if events:
        out.append(("events", "; ".join(f"{label} at {at:g} s" for at, label in events)))
    return out


def run_events(info: Mapping[str, Any] | None) -> list[tuple[float, str]]:
    """``(seconds since start, label)`` of the events the run recorded
    (``{"at_s": 12.5, "event": "rate", "rate": 600}``: live rate changes, worker loss...)."""
    marks = []
    for event in (info or {}).get("events") or []:
        if isinstance(event, Mapping) and isinstance(event.get("at_s"), (int, float)):
            rate = event.get("rate")
            label = str(event.get("event", "event")) + (f" {rate:g}/s" if isinstance(rate, (int, float)) else "")
            marks.append((float(event["at_s"]), label))
    return marks
