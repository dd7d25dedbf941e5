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

The hub is `LeanClient`: MQTT 5 on a plain socket, on the bench's one
thread, reading results between sends. The client shares the machine's cores
with the daemon and the broker, so its own cost is part of what is measured;
paho (as in e2e.BenchClient) costs Python per packet, and its network thread
a wake-up and a GIL hand-over per publish.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import e2e  # noqa: E402

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


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes | bytearray, i: int) -> tuple[int, int] | None:
    """(value, index after it), or None when the buffer ends first."""
    value = shift = 0
    while i < len(buf):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7
    return None


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


class LeanClient:
    """The hub for the throughput ramp: MQTT 5 on a plain socket, on the
    bench's one thread. It publishes utterances at QoS 1 (a packet id each,
    PUBACKs counted, the broker's Receive Maximum respected) and records, by
    request id, when each result arrived and its status (the overload error
    as "shed"), acking each result (QoS 1), like e2e.BenchClient. Without
    paho or its network thread: the client shares the cores with the daemon
    and the broker, so its own cost is part of what is measured, and paho's
    Python per packet (and a thread wake-up and GIL hand-over per publish)
    was a good part of it. Results are read while the caller waits for the
    next send time (`idle_until`) or for the results (`wait_results`)."""

    def __init__(self, port: int, result_topic: str = "edged/result") -> None:
        self.port = port
        self.result_topic = result_topic
        self.results: dict[str, tuple[float, str]] = {}
        self.lock = threading.Lock()  # never contended: one thread
        self.sock: socket.socket | None = None
        self._buf = bytearray()
        self._next_id = 0
        self._unacked: set[int] = set()  # our publishes the broker has not acked
        self._waiting: list[bytes] = []  # over the broker's Receive Maximum
        self._receive_max = 65535
        self._connack = self._suback = False
        self._last_out = 0.0
        self.keepalive = 60

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)
        self._last_out = time.monotonic()

    def connect(self, timeout: float = 10.0) -> LeanClient:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        # Nagle + delayed ACK would add ~40 ms per QoS 1 exchange.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking: it is read only after select() said so, and a full send
        # buffer (a stalled broker) just holds the sender up.
        sock.settimeout(None)
        self.sock = sock
        body = (
            _utf8("MQTT")
            + bytes([5, 0x02])  # MQTT 5, clean start
            + self.keepalive.to_bytes(2, "big")
            + _varint(0)  # no properties
            + _utf8(f"bench-lean-{uuid.uuid4().hex[:10]}")
        )
        self._send(b"\x10" + _varint(len(body)) + body)
        self._pump_until(lambda: self._connack, timeout, "no CONNACK")
        topic = _utf8(self.result_topic)
        body = self._packet_id().to_bytes(2, "big") + _varint(0) + topic + b"\x01"  # QoS 1
        self._send(b"\x82" + _varint(len(body)) + body)
        self._pump_until(lambda: self._suback, timeout, "bench client could not subscribe")
        return self

    def _pump_until(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(what)
            self._pump(min(left, 0.05))

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self._send(b"\xe0\x00")  # DISCONNECT
            self.sock.close()
            self.sock = None

    def _pump(self, timeout: float) -> None:
        """Wait up to `timeout` for the socket, and handle what came."""
        sock = self.sock
        if sock is None:
            raise ConnectionError("bench client is not connected")
        readable, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if readable:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._buf += data
            self._handle_packets()
        if time.monotonic() - self._last_out > self.keepalive / 2:
            self._send(b"\xc0\x00")  # PINGREQ

    def _handle_packets(self) -> None:
        buf = self._buf
        i = 0
        acks = bytearray()
        while i < len(buf):
            length = _read_varint(buf, i + 1)
            if length is None or length[1] + length[0] > len(buf):
                break  # the rest of this packet has not arrived yet
            size, start = length
            end = start + size
            kind = buf[i] & 0xF0
            if kind == 0x30:  # PUBLISH: a result
                t = time.perf_counter()
                qos = (buf[i] >> 1) & 3
                tlen = int.from_bytes(buf[start : start + 2], "big")
                j = start + 2 + tlen
                if qos:
                    acks += b"\x40\x02" + buf[j : j + 2]
                    j += 2
                plen = _read_varint(buf, j)
                assert plen is not None
                self._result(t, bytes(buf[plen[1] + plen[0] : end]))
            elif kind == 0x40:  # PUBACK for one of ours
                self._unacked.discard(int.from_bytes(buf[start : start + 2], "big"))
            elif kind == 0x20:  # CONNACK
                if buf[start + 1] != 0:
                    raise ConnectionError(f"the broker refused: reason {buf[start + 1]:#x}")
                self._connack = True
                self._connack_properties(bytes(buf[start + 2 : end]))
            elif kind == 0x90:  # SUBACK
                if buf[end - 1] >= 0x80:
                    raise ConnectionError(f"subscription refused: reason {buf[end - 1]:#x}")
                self._suback = True
            elif kind == 0xE0:  # DISCONNECT from the broker
                raise ConnectionError("the broker disconnected the bench client")
            i = end
        del buf[:i]
        if acks:
            self._send(bytes(acks))
        while self._waiting and len(self._unacked) < self._receive_max:
            self._publish_now(self._waiting.pop(0))

    def _connack_properties(self, props: bytes) -> None:
        """Receive Maximum and Server Keep Alive; the rest is skipped."""
        length = _read_varint(props, 0)
        if length is None:
            return
        j, end = length[1], length[1] + length[0]
        while j < end:
            pid, j = props[j], j + 1
            if pid == 0x21:  # Receive Maximum
                self._receive_max = int.from_bytes(props[j : j + 2], "big")
            elif pid == 0x13:  # Server Keep Alive
                self.keepalive = int.from_bytes(props[j : j + 2], "big") or self.keepalive
            if pid in (0x24, 0x25, 0x28, 0x29, 0x2A):  # a byte
                j += 1
            elif pid in (0x13, 0x21, 0x22):  # two bytes
                j += 2
            elif pid in (0x11, 0x27):  # four bytes
                j += 4
            elif pid in (0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F):  # a string or binary
                j += 2 + int.from_bytes(props[j : j + 2], "big")
            elif pid == 0x26:  # user property: two strings
                j += 2 + int.from_bytes(props[j : j + 2], "big")
                j += 2 + int.from_bytes(props[j : j + 2], "big")
            else:
                return

    def _result(self, t: float, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        status = str(body.get("status"))
        if status == "error" and str(body.get("error") or "").startswith("overloaded"):
            status = "shed"
        self.results.setdefault(str(body.get("id")), (t, status))

    def _publish_now(self, packet: bytes) -> None:
        self._unacked.add(int.from_bytes(packet[-2:], "big"))
        self._send(packet[:-2])

    def say(self, text: str, rid: str, topic: str = "edged/utterance") -> float:
        """Publish at QoS 1 (written now, not waiting for the PUBACK); returns the send time."""
        payload = json.dumps({"text": text, "id": rid}).encode()
        pid = self._packet_id().to_bytes(2, "big")
        body = _utf8(topic) + pid + b"\x00" + payload  # no properties
        # The packet id rides at the end until it is sent.
        packet = b"\x32" + _varint(len(body)) + body + pid
        t0 = time.perf_counter()
        if len(self._unacked) < self._receive_max and not self._waiting:
            self._publish_now(packet)
        else:
            self._waiting.append(packet)
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


@contextlib.contextmanager
def ramp_daemon(
    port: int, workdir: Path, model_dir: Path | None, home: dict[str, Any] | None = None
) -> Iterator[tuple[e2e.Daemon, LeanClient]]:
    """A daemon started and ready (watched with a BenchClient, which then
    leaves), and the LeanClient hub connected to drive it."""
    client = e2e.BenchClient(port, ("edged/result", "bench/+/status")).connect()
    daemon = e2e.Daemon(port, workdir, model_dir, home).start()
    hub = LeanClient(port)
    try:
        daemon.wait_online(client)
        daemon.wait_ready(client)
        client.close()
        hub.connect()
        yield daemon, hub
    finally:
        daemon.stop()
        hub.close()
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, e2e.running_broker(Path(tmp)) as broker:
        with ramp_daemon(broker.port, Path(tmp), args.model) as (_, hub):
            res = measure_throughput(hub, e2e.all_texts(), args.rates, args.seconds)
        print(json.dumps({k: v for k, v in res.items() if k != "steps"}, indent=2))
        print(statistics.median([s["p50_ms"] for s in res["steps"] if s["p50_ms"]]))


if __name__ == "__main__":
    main()
