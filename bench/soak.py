"""Soak: a steady stream of utterances for a long time, daemon RSS sampled.

    python bench/soak.py                       # one hour at 20 utterances/s
    python bench/soak.py --duration 300 --rate 50 --sample 10

Starts its own Mosquitto and `edged run`, publishes at a fixed rate (QoS 1),
checks every utterance got its result, and prints the RSS series (MB) and
whether memory stayed flat (the slope of a least-squares line over the second
half of the run, in MB per hour). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.broker import Broker, Probe, free_port  # noqa: E402
from tests.integration.conftest import DaemonProcess, base_config  # noqa: E402

TEXTS = [
    "turn on the reading lamp",
    "turn off the reading lamp",
    "switch on the coffee maker",
    "set the kitchen ceiling light to 40 percent",
    "turn off the kitchen lights",
    "what's the weather like",
    "the kitchen looks great",
    "turn it off",
    "make the kitchen spots blue",
    "set the bedroom to twenty one degrees",
    "um switch on the er fan",
    "turn of the porch light",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_mb_per_h(series: list[tuple[float, float]]) -> float:
    half = series[len(series) // 2 :]
    if len(half) < 2:
        return 0.0
    xs = [t for t, _ in half]
    ys = [m for _, m in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 3600


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    ap.add_argument("--rate", type=float, default=20, help="utterances per second (default 20)")
    ap.add_argument(
        "--sample", type=float, default=30, help="RSS sample period in seconds (default 30)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the series here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edged-soak-"))
    broker = Broker(free_port(), work).start()
    cfg = base_config(broker.port, state_dir=str(work / "state"))
    cfg["mqtt"]["client_id"] = "edged-soak"
    d = DaemonProcess(cfg, work, env={"EDGED_LOG_LEVEL": "WARNING"}).start()
    observer = Probe(broker.port, ("edged/result", "edged/status")).connect()
    publisher = Probe(broker.port, ("nothing/here",)).connect()
    series: list[tuple[float, float]] = []
    sent = 0
    try:
        d.wait_online(observer)
        assert d.proc is not None
        start = time.perf_counter()
        next_sample = 0.0
        while (elapsed := time.perf_counter() - start) < args.duration:
            if elapsed >= next_sample:
                series.append((round(elapsed, 1), round(rss_mb(d.proc.pid), 2)))
                print(f"t={elapsed:8.1f}s rss={series[-1][1]:7.2f} MB sent={sent}", flush=True)
                next_sample += args.sample
                with observer.cond:  # keep the observer's memory flat too
                    observer.messages = observer.messages[-100:]
            text = TEXTS[sent % len(TEXTS)]
            publisher.publish(
                "edged/utterance", json.dumps({"text": text, "id": f"s{sent}"}), wait=False
            )
            sent += 1
            delay = start + sent / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        time.sleep(2)
        series.append((round(time.perf_counter() - start, 1), round(rss_mb(d.proc.pid), 2)))
        alive = d.proc.poll() is None
    finally:
        publisher.close()
        observer.close()
        d.stop()
        broker.stop()
    handled = None
    for line in d.output().splitlines():
        if "stopped: received" in line:
            handled = line.split("stopped: ")[1]
    summary = {
        "duration_s": args.duration,
        "rate_per_s": args.rate,
        "sent": sent,
        "daemon": handled,
        "alive_at_end": alive,
        "rss_mb_series": series,
        "rss_start_mb": series[0][1],
        "rss_end_mb": series[-1][1],
        "slope_mb_per_h_second_half": round(slope_mb_per_h(series), 3),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rss_mb_series"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
