"""What failed inside the generator, from the rows' ``error_detail``, and the one rule
that fails a run for it.

The rule (:func:`generator_error`): a run fails — ``passed`` false, ``loadray run``
exits 1 — when

- rows have an error of a :data:`GENERATOR_KINDS` kind: the generator could not do
  what the scenario asks (``internal``: a defect; ``extract``/``check_error``: an
  extraction or a check raised on a response instead of giving a value or a verdict):
  ``"N requests failed inside the generator (extract 20): <most frequent detail>"``; or
- nothing was recorded although the plan had load to send (``planned`` > 0 in the live
  record: requests in the open model, user-seconds in the closed one):
  ``"nothing was recorded although the plan had load to send"``.

Every other error (a failed check ``check:<name>``, a ``template`` variable an earlier
step did not extract, timeouts, HTTP 5xx, ...) is the target's answer: thresholds
judge those, with one exception (:func:`nothing_succeeded`): a run in which requests
were intended and not one succeeded (a target that is down: 150 of 150
``connect_refused``) measured nothing but failures; it fails too — ``passed`` false,
exit 1 — thresholds or not, with ``"none of the 150 requests succeeded
(connect_refused 150): is the target up?"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadray.errors import EXIT_FAILURE, EXIT_OK, EXIT_THRESHOLDS
from loadray.kinds import GENERATOR_KINDS

__all__ = ["DETAILS_SHOWN", "FAILED_ABORTS", "GENERATOR_KINDS", "archive_damaged", "error_details", "exit_code",
           "generator_error", "nothing_succeeded"]

DETAILS_SHOWN = 10  # (error, detail) pairs in the summary, most frequent first
#: Why a run stopped early that fails it whatever its thresholds say (``abort_kind``): a
#: worker lost under ``on_worker_loss: abort``; the coordinator dead with its workers.
FAILED_ABORTS = ("worker_loss", "coordinator")


def error_details(found: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
    """``[{error, detail, count}]`` from (error or "", detail) -> rows over the rows with
    an ``error_detail`` (:meth:`~.error_samples.ErrorWays.details`): the most frequent
    :data:`DETAILS_SHOWN` pairs, then by error and detail."""
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:DETAILS_SHOWN]
    return [{"error": err, "detail": detail, "count": count} for (err, detail), count in ranked]


def generator_error(summary: dict[str, Any], planned: int | None) -> str | None:
    """The one line that fails the run (see the module docstring), or None."""
    by_kind = summary.get("errors_by_kind", {})
    kinds = {kind: by_kind[kind] for kind in GENERATOR_KINDS if by_kind.get(kind)}
    if kinds:
        first = next((d for d in summary.get("error_details", ()) if d["error"] in kinds), None)
        shown = f"{first['error']}: {first['detail']}" if first else "no detail recorded"
        counts = ", ".join(f"{kind} {n}" for kind, n in kinds.items())
        return f"{sum(kinds.values())} requests failed inside the generator ({counts}): {shown}"
    if planned and not summary.get("intended"):
        return "nothing was recorded although the plan had load to send"
    return None


def nothing_succeeded(summary: dict[str, Any]) -> str | None:
    """The line that fails a run in which requests were intended and none succeeded."""
    intended = summary.get("intended") or 0
    if not intended or summary.get("ok"):
        return None
    outcomes = summary.get("errors_by_kind") or {}  # dropped and cut rows included
    ranked = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{kind} {count}" for kind, count in ranked[:3]) + (", ..." if ranked[3:] else "")
    noun = "request" if intended == 1 else "requests"
    return f"none of the {intended} {noun} succeeded ({shown}): is the target up?"


def archive_damaged(meta: Any) -> str | None:
    """The line that fails a run whose complete manifest lists parts that are gone or
    cannot be read (damaged after the run): its figures miss their rows."""
    damaged = tuple(getattr(meta, "damaged", ()) or ())
    if not damaged:
        return None
    shown = ", ".join(damaged[:3]) + (", ..." if damaged[3:] else "")
    rows = getattr(meta, "damaged_rows", 0)
    return (f"the archive is damaged: {len(damaged)} of the run's parts cannot be read ({shown}); the "
            f"{rows} rows the manifest says they held are missing from every figure")


def exit_code(summary: dict[str, Any]) -> int:
    """What a run's summary exits with, the same for ``loadray run`` and ``loadray
    report`` (signals aside): 1 when the generator failed (a defect, nothing recorded,
    the run aborted for a lost worker or a dead coordinator), not one request
    succeeded, or the archive lost parts of the run; 99 when a threshold failed or a live rule stopped the run; else 0."""
    kind = summary.get("abort_kind")
    if kind in FAILED_ABORTS or any(summary.get(k) for k in ("generator_error", "nothing_succeeded",
                                                             "archive_damaged")):
        return EXIT_FAILURE
    if kind == "threshold" or not summary.get("passed", True):
        return EXIT_THRESHOLDS
    return EXIT_OK
