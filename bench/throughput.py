"""Throughput: the highest sustained utterances/s at QoS 1 with nothing lost.

    python bench/throughput.py [--model DIR] [--rates 100 200 300 400 500 600 800] [--seconds 5]

Against a running daemon (see bench/e2e.py), the offered rate steps up; at
each step utterances are published at QoS 1 on a fixed schedule for a few
seconds, then the bench waits for the stragglers. A step passes when every
utterance got a result that is not the overload error (nothing lost, nothing
shed; an "error" answer such as "which lamp?" is an answer) and the daemon kept up: the last result came within
`max(0.25 s, 5% of the step)` of the last publish, so no backlog was growing.
The ramp stops at the first step that fails. The utterances cycle through
bench/utterances.jsonl (commands, misses and chatter, as a real mix).

The hub is `LeanClient`: paho on the bench's one thread, reading results
between sends. The client shares the machine's cores with the daemon and the
broker, so its own cost is part of what is measured; paho's network thread
(as in e2e.BenchClient) adds a wake-up and a GIL hand-over per publish.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import e2e  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

RATES = (100, 200, 300, 400, 500, 600, 800, 1000, 1200)
# Every answer counts, "error" too (e.g. "which lamp?"), except "shed": the
# overload error says the utterance was dropped unhandled.
OK_STATUSES = frozenset({"executed", "not_recognized", "needs_confirmation", "refused", "error"})


class Hub(Protocol):
    """What a step needs of the client: e2e.BenchClient or LeanClient."""

    results: dict[str, tuple[float, str]]
    lock: Any

    def say(self, text: str, rid: str, topic: str = ...) -> float: ...

    def idle_until(self, t: float) -> None: ...

    def wait_results(self, rids: Sequence[str], timeout: float) -> int: ...


class LeanClient:
    """Publishes utterances at QoS 1 and records, by request id, when each
    result arrived and its status (the overload error as "shed"), like
    e2e.BenchClient, but with paho driven from the calling thread: a publish
    is written at once, and results (and PUBACKs) are read while the caller
    waits for the next send time (`idle_until`) or for results."""

    def __init__(self, port: int, result_topic: str = "edged/result") -> None:
        self.port = port
        self.result_topic = result_topic
        self.results: dict[str, tuple[float, str]] = {}
        self.lock = threading.Lock()  # never contended: one thread
        self._subscribed = False
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-lean-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed = True

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        status = str(body.get("status"))
        if status == "error" and str(body.get("error") or "").startswith("overloaded"):
            status = "shed"
        self.results.setdefault(str(body.get("id")), (t, status))

    def connect(self, timeout: float = 10.0) -> LeanClient:
        self.client.connect("127.0.0.1", self.port)
        sock = self.client.socket()
        if sock is not None:
            # Nagle + delayed ACK would add ~40 ms per QoS 1 exchange.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.subscribe(self.result_topic, qos=1)
        deadline = time.perf_counter() + timeout
        while not self._subscribed:
            if time.perf_counter() > deadline:
                raise TimeoutError("bench client could not subscribe")
            self._pump(0.05)
        return self

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()

    def _pump(self, timeout: float) -> None:
        """Wait up to `timeout` for the socket, and handle what came."""
        sock = self.client.socket()
        if sock is None:
            raise ConnectionError("bench client disconnected")
        want_write = [sock] if self.client.want_write() else []
        readable, writable, _ = select.select([sock], want_write, [], max(0.0, timeout))
        if readable:
            self.client.loop_read()
        if writable:
            self.client.loop_write()
        self.client.loop_misc()

    def say(self, text: str, rid: str, topic: str = "edged/utterance") -> float:
        """Publish at QoS 1 (written now, not waiting for the PUBACK); returns the send time."""
        payload = json.dumps({"text": text, "id": rid})
        t0 = time.perf_counter()
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish failed: {mqtt.error_string(info.rc)}")
        return t0

    def idle_until(self, t: float) -> None:
        while True:
            left = t - time.perf_counter()
            if left <= 0:
                return
            self._pump(left)

    def wait_results(self, rids: Sequence[str], timeout: float) -> int:
        deadline = time.perf_counter() + timeout
        missing = [r for r in rids if r not in self.results]
        while True:
            missing = [r for r in missing if r not in self.results]
            left = deadline - time.perf_counter()
            if not missing or left <= 0:
                return len(rids) - len(missing)
            self._pump(min(left, 0.05))


def run_step(
    client: Hub,
    texts: Sequence[str],
    rate: float,
    seconds: float,
    drain_s: float = 10.0,
) -> dict[str, Any]:
    n = max(1, int(rate * seconds))
    tag = uuid.uuid4().hex[:6]
    rids = [f"tp{tag}-{i}" for i in range(n)]
    sent_at: list[float] = []
    start = time.perf_counter()
    for i, rid in enumerate(rids):
        # Wait, never spin: BenchClient sleeps (a spinning sender would hold
        # the GIL its paho thread needs), LeanClient reads results meanwhile.
        client.idle_until(start + i / rate)
        sent_at.append(client.say(texts[i % len(texts)], rid))
    last_send = time.perf_counter()
    client.wait_results(rids, drain_s)
    with client.lock:
        got = {r: client.results[r] for r in rids if r in client.results}
    statuses = Counter(status for _, status in got.values())
    ok = sum(c for s, c in statuses.items() if s in OK_STATUSES)
    lat = [(got[r][0] - t) * 1e3 for r, t in zip(rids, sent_at, strict=True) if r in got]
    last_result = max((t for t, _ in got.values()), default=last_send)
    lag = last_result - last_send
    kept_up = lag <= max(0.25, 0.05 * seconds)
    lost = n - ok
    send_span = last_send - start
    return {
        "offered_per_s": rate,
        "sent": n,
        "results": len(got),
        "ok": ok,
        "lost": lost,
        "statuses": dict(statuses),
        "send_rate_per_s": round(n / send_span, 1) if send_span > 0 else None,
        "achieved_per_s": round(ok / (last_result - start), 1) if last_result > start else None,
        "lag_after_last_send_s": round(lag, 3),
        "kept_up": kept_up,
        "passed": lost == 0 and kept_up,
        "p50_ms": round(e2e.pct(lat, 0.5), 3) if lat else None,
        "p99_ms": round(e2e.pct(lat, 0.99), 3) if lat else None,
        "max_ms": round(max(lat), 3) if lat else None,
    }


def measure_throughput(
    client: Hub,
    texts: Sequence[str],
    rates: Sequence[float] = RATES,
    seconds: float = 5.0,
    log: Any = print,
) -> dict[str, Any]:
    steps = []
    best: dict[str, Any] | None = None
    for rate in rates:
        step = run_step(client, texts, rate, seconds)
        steps.append(step)
        log(
            f"  {rate:5.0f}/s offered: sent {step['sent']}, ok {step['ok']}, lost {step['lost']}, "
            f"lag {step['lag_after_last_send_s']} s, p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms"
            + ("" if step["passed"] else "  <- not sustained")
        )
        if not step["passed"]:
            break
        best = step
        time.sleep(0.5)
    return {
        "throughput_per_s": best["offered_per_s"] if best else 0,
        "p99_ms_at_throughput": best["p99_ms"] if best else None,
        "p50_ms_at_throughput": best["p50_ms"] if best else None,
        "step_seconds": seconds,
        "ceiling_reached": bool(steps) and not steps[-1]["passed"],
        "steps": steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, e2e.running_broker(Path(tmp)) as broker:
        client = e2e.BenchClient(broker.port, ("edged/result", "bench/+/status")).connect()
        d = e2e.Daemon(broker.port, Path(tmp), args.model).start()
        hub = LeanClient(broker.port)
        try:
            d.wait_online(client)
            d.wait_ready(client)
            client.close()
            hub.connect()
            res = measure_throughput(hub, e2e.all_texts(), args.rates, args.seconds)
            print(json.dumps({k: v for k, v in res.items() if k != "steps"}, indent=2))
            print(statistics.median([s["p50_ms"] for s in res["steps"] if s["p50_ms"]]))
        finally:
            d.stop()
            hub.close()
            client.close()


if __name__ == "__main__":
    main()
