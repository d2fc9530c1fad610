"""The LLM section of the report (steps with ``llm:``): a table of time to first token,
inter-token latency, output tokens and tokens/s per step, and their CDF plot
(``plots/llm.png``), from :mod:`loadray.analysis.llm`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadray.analysis.llm import LlmFold, cdf_points

from . import palette
from .markup import img, png_bytes, table
from .plots import _figure, _legend, _no_data
from .text import format_ms

__all__ = ["LLM_PLOT", "llm_figure", "llm_plot", "llm_section"]

LLM_PLOT = "llm"
_STYLES = {"ttft_ms": "-", "itl_ms": "--"}
_NAMES = {"ttft_ms": "TTFT", "itl_ms": "ITL"}


def llm_figure(fold: LlmFold) -> Any:
    """CDF of time to first token (solid) and inter-token latency (dashed), per step."""
    fig, ax = _figure("LLM: time to first token and inter-token latency (CDF)", "% of requests / gaps", xlabel="ms")
    drawn = False
    for k, (step, code) in enumerate(sorted(fold.codes.items())):
        for name, style in _STYLES.items():
            x, y = cdf_points(fold.families[name], code)
            if x.size:
                ax.step(x, y * 100, where="post", linestyle=style, color=palette.WORKERS[k % len(palette.WORKERS)],
                        label=f"{step} {_NAMES[name]}")
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


def llm_section(s: Mapping[str, Any], plots: Mapping[str, bytes]) -> list[str]:
    """HTML of the section ([] without an LLM step)."""
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
    if not rows:
        return []
    headers = ["step", "requests", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "TPOT p50", "tokens (mean)",
               "tokens/s p50", "tokens/s mean"]
    out = ["<h2>LLM streaming</h2>",
           '<p class="meta">time to first token (from send); ITL: every gap between token chunks; TPOT: each '
           "request's time per output token after the first; output tokens; tokens/s: 1 / TPOT "
           '(from the <code>chunks/</code> side table)</p>',
           table(headers, rows)]
    if LLM_PLOT in plots:
        out.append(img(plots[LLM_PLOT], "LLM time to first token and inter-token latency"))
    return out
