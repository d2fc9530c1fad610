"""What the live run recorded besides rows (``loadray.run`` in the Parquet metadata:
events, the accounting of planned requests, placement, warnings, the abort reason) as
summary keys and warnings."""

from __future__ import annotations

from typing import Any

__all__ = ["live_record", "live_warnings"]


def live_record(record: dict[str, Any]) -> dict[str, Any]:
    """What the live run recorded besides rows, as summary keys: the accounting
    ``planned = rows + lost + unknown`` (arrivals the plan gave the workers; those with
    a row in the archive; provably never sent; sent or not, cannot be told),
    ``workers_lost``, ``aborted`` (and its ``abort_kind``), ``interrupted`` (``"SIGINT at 12.3 s"``), ``events`` (rate changes, fencing, worker loss,
    redistribution, breaches), ``placement`` (each worker's node and address),
    ``nodes``; its warnings (saturation...) join ``warnings``."""
    accounting = {key: record.get(key) for key in ("planned", "rows")}
    return {
        **{k: (None if v is None else int(v)) for k, v in accounting.items()},
        "lost": int(record.get("lost", 0)),
        "unknown": int(record.get("unknown", 0)),
        "workers_lost": list(record.get("dead_workers", [])),
        "aborted": record.get("aborted"),
        "abort_kind": record.get("abort_kind"),  # "threshold" | "worker_loss" | "coordinator" | None
        "interrupted": record.get("interrupted"),
        "events": list(record.get("events", [])),
        "placement": list(record.get("placement", [])),
        "nodes": len({p.get("node") for p in record.get("placement", [])}),
        "lease_s": record.get("lease_s"),
        "flush_interval_s": record.get("flush_interval_s"),
    }


def live_warnings(record: dict[str, Any]) -> list[str]:
    out = list(record.get("warnings", []))
    if record.get("lost"):
        out.append(f"{record['lost']} planned requests were never sent: their workers had fenced "
                   "themselves or were gone before sending them")
    if record.get("unknown"):
        out.append(f"{record['unknown']} planned requests may or may not have been sent: no row of theirs "
                   "reached the archive (their workers, or their hosts, were gone before handing them over)")
    if record.get("aborted"):
        out.append(f"the run was stopped early: {record['aborted']}")
    if record.get("interrupted"):
        out.append(f"the run was interrupted ({record['interrupted']}): the figures and "
                   "thresholds cover the part that ran")
    return out
