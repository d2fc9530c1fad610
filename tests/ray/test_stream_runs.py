"""Streamed responses end to end on the shared local Ray (num_cpus=2, workers 0.5 CPU)
against the built-in target on 127.0.0.1: the LLM profile of the fake OpenAI endpoint,
and ttfb/total of a chunked stream on the flow path (stream: chunks) and the fast path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from loadray.driver import RunOptions, run
from loadray.scenario import load_scenario, parse_scenario

pytestmark = pytest.mark.ray  # starts Ray

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SMALL = "cluster.worker_cpus=0.5"


def table(run_dir, name):
    return ds.dataset(run_dir / name, format="parquet").to_table().to_pandas()


def test_llm_50_tokens_20ms_apart_after_200ms(ray_local, builtin_target, tmp_path):
    """Acceptance: TTFT p50 200-205 ms, inter-token p50 20-21 ms, tokens/s within 2% of 50."""
    target = builtin_target()
    scenario = load_scenario(SCENARIOS / "llm-stream.yaml",
                             [SMALL, f"target={target.url}", "load.phases.0.duration=6s", "load.phases.0.rate=5"])
    result = run(scenario, RunOptions(out=tmp_path / "llm", quiet=True))
    s = result.summary
    assert result.exit_code == 0, s["thresholds"]
    llm = s["steps"]["chat"]["llm"]
    print("llm:", json.dumps({k: v if not isinstance(v, dict) else {q: v[q] for q in ("p50", "p99", "mean")}
                              for k, v in llm.items()}))
    assert llm["requests"] >= 24 and llm["output_tokens"]["p50"] == 50
    assert 200 <= llm["ttft_ms"]["p50"] <= 205
    # the scenario's LLM thresholds: the run has one LLM step, so they read its figures exactly
    assert s["thresholds"][1:] == [{"expr": "ttft_p99 < 500ms", "value": llm["ttft_ms"]["p99"], "passed": True},
                                   {"expr": "tpot_p50 < 25ms", "value": llm["tpot_ms"]["p50"], "passed": True}]
    # the server paces token i at ttft + i * 20 ms (absolute): its gaps are 20 ms +- its
    # timer jitter, symmetric, so their median is 20.000 +- a few us, either side
    assert 19.9 <= llm["tpot_ms"]["p50"] <= 21 and 19.9 <= llm["itl_ms"]["p50"] <= 21
    assert abs(llm["tokens_per_s"]["p50"] - 50) <= 1  # within 2%
    rows = table(result.run_dir, "samples")
    ok = rows[rows["error"].isna()]
    assert len(ok) == s["ok"] and set(ok["chunks"]) == {52}  # role chunk, 50 tokens, [DONE]
    assert (ok["ttfb_ns"] < 50e6).all()  # the first byte is the role chunk, long before the first token
    chunks = table(result.run_dir, "chunks")
    mine = chunks[chunks["flow_id"].isin(ok["flow_id"])]
    assert len(mine) == 52 * len(ok) and mine.groupby("flow_id")["tokens"].sum().eq(50).all()
    assert (result.run_dir / "plots" / "llm.png").stat().st_size > 0
    assert "LLM streaming" in (result.run_dir / "report.html").read_text()


@pytest.mark.parametrize("stream", [True, False], ids=["flow-path", "fast-path"])
def test_ten_chunks_5ms_apart_ttfb_5ms_total_50ms(ray_local, builtin_target, tmp_path, stream):
    target = builtin_target()
    scenario = load_scenario(SCENARIOS / "stream-chunks.yaml",  # stream: chunks, on the flow path
                             [SMALL, f"target={target.url}", "load.phases.0.duration=4s", "load.phases.0.rate=25"])
    if not stream:  # the same request without stream: a fixed request on the fast path
        scenario = parse_scenario({
            "name": "chunks", "target": target.url, "workers": 2, "cluster": {"worker_cpus": 0.5},
            "load": {"phases": [{"duration": "4s", "rate": 25}]},
            "requests": [{"name": "chunks", "path": "/stream?chunks=10&interval=5ms"}],
            # time to first byte judged: the first chunk comes 5 ms after arrival, never sooner
            "thresholds": ["ttfb_p50 >= 5ms", "ttfb_p99 < 200ms", "ttfb_max < 5ms"],
        })
    assert scenario.simple is not stream
    result = run(scenario, RunOptions(out=tmp_path / "chunks", quiet=True))
    assert result.exit_code == (0 if stream else 99)
    rows = table(result.run_dir, "samples")
    ok = rows[rows["error"].isna()]
    ttfb, total = ok["ttfb_ns"].median() / 1e6, ok["service_ns"].median() / 1e6
    if not stream:
        got = {t["expr"]: (t["value"], t["passed"]) for t in result.summary["thresholds"]}
        assert got == {"ttfb_p50 >= 5ms": (pytest.approx(round(ttfb, 3), abs=0.001), True),
                       "ttfb_p99 < 200ms": (pytest.approx(round(ok["ttfb_ns"].quantile(0.99) / 1e6, 3), abs=0.001), True),
                       "ttfb_max < 5ms": (round(ok["ttfb_ns"].max() / 1e6, 3), False)}, got
    print(f"{'flow' if stream else 'fast'} path: {len(ok)} ok, ttfb p50 {ttfb:.3f} ms, total p50 {total:.3f} ms")
    assert len(ok) >= 95 and set(ok["chunks"]) == {10}
    assert 5 <= ttfb <= 7 and 50 <= total <= 52
    if stream:
        chunks = table(result.run_dir, "chunks")
        mine = chunks[chunks["flow_id"].isin(ok["flow_id"])]
        assert len(mine) == 10 * len(ok) and set(mine["bytes"]) == {16}
        gaps = mine.sort_values(["flow_id", "index"]).groupby("flow_id")["t_ns"].diff().dropna() / 1e6
        assert 4.5 <= gaps.median() <= 5.5
        got = result.summary["steps"]["chunks"]["stream"]  # the same, folded into the summary
        assert got["chunks"]["p50"] == 10 and 5 <= got["first_chunk_ms"]["p50"] <= 7
        assert abs(got["gap_ms"]["p50"] - round(gaps.median(), 3)) <= 0.01
        assert "<h2>streamed responses</h2>" in (result.run_dir / "report.html").read_text()
    else:
        assert not (result.run_dir / "chunks").exists()
