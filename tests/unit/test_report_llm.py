"""An archive with a chunks/ side table: `loadray report` puts the LLM figures under the
step in summary.json, and a table and plots/llm.png in the report; rebuilt the same."""

from __future__ import annotations

import json

from test_report_build import DOC, MS, make_run

from loadray.archive import read_summary
from loadray.archive.chunk_sink import ChunkSink
from loadray.report import rebuild
from loadray.report.text import render_summary
from loadray.stream.table import ChunkBuffer


def test_report_of_an_archive_with_llm_chunks(tmp_path):
    run = make_run(tmp_path, DOC)
    sink = ChunkSink(run)
    for worker in range(2):
        buf = ChunkBuffer(worker, ["a", "b"], 0)
        for k in range(20):
            ttft = (200 + k % 5) * MS
            marks = [(1_000 + MS, 100, 0, None)] + [(1_000 + ttft + i * 20 * MS, 9, 1, None) for i in range(10)]
            buf.add(k, 1, 1, 1_000, marks)
        sink.write(worker, buf.flush())
    sink.close()
    first = rebuild(run)
    assert read_summary(run) == json.loads(json.dumps(first)) and rebuild(run) == first
    llm = first["steps"]["b"]["llm"]
    assert "llm" not in first["steps"]["a"] and llm["requests"] == 40
    assert llm["ttft_ms"]["p50"] == 202.0 and llm["ttft_ms"]["min"] == 200.0 and llm["ttft_ms"]["max"] == 204.0
    assert llm["itl_ms"]["p50"] == llm["tpot_ms"]["p50"] == 20.0 and llm["tokens_per_s"]["p50"] == 50.0
    assert llm["output_tokens"]["mean"] == 10.0
    html = (run / "report.html").read_text()
    assert "<h2>LLM streaming</h2>" in html and "202ms" in html.split("<h2>LLM streaming</h2>")[1][:2000]
    assert (run / "plots" / "llm.png").read_bytes()[:4] == b"\x89PNG"
    assert "llm b: TTFT p50 202ms p99 204ms, ITL p50 20.0ms p99 20.0ms, 50 tokens/s p50 (40 requests)" in render_summary(first, width=200)


def test_no_chunks_no_llm_section(tmp_path):
    run = make_run(tmp_path, DOC)
    summary = rebuild(run)
    assert all("llm" not in step for step in summary["steps"].values())
    assert "LLM streaming" not in (run / "report.html").read_text() and not (run / "plots" / "llm.png").exists()


def test_llm_thresholds_pool_every_llm_request_and_leave_plain_streams_out(tmp_path):
    """Step b streams tokens (TTFT 200..239 ms over two workers, then 20 ms apart), step a a
    plain chunked body (chunks 1 ms apart): ttft_*, itl_*, tpot_* judge b's requests only, exactly."""
    import numpy as np

    doc = {**DOC, "thresholds": ["ttft_p50 < 250ms", "ttft_p95 <= 237ms", "ttft_max < 239ms", "ttft_mean > 219ms",
                                 "itl_max <= 20ms", "tpot_p99 < 20ms"]}
    run = make_run(tmp_path, doc)
    sink = ChunkSink(run)
    ttfts = []
    for worker in range(2):
        buf = ChunkBuffer(worker, ["a", "b"], 0)
        for k in range(20):
            ttft = (200 + worker * 20 + k) * MS
            ttfts.append(ttft)
            buf.add(k, 1, 1, 1_000, [(1_000 + MS, 100, 0, None)] + [(1_000 + ttft + i * 20 * MS, 9, 1, None) for i in range(3)])
            buf.add(100 + k, 0, 1, 1_000, [(1_000 + MS, 10, None, None), (1_000 + 2 * MS, 10, None, None)])
        sink.write(worker, buf.flush())
    sink.close()
    summary = rebuild(run)
    got = {t["expr"]: (t["value"], t["passed"]) for t in summary["thresholds"]}
    ms = np.array(ttfts) / 1e6
    assert got == {"ttft_p50 < 250ms": (round(float(np.percentile(ms, 50)), 3), True),
                   "ttft_p95 <= 237ms": (round(float(np.percentile(ms, 95)), 3), False),
                   "ttft_max < 239ms": (239.0, False),
                   "ttft_mean > 219ms": (219.5, True),
                   "itl_max <= 20ms": (20.0, True),  # tokens 20 ms apart; step a's 1 ms gaps not pooled
                   "tpot_p99 < 20ms": (20.0, False)}
    assert summary["ttft_ms"]["min"] == 200.0 and summary["passed"] is False
    assert summary["itl_ms"]["min"] == 20.0 and summary["tpot_ms"]["mean"] == 20.0
    assert summary["steps"]["a"]["stream"]["first_chunk_ms"]["p50"] == 1.0  # there, but not judged
    assert summary["steps"]["a"]["stream"]["gap_ms"]["p50"] == 1.0


def test_a_ttft_threshold_without_chunks_has_no_data_and_fails(tmp_path):
    run = make_run(tmp_path, {**DOC, "thresholds": ["ttft_p99 < 1s"]})
    assert rebuild(run)["thresholds"] == [{"expr": "ttft_p99 < 1s", "value": None, "passed": False}]
