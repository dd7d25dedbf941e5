"""Backpressure: QoS 1 utterances offered faster than edged handles them are
held back, never shed.

    python bench/backpressure.py [--rate 800] [--seconds 20] [--runs 3] [--drain 300]

A fresh broker and daemon per run (a 25-device home, the shipped model); the
hub (`throughput.LeanClient`, MQTT 5 on a plain socket) publishes `rate`
utterances/s at QoS 1 for `seconds`, then waits up to `drain` seconds for
the rest. Prints, per run and as the median over runs: sent, answered,
shed (the "overloaded" error: dropped unhandled), lost (no result), results
twice, the statuses, and how long after the last send the last result came.
edged is slower than 800/s on this machine, so the backlog waits at the
broker (edged does not acknowledge what it has not answered; the broker
stops at edged's Receive Maximum) and is worked off after the burst.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import e2e  # noqa: E402
import throughput  # noqa: E402


class CountingHub(throughput.LeanClient):
    """LeanClient that also counts every copy of a result."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.copies: Counter[str] = Counter()

    def _result(self, t: float, payload: bytes) -> None:
        try:
            rid = str(json.loads(payload).get("id"))
        except ValueError:
            return
        self.copies[rid] += 1
        super()._result(t, payload)


def one_run(rate: float, seconds: float, drain_s: float, model: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, e2e.running_broker(Path(tmp)) as broker:
        client = e2e.BenchClient(broker.port, ("edged/result", "bench/+/status")).connect()
        daemon = e2e.Daemon(broker.port, Path(tmp), model).start()
        hub = CountingHub(broker.port)
        try:
            daemon.wait_online(client)
            daemon.wait_ready(client)
            client.close()
            hub.connect()
            texts = e2e.all_texts()
            n = int(rate * seconds)
            tag = uuid.uuid4().hex[:6]
            rids = [f"bp{tag}-{i}" for i in range(n)]
            start = time.perf_counter()
            for i, rid in enumerate(rids):
                hub.idle_until(start + i / rate)
                hub.say(texts[i % len(texts)], rid)
            last_send = time.perf_counter()
            hub.wait_results(rids, drain_s)
            with hub.lock:
                got = {r: hub.results[r] for r in rids if r in hub.results}
            statuses = Counter(status for _, status in got.values())
            last = max((t for t, _ in got.values()), default=last_send)
            return {
                "offered_per_s": rate,
                "send_rate_per_s": round(n / (last_send - start), 1),
                "sent": n,
                "answered": len(got),
                "shed": statuses.get("shed", 0),
                "lost": n - len(got),
                "results_twice": sum(1 for r in rids if hub.copies[r] > 1),
                "handled_per_s": round(len(got) / (last - start), 1) if last > start else None,
                "drained_s_after_last_send": round(last - last_send, 1),
                "statuses": dict(statuses),
            }
        finally:
            daemon.stop()
            hub.close()
            client.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=800.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--drain", type=float, default=300.0)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    runs = []
    for k in range(args.runs):
        res = one_run(args.rate, args.seconds, args.drain, args.model)
        runs.append(res)
        print(f"run {k + 1}: {json.dumps(res)}", flush=True)
    keys = ["sent", "answered", "shed", "lost", "results_twice", "handled_per_s"]
    keys.append("drained_s_after_last_send")
    summary = {key: statistics.median(r[key] or 0 for r in runs) for key in keys}
    summary["worst_shed"] = max(r["shed"] for r in runs)
    summary["worst_lost"] = max(r["lost"] for r in runs)
    print("median over runs:", json.dumps(summary))


if __name__ == "__main__":
    main()
