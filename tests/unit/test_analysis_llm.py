"""The LLM profile folded over chunks/ tables: per-request figures exactly as defined,
and percentiles equal to numpy's over every value (a second pass reads the cells the
store did not keep)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loadray.analysis.llm import LlmFold, cdf_points, llm_fold, merge_into, per_request
from loadray.stream.table import ChunkBuffer

MS = 1_000_000


class Tables:
    """A chunk source over in-memory tables (one per row group)."""

    def __init__(self, tables):
        self.tables = tables

    def __len__(self):
        return len(self.tables)

    def batches(self, columns, stop=None):
        for t in self.tables[:stop]:
            yield t.select(list(columns))


def table(requests, steps=("plain", "chat")):
    """requests: (step, sent, [(t, bytes, tokens, usage)...]) -> one chunks table."""
    buf = ChunkBuffer(0, list(steps), 0)
    for k, (step, sent, marks) in enumerate(requests):
        buf.add(k, step, 1, sent, [(sent + t, n, tok, use) for t, n, tok, use in marks])
    return pa.Table.from_batches([buf.flush()])


def test_per_request_figures():
    role = (1 * MS, 100, 0, None)
    t = table([
        (1, 0, [role, (200 * MS, 9, 1, None), (220 * MS, 9, 1, None), (250 * MS, 9, 1, None), (251 * MS, 9, 0, None)]),
        (0, 5, [(3 * MS, 10, None, None)]),  # a step without llm: its chunk counts as one unit
        (1, 7, [role, (100 * MS, 9, 2, None), (140 * MS, 9, 1, None), (141 * MS, 50, 0, 10)]),  # usage: 10 tokens
        (1, 9, [role, (300 * MS, 9, 1, None)]),  # one token: no rate
        (1, 11, [role, (5 * MS, 9, 0, None)]),  # no token at all: not counted
    ])
    codes: dict[str, int] = {}
    llm: set[int] = set()
    got = {k: (keys.tolist(), values.tolist()) for k, (keys, values) in per_request(t, codes, llm).items()}
    chat, plain = codes["chat"], codes["plain"]
    assert llm == {chat}
    assert got["ttft_ms"] == ([chat, plain, chat, chat], [200 * MS, 3 * MS, 100 * MS, 300 * MS])
    assert got["itl_ms"] == ([chat] * 3, [20 * MS, 30 * MS, 40 * MS])
    assert got["tpot_ms"] == ([chat] * 2, [25 * MS, round(40 * MS / 8)])  # (10 - 2) tokens after the first chunk
    assert got["output_tokens"] == ([chat, plain, chat, chat], [3 * MS, 1 * MS, 10 * MS, 1 * MS])
    assert got["tokens_per_s"] == ([chat] * 2, [40 * MS, 200 * MS])


def test_percentiles_are_numpys_with_a_second_pass():
    rng = np.random.default_rng(7)
    tables, ttft, itl = [], [], []
    for k in range(40):
        requests = []
        for _ in range(40):  # early on mostly ~100 ms, later 200-300 ms: the p50 moves where the store forgot
            low = k < 8 and rng.random() < 0.95
            first = int(rng.integers(100, 110) if low else rng.integers(200, 300)) * MS + int(rng.integers(0, MS))
            gaps = rng.integers(15 * MS, 26 * MS, 30)
            times = first + np.concatenate([[0], np.cumsum(gaps)])
            requests.append((1, 0, [(0, 5, 0, None)] + [(int(t), 9, 1, None) for t in times]))
            ttft.append(first)
            itl.extend(gaps.tolist())
        tables.append(table(requests))
    fold = LlmFold(warmup_rows=1000)  # the store re-aims as the p50 moves
    fold.run(Tables(tables))
    kind, chat = fold.summary()["chat"]
    assert kind == "llm"
    reread = LlmFold(keep=False)  # nothing kept: the second pass reads every cell asked for
    reread.run(Tables(tables))
    assert reread.second_pass and reread.summary()["chat"] == ("llm", chat)
    assert chat["requests"] == 1600
    for name, values in (("ttft_ms", ttft), ("itl_ms", itl)):
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
            assert chat[name][key] == pytest.approx(round(np.percentile(values, q) / MS, 3), abs=1e-9), (name, key)
        assert chat[name]["max"] == round(max(values) / MS, 3) and chat[name]["min"] == round(min(values) / MS, 3)
    assert chat["output_tokens"]["p50"] == 31.0
    x, y = cdf_points(fold.families["ttft_ms"], fold.codes["chat"])
    assert y[-1] == 1.0 and x[0] >= 100 and abs(x[np.searchsorted(y, 0.5)] - chat["ttft_ms"]["p50"]) < 0.5


def test_merged_under_each_step_and_nothing_without_tokens():
    summary = {"steps": {"chat": {"count": 1}}}
    merge_into(summary, llm_fold(Tables([table([(1, 0, [(5 * MS, 9, 1, None), (25 * MS, 9, 1, None)])])])))
    assert summary["steps"]["chat"]["count"] == 1
    assert summary["steps"]["chat"]["llm"]["ttft_ms"]["p50"] == 5.0
    assert summary["steps"]["chat"]["llm"]["tokens_per_s"]["p50"] == 50.0
    assert llm_fold(None) is None and llm_fold(Tables([])) is None
    plain = {"steps": {"plain": {"count": 1}}}  # a stream: without tokens: every chunk counts
    merge_into(plain, llm_fold(Tables([table([(0, 0, [(5 * MS, 9, None, None), (10 * MS, 9, None, None),
                                                       (20 * MS, 9, None, None)])])])))
    got = plain["steps"]["plain"]["stream"]
    assert got["first_chunk_ms"]["p50"] == 5.0 and got["gap_ms"]["max"] == 10.0 and got["gap_ms"]["min"] == 5.0
    assert got["chunks"]["p50"] == 3.0 and got["per_chunk_ms"]["p50"] == 7.5 and "llm" not in plain["steps"]["plain"]
