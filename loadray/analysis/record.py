"""What the live run recorded besides rows (``loadray.run`` in the Parquet metadata:
events, lost requests, dead workers, warnings, the abort reason, the plan's count) as
summary keys and warnings."""

from __future__ import annotations

from typing import Any

__all__ = ["live_record", "live_warnings"]


def live_record(record: dict[str, Any]) -> dict[str, Any]:
    """What the live run recorded besides rows, as summary keys: ``lost`` (requests
    dead workers never sent), ``workers_lost``, ``aborted``, ``events`` (rate changes,
    worker loss, breaches), ``nodes``; its warnings (saturation...) join ``warnings``."""
    out: dict[str, Any] = {
        "lost": int(record.get("lost", 0)),
        "workers_lost": list(record.get("dead_workers", [])),
        "aborted": record.get("aborted"),
        "events": list(record.get("events", [])),
        "nodes": len({p.get("node") for p in record.get("placement", [])}),
    }
    return out


def live_warnings(record: dict[str, Any]) -> list[str]:
    out = list(record.get("warnings", []))
    if record.get("lost"):
        out.append(f"{record['lost']} intended requests were lost with dead workers (never sent)")
    if record.get("aborted"):
        out.append(f"the run was stopped early: {record['aborted']}")
    return out
