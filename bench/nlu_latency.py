"""NLU latency, tokenization to decoded parse, batch 1.

    python bench/nlu_latency.py [--model DIR] [--threads 1 2] [--runs 5] [--n 2000]

Prints p50/p99 per run and the median of each over runs (machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from benchstats import pct

from edged.nlu.model import NluModel

SENTENCES = [
    "turn off the kitchen lights",
    "set the bedroom to 21 degrees",
    "dim the living room lamp to 30 percent",
    "um switch on the er fan",
    "turn of the porch light",
    "open the garage door",
    "what's the weather like tomorrow",
    "make the reading lamp blue",
    "crank up the heat in the den",
    "pause the tv",
    "is the front door locked",
    "the den looks great",
]


def measure(model: NluModel, n: int, texts: Sequence[str] = SENTENCES) -> list[float]:
    """Milliseconds of `n` parses, cycling through `texts`."""
    out = []
    for i in range(n):
        text = texts[i % len(texts)]
        t0 = time.perf_counter()
        model.parse(text)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def run(
    model_dir: Path | None,
    threads: list[int],
    runs: int,
    n: int,
    samples: dict[str, list[float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Median over `runs` of each run's p50/p99. With `samples`, the latencies
    of the last run are stored there under `threads_<t>` (for plots)."""
    results: dict[str, dict[str, float]] = {}
    for t in threads:
        model = NluModel(model_dir, threads=t)
        measure(model, min(200, n))  # warm up
        p50s, p99s = [], []
        for r in range(runs):
            xs = measure(model, n)
            if samples is not None:
                samples[f"threads_{t}"] = xs
            p50s.append(pct(xs, 0.5))
            p99s.append(pct(xs, 0.99))
            print(f"threads={t} run {r + 1}: p50 {p50s[-1]:.3f} ms  p99 {p99s[-1]:.3f} ms")
        results[f"threads_{t}"] = {
            "p50_ms": round(statistics.median(p50s), 3),
            "p99_ms": round(statistics.median(p99s), 3),
            "runs": runs,
            "n_per_run": n,
        }
        print(
            f"threads={t}: median over {runs} runs: p50 {results[f'threads_{t}']['p50_ms']} ms, p99 {results[f'threads_{t}']['p99_ms']} ms"
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = run(args.model, args.threads, args.runs, args.n)
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
