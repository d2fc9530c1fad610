"""The streaming sections of the report: a table of time to first token, inter-token
latency, output tokens and tokens/s per step with ``llm:``, a table of first chunk and
chunk gaps per other step with ``stream:``, and their CDF plot (``plots/llm.png``),
from :mod:`loadray.analysis.llm`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadray.analysis.llm import LlmFold, cdf_points

from . import palette
from .markup import img, png_bytes, table
from .plots import _figure, _legend, _no_data
from .text import format_ms

__all__ = ["LLM_PLOT", "llm_figure", "llm_plot", "llm_section", "stream_section"]

LLM_PLOT = "llm"
_STYLES = {"ttft_ms": "-", "itl_ms": "--"}
_NAMES = {"ttft_ms": "TTFT", "itl_ms": "ITL"}
_CHUNK_NAMES = {"ttft_ms": "first chunk", "itl_ms": "chunk gaps"}


def llm_figure(fold: LlmFold) -> Any:
    """CDF of time to first token or chunk (solid) and the gaps after it (dashed), per step."""
    fig, ax = _figure("streams: time to first token / chunk and the gaps after it (CDF)", "% of requests / gaps",
                      xlabel="ms")
    drawn = False
    for k, (step, code) in enumerate(sorted(fold.codes.items())):
        names = _NAMES if code in fold.llm else _CHUNK_NAMES
        for name, style in _STYLES.items():
            x, y = cdf_points(fold.families[name], code)
            if x.size:
                ax.step(x, y * 100, where="post", linestyle=style, color=palette.WORKERS[k % len(palette.WORKERS)],
                        label=f"{step} {names[name]}")
                drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.set_ylim(0, 100.5)
        _legend(ax)
    else:
        _no_data(ax, "no tokens")
    return fig


def llm_plot(fold: LlmFold | None) -> dict[str, bytes]:
    """``{"llm": png}`` when the run has an LLM step, else {}."""
    return {LLM_PLOT: png_bytes(llm_figure(fold))} if fold is not None else {}


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _stream_rows(s: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for step, figures in (s.get("steps") or {}).items():
        got = figures.get("stream")
        if got:
            first, gap, n, rate = (got.get(k) or {} for k in ("first_chunk_ms", "gap_ms", "chunks", "chunks_per_s"))
            rows.append([step, got.get("requests"), format_ms(first.get("p50")), format_ms(first.get("p99")),
                         format_ms(gap.get("p50")), format_ms(gap.get("p99")), _num(n.get("mean")),
                         _num(rate.get("p50"))])
    return rows


def stream_section(s: Mapping[str, Any]) -> list[str]:
    """HTML of the table of streamed steps without an LLM profile ([] without one)."""
    rows = _stream_rows(s)
    if not rows:
        return []
    headers = ["step", "requests", "first chunk p50", "first chunk p99", "gap p50", "gap p99", "chunks (mean)",
               "chunks/s p50"]
    return ["<h2>streamed responses</h2>",
            '<p class="meta">steps with <code>stream:</code>: the first chunk (from send) and the gaps between '
            'chunks (every chunk in the <code>chunks/</code> side table)</p>', table(headers, rows)]


def llm_section(s: Mapping[str, Any], plots: Mapping[str, bytes]) -> list[str]:
    """HTML of the LLM table, the streamed steps' table and their plot ([] without a
    streamed step)."""
    rows = []
    for step, figures in (s.get("steps") or {}).items():
        llm = figures.get("llm")
        if not llm:
            continue
        ttft, itl, tpot, out, rate = (llm.get(k) or {} for k in ("ttft_ms", "itl_ms", "tpot_ms", "output_tokens",
                                                                  "tokens_per_s"))
        rows.append([step, llm.get("requests"), format_ms(ttft.get("p50")), format_ms(ttft.get("p99")),
                     format_ms(itl.get("p50")), format_ms(itl.get("p99")), format_ms(tpot.get("p50")),
                     _num(out.get("mean")), _num(rate.get("p50")), _num(rate.get("mean"))])
    out = []
    if rows:
        out = _llm_table(rows)
    out += stream_section(s)
    if out and LLM_PLOT in plots:
        out.append(img(plots[LLM_PLOT], "time to first token or chunk, and the gaps after it"))
    return out


def _llm_table(rows: list[list[Any]]) -> list[str]:
    headers = ["step", "requests", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "TPOT p50", "tokens (mean)",
               "tokens/s p50", "tokens/s mean"]
    return ["<h2>LLM streaming</h2>",
           '<p class="meta">time to first token (from send); ITL: every gap between token chunks; TPOT: each '
           "request's time per output token after the first; output tokens; tokens/s: 1 / TPOT "
           '(from the <code>chunks/</code> side table)</p>',
           table(headers, rows)]
