"""Report sections beyond latency, as k6 and Gatling reports have them: bytes received,
HTTP status codes per step, checks passed and failed, error samples. Each takes the
summary (or an Overview frame) and returns HTML fragments ([] when there is nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .markup import Raw, num, table

__all__ = ["bytes_section", "checks_section", "error_samples_section", "format_bytes", "status_section"]

_UNITS = ("B", "kB", "MB", "GB", "TB")


def format_bytes(n: float | None) -> str:
    """Bytes for humans in powers of 1000: 950 -> '950 B', 1234567 -> '1.23 MB'."""
    if n is None:
        return "-"
    value, unit = float(n), 0
    while abs(value) >= 1000 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{value:.0f} {_UNITS[unit]}" if unit == 0 else f"{value:.3g} {_UNITS[unit]}"


def bytes_section(s: Mapping[str, Any]) -> list[str]:
    """Body bytes received: the run and each step (total, per second, per response)."""
    got = s.get("bytes_in") or {}
    if not got:
        return []
    steps = got.get("steps") or {}
    rows = [[name, format_bytes(b.get("total")), f"{format_bytes(b.get('per_s'))}/s", format_bytes(b.get("per_response"))]
            for name, b in steps.items()]
    if len(rows) != 1:
        rows.append(["all steps", format_bytes(got.get("total")), f"{format_bytes(got.get('per_s'))}/s", ""])
    return ["<h2>bytes received</h2>", '<p class="meta">response bodies (the <code>bytes_in</code> column)</p>',
            table(["step", "bytes in", "per second", "per response"], rows)]


def status_section(frame: pd.DataFrame, grpc: bool = False) -> list[str]:
    """Completed requests per step and HTTP status code (``grpc``: the run has gRPC
    steps, whose status is the gRPC code: 0 is OK, 1-16 by name)."""
    if not len(frame) or not len(frame.columns):
        return []
    codes = [str(c) for c in frame.columns]
    headers = ["step", *(grpc_code_header(c) if grpc else _code_header(c) for c in codes), "total"]
    rows = [[name, *(num(v) if v else "" for v in r.tolist()), num(int(r.sum()))] for name, r in frame.iterrows()]
    return ["<h2>status codes per step</h2>", table(headers, rows)]


def _code_header(code: str) -> str:
    """A status code as a column header; errors (4xx, 5xx, no response) in red."""
    if code == "0":
        return Raw('<span class="bad">no response</span>')
    return Raw(f'<span class="bad">{int(code)}</span>') if int(code) >= 400 else code


def grpc_code_header(code: str) -> str:
    """A status of a run with gRPC steps: 0 (a gRPC OK, or no HTTP response), a gRPC
    code by name, or an HTTP status; errors in red."""
    from loadray.kinds import GRPC_CODES

    number = int(code)
    if number == 0:
        return "0 (gRPC OK; HTTP: no response)"
    if number < len(GRPC_CODES):
        return Raw(f'<span class="bad">{number} {GRPC_CODES[number]}</span>')
    return _code_header(code)


def _pass_cell(r: Mapping[str, Any]) -> str:
    passed, failed = r.get("passed"), r.get("failed") or 0
    if passed is None:
        return "-"
    judged = passed + failed + (r.get("errors") or 0)
    return f"{passed / judged * 100:.3g}%" if judged else "-"


def checks_section(s: Mapping[str, Any]) -> list[str]:
    """Every check with its passes and failures (``check_results``), failed ones marked;
    from ``checks`` (failures only) for a summary that has no ``check_results``."""
    results = s.get("check_results")
    if results is None:
        results = [{"step": "", "check": k, "passed": None, "failed": v, "errors": 0} for k, v in (s.get("checks") or {}).items()]
    if not results:
        return []
    rows = [
        [Raw('<span class="bad">✗</span>' if r.get("failed") or r.get("errors") else '<span class="ok">✓</span>'),
         r.get("step"), r.get("check"), "-" if r.get("passed") is None else num(r["passed"]), num(r.get("failed")),
         num(r.get("errors")), _pass_cell(r)]
        for r in results
    ]
    headers = ["", "step", "check", "passed", "failed", "could not tell", "pass rate"]
    return ["<h2>checks</h2>", table(headers, rows, left=3)]


def error_samples_section(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """A few ways each error kind happened: step, status, detail, count, first seen."""
    if not samples:
        return []
    rows = [[g.get("error"), g.get("step"), g.get("status") or "none", g.get("detail") or "", num(g.get("count")),
             f"{g.get('first_s', 0):.3f} s"] for g in samples]
    return ["<h2>error samples</h2>",
            '<p class="meta">the most frequent ways each error kind happened (by error, step, status and detail)</p>',
            table(["error", "step", "HTTP status", "detail", "count", "first at"], rows, left=4)]
