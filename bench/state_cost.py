"""What device state costs: one report into the store, and the snapshot the
engine takes for every utterance, at 25, 100 and 300 devices (the homes of
bench/hassil_compare.py, every device having reported).

    python bench/state_cost.py [--runs 5]

Prints p50 / p99 in microseconds (median over runs of each run's figure).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for p in (str(BENCH.parent), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from benchstats import pct  # noqa: E402
from hassil_compare import edged_config, generate_home  # noqa: E402

from edged.config import Config  # noqa: E402
from edged.home.registry import Home  # noqa: E402
from edged.home.state import StateStore  # noqa: E402

# A typical report per protocol's first state topic.
_REPORTS = {
    "zigbee2mqtt": {"state": "ON", "brightness": 180, "linkquality": 87, "temperature": 21.5},
    "tasmota": {"POWER": "ON", "Dimmer": 40},
}


def run(n_devices: int, runs: int) -> dict[str, Any]:
    cfg = Config.model_validate(edged_config(generate_home(n_devices)))
    home = Home.from_config(cfg)
    store = StateStore(home)
    messages = []
    for device in home.devices.values():
        if device.protocol == "zigbee2mqtt":
            messages.append((device.topic or "", json.dumps(_REPORTS["zigbee2mqtt"]).encode()))
        elif device.protocol == "tasmota":
            messages.append(
                (f"stat/{device.topic}/RESULT", json.dumps(_REPORTS["tasmota"]).encode())
            )
    feed_runs: list[list[float]] = []
    snap_runs: list[list[float]] = []
    for _ in range(runs):
        feed_us: list[float] = []
        for _ in range(20):
            for topic, payload in messages:
                t0 = time.perf_counter()
                store.feed(topic, payload, mono=time.monotonic(), wall=time.time())
                feed_us.append((time.perf_counter() - t0) * 1e3)
        feed_runs.append(feed_us)
        snap_us = []
        for _ in range(2000):
            t0 = time.perf_counter()
            store.snapshot()
            snap_us.append((time.perf_counter() - t0) * 1e3)
        snap_runs.append(snap_us)
    return {"feed": _us(feed_runs), "snapshot": _us(snap_runs), "reported": len(messages)}


def _us(runs: list[list[float]]) -> dict[str, float]:
    """Median over runs of each run's p50 and p99, in microseconds."""
    return {
        "p50_us": round(statistics.median(pct(r, 0.5) * 1e3 for r in runs), 2),
        "p99_us": round(statistics.median(pct(r, 0.99) * 1e3 for r in runs), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for n in (25, 100, 300):
        r = run(n, args.runs)
        f, s = r["feed"], r["snapshot"]
        print(
            f"{n:4d} devices ({r['reported']} reporting): "
            f"feed p50 {f['p50_us']:.2f} us p99 {f['p99_us']:.2f} us | "
            f"snapshot p50 {s['p50_us']:.2f} us p99 {s['p99_us']:.2f} us"
        )


if __name__ == "__main__":
    main()
