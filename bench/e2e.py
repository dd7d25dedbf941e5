"""End-to-end latency through a real Mosquitto, and cold start.

    python bench/e2e.py [--model DIR] [--n 250] [--runs 5] [--cold-runs 5]

The bench starts its own Mosquitto on a free port (tests/broker.py: with
`set_tcp_nodelay true`) and `edged run --config <generated yaml>` as a
subprocess, on the 25-device home of bench/hassil_compare.py. A client with
TCP_NODELAY publishes one utterance at a time (QoS 1, JSON with an id) and
times publish -> first device command on the expected topic, and publish ->
result event. The utterances are the device commands of bench/utterances.jsonl
that the engine executes in a dry run of the same config (that also gives the
topics to expect); if none does (a throwaway model), only the result is timed.

Cold start: process start -> the retained `online` on the status topic.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for p in (str(REPO), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import hassil_compare  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import yaml  # noqa: E402
from benchstats import pct, summarize  # noqa: E402, F401

from tests.broker import Broker, free_port, mosquitto_binary  # noqa: E402, F401

DEVICE_TOPICS = ("zigbee2mqtt/#", "cmnd/#", "home/#")
# A result's status as the bench records it: the daemon's, except that the
# overload error (the inbox was full, the utterance was not handled) is "shed".


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[Broker]:
    b = Broker(free_port(), workdir).start()
    try:
        yield b
    finally:
        b.stop()


# --- the client: the hub that speaks and the devices that listen -------------------


@dataclass
class _Wait:
    rid: str
    topics: frozenset[str]
    t_cmd: float | None = None
    t_res: float | None = None
    status: str | None = None
    # The result came without a command on the expected topics (the daemon
    # publishes commands before the result, so none is coming).
    mismatch: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class BenchClient:
    """A paho client with TCP_NODELAY that publishes utterances and records,
    by request id, when each result arrived (and, for the one request being
    waited on, when its first device command arrived)."""

    def __init__(
        self, port: int, topics: Sequence[str], result_topic: str = "edged/result"
    ) -> None:
        self.port = port
        self.topics = tuple(topics)
        self.result_topic = result_topic
        self.results: dict[str, tuple[float, str]] = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.waiting: _Wait | None = None
        self.seen_status: dict[str, tuple[bytes, float]] = {}
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_disconnect = self._on_disconnect
        self.disconnects: list[str] = []

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        self.disconnects.append(str(rc))
        print(f"bench client disconnected: {rc}", file=sys.stderr)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        topic = msg.topic
        if topic == self.result_topic:
            try:
                body = json.loads(msg.payload)
            except ValueError:
                return
            rid = str(body.get("id"))
            status = str(body.get("status"))
            if status == "error" and str(body.get("error") or "").startswith("overloaded"):
                status = "shed"
            with self.cond:
                self.results.setdefault(rid, (t, status))
                w = self.waiting
                if w is not None and w.rid == rid:
                    w.t_res, w.status = t, status
                    w.mismatch = bool(w.topics) and w.t_cmd is None
                    w.done.set()
                self.cond.notify_all()
            return
        if topic.endswith("/status") or topic.startswith("bench/"):
            with self.cond:
                self.seen_status[topic] = (bytes(msg.payload), t)
                self.cond.notify_all()
            return
        w = self.waiting
        if w is not None and w.t_cmd is None and topic in w.topics:
            w.t_cmd = t
            if w.t_res is not None:
                w.done.set()

    def connect(self) -> BenchClient:
        self.client.connect("127.0.0.1", self.port)
        sock = self.client.socket()
        if sock is not None:
            # Nagle + delayed ACK would add ~40 ms per QoS 1 exchange.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("bench client could not subscribe")
        return self

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()

    def say(self, text: str, rid: str, topic: str = "edged/utterance") -> float:
        """Publish at QoS 1 (not waiting for the PUBACK); returns the send time."""
        payload = json.dumps({"text": text, "id": rid})
        t0 = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        return t0

    def idle_until(self, t: float) -> None:
        """Sleep until perf_counter() reaches t; paho's thread reads meanwhile."""
        wait = t - time.perf_counter()
        if wait > 0:
            time.sleep(wait)

    def wait_status(self, topic: str, payload: bytes, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                seen = self.seen_status.get(topic)
                if seen is not None and seen[0] == payload:
                    return seen[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {payload!r} on {topic} within {timeout} s")
                self.cond.wait(left)

    def wait_results(self, rids: Sequence[str], timeout: float) -> int:
        """Wait until every id has a result (or the timeout); returns how many have."""
        deadline = time.monotonic() + timeout
        with self.cond:
            # Only the still-missing ids are looked at again on each wake-up,
            # so the waiting thread does not compete with paho's for the GIL
            # while the last results of a throughput step come in.
            missing = [r for r in rids if r not in self.results]
            while True:
                missing = [r for r in missing if r not in self.results]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return len(rids) - len(missing)
                self.cond.wait(min(left, 0.5))


# --- the daemon as a process ----------------------------------------------------------


def edged_command() -> list[str]:
    script = Path(sys.executable).parent / "edged"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "edged.cli"]


class Daemon:
    """`edged run --config FILE` with a status topic and client id of its own,
    so each start is timed from its own retained `online`."""

    def __init__(
        self, port: int, workdir: Path, model_dir: Path | None, home: dict[str, Any] | None = None
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.status_topic = f"bench/{tag}/status"
        self.workdir = workdir / f"edged-{tag}"
        self.workdir.mkdir(parents=True)
        home = home or hassil_compare.generate_home(25)
        self.config = hassil_compare.edged_config(
            home,
            port=port,
            model_dir=model_dir,
            topics={"status": self.status_topic},
            state_dir=str(self.workdir / "state"),
            limits={"inbox_size": 256},
        )
        self.config["mqtt"]["client_id"] = f"edged-bench-{tag}"
        self.path = self.workdir / "edged.yaml"
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Daemon:
        self.log = (self.workdir / "edged.log").open("ab")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [*edged_command(), "run", "--config", str(self.path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "EDGED_LOG_LEVEL": "INFO"},
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_online(self, client: BenchClient, timeout: float = 30.0) -> float:
        """Seconds from process start to the retained `online`."""
        try:
            t = client.wait_status(self.status_topic, b"online", timeout)
        except TimeoutError:
            raise RuntimeError(f"edged did not come online:\n{self.output()[-3000:]}") from None
        return t - self.started_at

    def wait_ready(self, client: BenchClient, timeout: float = 30.0) -> float:
        """Seconds from process start to the first answered utterance. `online`
        is published before the daemon subscribes, so an utterance sent right
        after it can be lost; this sends a new one every 50 ms until one is
        answered."""
        deadline = time.monotonic() + timeout
        sent: list[str] = []
        while time.monotonic() < deadline:
            rid = f"ready-{uuid.uuid4().hex[:8]}"
            sent.append(rid)
            client.say("what time is it", rid)
            if client.wait_results([rid], 0.05):
                break
            with client.lock:
                if any(r in client.results for r in sent):
                    break
        with client.lock:
            times = [client.results[r][0] for r in sent if r in client.results]
        if not times:
            raise RuntimeError(f"edged answered nothing:\n{self.output()[-3000:]}")
        return min(times) - self.started_at

    def output(self) -> str:
        return (self.workdir / "edged.log").read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def cold_start(port: int, workdir: Path, model_dir: Path | None, runs: int) -> dict[str, Any]:
    """Start and stop the daemon `runs` times: process start -> retained
    `online`, and -> the first utterance answered."""
    times, ready = [], []
    client = BenchClient(port, ("bench/+/status", "edged/result")).connect()
    try:
        for _ in range(runs):
            d = Daemon(port, workdir, model_dir).start()
            try:
                times.append(d.wait_online(client))
                ready.append(d.wait_ready(client))
            finally:
                d.stop()
    finally:
        client.close()
    return {
        "cold_start_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs_s": [round(t, 3) for t in times],
        "first_result_s": round(statistics.median(ready), 3),
        "first_result_runs_s": [round(t, 3) for t in ready],
    }


# --- what to say ----------------------------------------------------------------------


def acting_utterances(model: Any, home: dict[str, Any]) -> list[tuple[str, frozenset[str]]]:
    """(text, command topics) for each command the engine executes in a dry run."""
    from edged.messages import Utterance

    engine = hassil_compare.build_engine(home, model)
    out = []
    for row in hassil_compare.load_utterances():
        if row["group"] == "chatter":
            continue
        engine.context.forget(None)
        now = time.time()
        outcome = engine.handle(
            Utterance(row["text"], uuid.uuid4().hex, None, None, None, "bench", now, True), now
        )
        if outcome.result.status == "executed" and outcome.commands:
            out.append((row["text"], frozenset(c.topic for c in outcome.commands)))
    return out


def all_texts() -> list[str]:
    return [r["text"] for r in hassil_compare.load_utterances()]


def measure_e2e(
    client: BenchClient,
    utterances: Sequence[tuple[str, frozenset[str]]],
    n: int,
    runs: int,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """One utterance at a time: publish -> first device command, publish -> result."""
    if not utterances:
        utterances = [(t, frozenset()) for t in all_texts()]
    cmd_runs: list[list[float]] = []
    res_runs: list[list[float]] = []
    missed = mismatched = 0
    mismatch_texts: set[str] = set()
    for _ in range(runs):
        cmd, res = [], []
        for i in range(n):
            text, topics = utterances[i % len(utterances)]
            w = _Wait(uuid.uuid4().hex, topics)
            with client.lock:
                client.waiting = w
            t0 = client.say(text, w.rid)
            if not w.done.wait(timeout):
                missed += 1
                continue
            mismatched += w.mismatch
            if w.mismatch:
                mismatch_texts.add(text)
            if w.t_cmd is not None:
                cmd.append((w.t_cmd - t0) * 1e3)
            assert w.t_res is not None
            res.append((w.t_res - t0) * 1e3)
        cmd_runs.append(cmd)
        res_runs.append(res)
    with client.lock:
        client.waiting = None
    command = summarize(cmd_runs)
    result = summarize(res_runs)
    headline = command if command["n"] else result
    return {
        "e2e_p50_ms": headline["p50_ms"],
        "e2e_p99_ms": headline["p99_ms"],
        "measured": "publish -> device command" if command["n"] else "publish -> result event",
        "command": command,
        "result": result,
        "distinct_utterances": len(utterances),
        "timeouts": missed,
        # Acted differently from the dry run (e.g. the daemon's "what this
        # site touched last"): timed to the result only.
        "command_mismatches": mismatched,
        "mismatch_texts": sorted(mismatch_texts)[:10],
        "_samples": [x for r in (cmd_runs if command["n"] else res_runs) for x in r],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=250)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=5)
    args = ap.parse_args()
    from edged.nlu.model import NluModel

    model = NluModel(args.model)
    home = hassil_compare.generate_home(25)
    utterances = acting_utterances(model, home)
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        print(json.dumps(cold_start(broker.port, Path(tmp), args.model, args.cold_runs)))
        client = BenchClient(
            broker.port, ("edged/result", "bench/+/status", *DEVICE_TOPICS)
        ).connect()
        d = Daemon(broker.port, Path(tmp), args.model, home).start()
        try:
            d.wait_online(client)
            d.wait_ready(client)
            res = measure_e2e(client, utterances, args.n, args.runs)
            res.pop("_samples")
            print(json.dumps(res, indent=2))
        finally:
            d.stop()
            client.close()


if __name__ == "__main__":
    main()
