"""One colour map for every chart and page: what a colour means never changes.

- outcomes: **ok green**; **errors in reds** (one shade per error kind, in order);
  never sent: **dropped grey**, **fenced orange**; **cut** (in flight at the stop) purple;
- intended (the schedule) dark grey, dashed, drawn over the achieved rate (blue);
- percentiles from light to dark blue (p50 lightest), never red or green;
- two runs compared: base blue, new gold;
- workers: categorical colours without red or green.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ACHIEVED",
    "CUT",
    "DROPPED",
    "ERROR",
    "FENCED",
    "INTENDED",
    "OK",
    "PERCENTILES",
    "RUN_COLORS",
    "WORKERS",
    "kind_colors",
    "stack_order",
]

OK = "#1a7f37"
ERROR = "#cf222e"
ERROR_SHADES = ("#cf222e", "#82071e", "#ff8182", "#bf3989", "#a40e26", "#fa4549", "#4c0519", "#ffaba8")
DROPPED = "#8c959f"
FENCED = "#e16f24"
CUT = "#8250df"
NOT_ERRORS = {"dropped": DROPPED, "fenced": FENCED, "cut": CUT}
ACHIEVED = "#1f6feb"
INTENDED = "#24292f"
FLOWS = "#0598bc"
PERCENTILES = {"p50": "#54aeff", "p90": "#0969da", "p99": "#033d8b", "p999": "#24292f"}
RUN_COLORS = ("#1f6feb", "#d4a72c")  # base, new
WORKERS = ("#1f6feb", "#d4a72c", "#8250df", "#0598bc", "#57606a", "#bf3989", "#1b7c83", "#953800")


def kind_colors(kinds: Iterable[str]) -> list[str]:
    """A colour per outcome kind: dropped/fenced/cut their own, errors the red shades in
    order, ``ok`` green."""
    out, shade = [], 0
    for kind in kinds:
        if kind == "ok":
            out.append(OK)
        elif kind in NOT_ERRORS:
            out.append(NOT_ERRORS[kind])
        else:
            out.append(ERROR_SHADES[shade % len(ERROR_SHADES)])
            shade += 1
    return out


def stack_order(counts: dict) -> list:
    """Outcome kinds bottom to top: errors (most frequent first), then dropped, fenced, cut."""
    order = list(NOT_ERRORS)
    return sorted(counts, key=lambda k: (str(k) in NOT_ERRORS, order.index(str(k)) if str(k) in NOT_ERRORS else 0,
                                         -counts[k], str(k)))
