"""Memory: the daemon's RSS after start and after 10,000 utterances; model size on disk.

    python bench/memory.py [--model DIR] [--n 10000]

RSS comes from psutil (VmRSS in /proc/<pid>/status without it). The soak
keeps a window of utterances in flight (a new one goes out as a result comes
back), so it runs as fast as the daemon answers without overrunning it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import e2e  # noqa: E402


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {pid}") from None


def model_size(model_dir: Path) -> dict[str, Any]:
    files = {p.name: p.stat().st_size for p in sorted(model_dir.iterdir()) if p.is_file()}
    onnx = files.get("model.onnx", 0)
    shipped = sum(
        v for k, v in files.items() if k in ("model.onnx", "tokenizer.json", "labels.json")
    )
    return {
        "model_mb": round(onnx / 2**20, 2),
        "runtime_files_mb": round(shipped / 2**20, 2),
        "files_bytes": files,
    }


def soak(
    client: e2e.BenchClient,
    texts: Sequence[str],
    n: int,
    pid: int,
    window: int = 32,
    timeout: float = 600.0,
    samples_every: int = 1000,
) -> dict[str, Any]:
    """Send `n` utterances with at most `window` unanswered; RSS along the way."""
    tag = uuid.uuid4().hex[:6]
    rids = [f"soak{tag}-{i}" for i in range(n)]
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    sent = 0
    outstanding: set[str] = set()
    rss_trace = [(0, round(rss_mb(pid), 1))]
    while sent < n and time.monotonic() < deadline:
        with client.cond:
            outstanding = {r for r in outstanding if r not in client.results}
            if len(outstanding) >= window:
                client.cond.wait(0.05)
                continue
        for _ in range(min(window - len(outstanding), n - sent)):
            client.say(texts[sent % len(texts)], rids[sent])
            outstanding.add(rids[sent])
            sent += 1
            if sent % samples_every == 0:
                rss_trace.append((sent, round(rss_mb(pid), 1)))
    have = client.wait_results(rids, max(1.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    time.sleep(0.3)
    after = rss_mb(pid)
    rss_trace.append((n, round(after, 1)))
    return {
        "n": n,
        "answered": have,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(have / elapsed, 1) if elapsed > 0 else None,
        "rss_after_mb": round(after, 1),
        "rss_trace_mb": rss_trace,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, e2e.running_broker(Path(tmp)) as broker:
        client = e2e.BenchClient(broker.port, ("edged/result", "bench/+/status")).connect()
        d = e2e.Daemon(broker.port, Path(tmp), args.model).start()
        try:
            d.wait_online(client)
            d.wait_ready(client)
            start_rss = rss_mb(d.pid)
            res = soak(client, e2e.all_texts(), args.n, d.pid)
            print(json.dumps({"rss_start_mb": round(start_rss, 1), **res}, indent=2))
        finally:
            d.stop()
            client.close()


if __name__ == "__main__":
    main()
