"""The driver's side of an archive that workers write themselves: the run directory
as workers open it, the manifest entry (and /metrics count) of each part a worker
completed, the parts nobody reported (their worker died just after writing them), and
the run's record kept with the samples.
"""

from __future__ import annotations

import os
from pathlib import Path

from loadray.archive import SAMPLES_DIR, write_scenario
from loadray.archive.fs import RunLocation, StoreSilent, is_uri, locate
from loadray.archive.ledger import unlisted_parts
from loadray.archive.manifest import Manifest
from loadray.archive.part_series import WrittenPart
from loadray.archive.run_place import write_scenario_at
from loadray.cluster import Launcher
from loadray.cluster.coordinator import RunRecord
from loadray.engine.worker import WorkerReady
from loadray.errors import LoadrayError
from loadray.fleet.accounting import Tally, orphaned
from loadray.plan.profile import Profile
from loadray.plan.split import first_k_at
from loadray.redaction import mask_text_values
from loadray.scenario import redact
from loadray.scenario.model import Scenario

__all__ = ["find_unlisted", "listed", "orphan_doc", "record_doc", "silent_store", "through_driver_note",
           "worker_archive", "write_scenario_in"]


def write_scenario_in(run_dir, doc: dict) -> None:
    if isinstance(run_dir, Path):
        write_scenario(run_dir, doc)
    else:
        write_scenario_at(locate(run_dir), doc)


def worker_archive(loc: RunLocation) -> str:
    """The run directory as workers open it: a URI as given (``file://``: a mount every
    host shares), a local path absolute (written directly on the driver's node only)."""
    return loc.display if loc.local is None or is_uri(loc.display) else os.path.abspath(loc.local)


def through_driver_note(loc: RunLocation, ready: list[WorkerReady], driver_node: str, direct: bool) -> str | None:
    """The line that says which workers hand their rows to the driver (a local run
    directory, workers on other hosts), and how to avoid it; None when none do."""
    if not direct or is_uri(loc.display):
        return None
    away = [r for r in ready if r.node and r.node != driver_node]
    if not away:
        return None
    hosts = ", ".join(sorted({r.address or r.host for r in away}))
    workers = ", ".join(str(r.index) for r in away)
    return (f"worker{'s' if len(away) > 1 else ''} {workers} on other hosts ({hosts}): their rows go through "
            f"the driver to {loc}; --out s3://... (or file:// on a mount every host shares) lets every worker "
            "write its own parts")


def listed(sink, loc: RunLocation, part: WrittenPart, metrics) -> None:
    """A part a worker completed: into the manifest; /metrics counts its rows."""
    sink.add_part(part)
    if metrics is not None:
        import pyarrow.parquet as pq

        metrics.observe(pq.read_table(loc.path(SAMPLES_DIR, part.file), filesystem=loc.filesystem))


def find_unlisted(sink, loc: RunLocation, launcher: Launcher, metrics) -> None:
    """Once the workers are gone: parts of workers that died before saying so, listed and
    counted all the same."""
    known = {p.file for p in sink.manifest.parts} | {p.name for p in getattr(sink, "files", [])}
    try:
        found = unlisted_parts(loc, known)
    except LoadrayError:
        return  # the store is unreachable now: the parts stay the truth for readers
    for part in found:
        listed(sink, loc, part, metrics)
        launcher.found(part)


def record_doc(record: RunRecord, tally: Tally, interrupted: str | None, secrets: frozenset[str]) -> dict:
    """What the live run recorded, archived with the samples (redacted like the scenario:
    warnings and events may quote a threshold, a feeder or an exception; values taken
    from the environment are masked in its text, its numbers are left alone)."""
    return mask_text_values(redact({
        "events": record.events,
        "planned": tally.planned,
        "rows": tally.rows,
        "lost": tally.lost,
        "unknown": tally.unknown,
        "dead_workers": sorted({e["worker"] for e in record.events if e["event"] == "worker_lost"}),
        "warnings": record.warnings,
        "aborted": record.aborted,
        "abort_kind": record.abort_kind,
        "interrupted": interrupted,
        "placement": record.placement,
        "live_latency_ms": record.live_latency_ms,
        **({"live_steps_latency_ms": record.live_steps_latency_ms} if record.live_steps_latency_ms else {}),
        "lease_s": record.lease_s,
        "flush_interval_s": record.flush_interval_s,
    }), secrets)


def orphan_doc(scenario: Scenario, rows: int, stop_s: float, why: str, interrupted: str | None) -> dict:
    """The record of a run whose coordinator died ``stop_s`` into it (``why``), the shares
    and events gone with it: what the scenario's plan gave the cluster until then, the
    arrivals the archive has a row for, the rest unknown (see :func:`orphaned`)."""
    planned = first_k_at(Profile(scenario.phases), stop_s) if scenario.model == "open" else None
    tally = orphaned(planned, rows)
    aborted = f"{why}: the run stopped {stop_s:.1f} s in, its workers with the coordinator"
    return {"events": [], "planned": tally.planned, "rows": tally.rows, "lost": 0, "unknown": tally.unknown,
            "dead_workers": [], "warnings": [], "aborted": aborted, "abort_kind": "coordinator",
            "interrupted": interrupted, "placement": []}


def silent_store(loc: RunLocation, why: str, manifest: Manifest, doc: dict | None) -> StoreSilent:
    """The run's end when its store did not answer (``why``): nothing more is asked of it;
    the line says what it holds (the parts workers completed before), where the rest of
    the rows went (the record's account, which is not stored) and how to get the report."""
    held = f"it holds the {manifest.rows} rows of the {len(manifest.parts)} parts completed before"
    if doc is not None:
        held += (f"; the {doc['unknown']} rows in no part that reached it stayed with the workers and are gone "
                 f"(planned {doc['planned']} = rows {doc['rows']} + lost {doc['lost']} + unknown {doc['unknown']}; "
                 "the run's record is not stored)")
    return StoreSilent(f"{loc}: the store did not answer at the end of the run ({why}): {held}; "
                       f"`loadray report {loc}` builds the report from the parts there once it answers again")
