"""What a Prometheus does with a scrape, for tests: parse the text exposition (with
prometheus_client's own parser) and compute ``histogram_quantile`` as PromQL does
(promql/quantile.go ``bucketQuantile``: the rank ``q * count`` is found in the first
bucket whose cumulative count reaches it and interpolated linearly inside that bucket,
from the previous bucket's upper bound, 0 for the first one; a rank in the +Inf bucket
gives the highest finite bound)."""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families


def scrape_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        assert resp.status == 200
        return resp.read().decode()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a scrape: (sample name, labels, value)."""
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def total(text: str, name: str, **match: str) -> float:
    """``sum(name{match})``: the sum over every series of ``name`` with these label values."""
    return sum(v for n, labels, v in samples(text) if n == name and all(labels.get(k) == x for k, x in match.items()))


def buckets(text: str, name: str, **match: str) -> list[tuple[float, float]]:
    """``sum by (le) (name_bucket{match})`` as (upper bound, cumulative count), sorted."""
    by_le: dict[float, float] = defaultdict(float)
    for n, labels, v in samples(text):
        if n == f"{name}_bucket" and all(labels.get(k) == x for k, x in match.items()):
            by_le[float(labels["le"])] += v
    return sorted(by_le.items())


def histogram_quantile(q: float, bucket_list: list[tuple[float, float]]) -> float:
    """PromQL's ``histogram_quantile(q, ...)`` over (upper bound, cumulative count) pairs."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bs = sorted(bucket_list)
    if len(bs) < 2 or not math.isinf(bs[-1][0]):
        return math.nan
    counts, high = [], 0.0
    for _, c in bs:  # ensureMonotonic
        high = max(high, c)
        counts.append(high)
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bs) - 1:
        return bs[-2][0]
    if b == 0 and bs[0][0] <= 0:
        return bs[0][0]
    start, end, count = 0.0, bs[b][0], counts[b]
    if b > 0:
        start = bs[b - 1][0]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)
