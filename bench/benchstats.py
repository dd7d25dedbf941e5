"""Percentiles and the per-run summary every latency benchmark reports."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def pct(xs: Sequence[float], q: float) -> float:
    """The q-quantile of xs (nearest rank, no interpolation)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def summarize(runs: list[list[float]]) -> dict[str, Any]:
    """Median over runs of each run's p50 and p99 (machines are noisy), and pooled figures."""
    runs = [r for r in runs if r]
    if not runs:
        return {"p50_ms": None, "p99_ms": None, "n": 0}
    pooled = [x for r in runs for x in r]
    return {
        "p50_ms": round(statistics.median(pct(r, 0.5) for r in runs), 3),
        "p99_ms": round(statistics.median(pct(r, 0.99) for r in runs), 3),
        "pooled_p50_ms": round(pct(pooled, 0.5), 3),
        "pooled_p99_ms": round(pct(pooled, 0.99), 3),
        "max_ms": round(max(pooled), 3),
        "runs": len(runs),
        "n": len(pooled),
        "n_per_run": len(runs[0]),
    }
