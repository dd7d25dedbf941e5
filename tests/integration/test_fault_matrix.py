"""The fault matrix and the wire fuzz of issue 22 (slow: run with -m slow).

Each fault runs a stream of utterances through a real Mosquitto and counts,
from what an observer with a persistent session saw:

- lost: requests without a result;
- results twice: requests with more than one result;
- twice: toggles (not idempotent) on the wire beyond the toggles whose
  result says sent or "may not have gone out" (must be 0);
- faked: results "executed" beyond the commands seen for them (must be 0);
- resent: on/off commands sent again after a crash (idempotent: reported).

`pytest -m slow -s tests/integration/test_fault_matrix.py` prints one row
per fault.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import string
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.broker import Broker, Probe, edged_denied_home_conf, free_port
from tests.integration.conftest import REPO, DaemonProcess, base_config

pytestmark = pytest.mark.slow

# (text, topic, payload, idempotent)
STREAM = [
    ("toggle the reading lamp", "cmnd/reading_lamp/POWER", b"TOGGLE", False),
    ("turn on the coffee maker", "cmnd/coffee/POWER", b"ON", True),
    ("switch off the coffee maker", "cmnd/coffee/POWER", b"OFF", True),
    ("turn on the bedroom fan", "home/bedroom_fan/set", b"ON", True),
    ("turn off the bedroom fan", "home/bedroom_fan/set", b"OFF", True),
]
N = 600
RATE = 150.0
FAULT_AT = 200


class LimitedDaemon(DaemonProcess):
    """A daemon whose files may not grow beyond `fsize` bytes (RLIMIT_FSIZE:
    "disk full" for the journal without mount rights). Its log goes through
    a pipe, which the limit does not apply to."""

    def __init__(self, *args, fsize: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fsize = fsize

    def start(self) -> LimitedDaemon:
        self.log = self.log_path.open("ab")
        fsize = self.fsize

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged.cli", "run", "--config", str(self.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**self.env, "PYTHONDONTWRITEBYTECODE": "1"},
            cwd=REPO,
            preexec_fn=limit,
        )
        out = self.proc.stdout
        assert out is not None

        def copy() -> None:
            for line in out:
                self.log.write(line)
                self.log.flush()

        threading.Thread(target=copy, daemon=True).start()
        return self


def persistent_broker(work: Path, extra: str = "") -> Broker:
    store = work / "store"
    store.mkdir(exist_ok=True)
    return Broker(
        free_port(),
        work,
        f"persistence true\npersistence_location {store}/\nautosave_interval 1\n" + extra,
    ).start()


def tear_wal(wal: Path) -> None:
    """A write torn by a power cut: after the last frame of the journal's
    write-ahead log, a frame that was only half written (its header, then
    half a page of noise). SQLite must stop at it, keep everything before
    it, and not read the noise into a record."""
    data = wal.read_bytes()
    page_size = int.from_bytes(data[8:12], "big")
    salts = data[16:24]
    end = 32
    while end + 24 + page_size <= len(data) and data[end + 8 : end + 16] == salts:
        end += 24 + page_size
    assert end > 32, "the journal's WAL holds no frame to tear after"
    header = data[32:56]
    with wal.open("r+b") as f:
        f.seek(end)
        f.write(header + os.urandom(page_size // 2))
    print(f"\ntorn: a half frame written at byte {end} of the WAL ({len(data)} bytes)")


def stream(publisher: Probe, action: Callable[[], None] | None) -> list[str]:
    ids = []
    start = time.perf_counter()
    for k in range(N):
        if k == FAULT_AT and action is not None:
            action()
        i = f"m{k}-{uuid.uuid4().hex[:6]}"
        text = STREAM[k % len(STREAM)][0]
        publisher.publish("edged/utterance", json.dumps({"text": text, "id": i}), wait=False)
        ids.append(i)
        delay = start + (k + 1) / RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    return ids


def wait_all(observer: Probe, ids: list[str], timeout: float) -> None:
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {json.loads(m.payload)["id"] for m in observer.on("edged/result")}
        if wanted <= got:
            return
        time.sleep(0.25)


def tally(observer: Probe, ids: list[str]) -> dict[str, int]:
    """The counts above. The observer's own redeliveries from the broker
    (DUP: at-least-once between broker and observer) are not edged's."""
    per_id: Counter[str] = Counter()
    first: dict[str, dict] = {}
    for m in observer.on("edged/result"):
        r = json.loads(m.payload)
        if m.dup and r["id"] in first:
            continue
        per_id[r["id"]] += 1
        first.setdefault(r["id"], r)
    by_text = {text: (topic, payload, idem) for text, topic, payload, idem in STREAM}
    executed: Counter[tuple[str, bytes]] = Counter()
    uncertain: Counter[tuple[str, bytes]] = Counter()
    for i in ids:
        r = first.get(i)
        if r is None:
            continue
        topic, payload, _ = by_text[r["text"]]
        if r["status"] == "executed" and r["actions"]:
            executed[(topic, payload)] += 1
        elif "may not have gone out" in (r["error"] or ""):
            uncertain[(topic, payload)] += 1
    seen: Counter[tuple[str, bytes]] = Counter()
    for m in observer.messages:
        if not m.dup and any(m.topic == t for _, t, _, _ in STREAM):
            seen[(m.topic, m.payload)] += 1
    twice = resent = faked = 0
    for (topic, payload), idem in {(t, p): idem for _, t, p, idem in STREAM}.items():
        key = (topic, payload)
        over = seen[key] - executed[key] - uncertain[key]
        if idem:
            resent += max(0, over)
        else:
            twice += max(0, over)
        faked += max(0, executed[key] - seen[key])
    counts = {
        "sent": len(ids),
        "lost": sum(1 for i in ids if per_id[i] == 0),
        "results_twice": sum(1 for i in ids if per_id[i] > 1),
        "twice": twice,
        "faked": faked,
        "resent_idempotent": resent,
        "executed": sum(executed.values()),
        "errors": sum(1 for i in ids if i in first and first[i]["status"] == "error"),
        "may_not_have_gone_out": sum(uncertain.values()),
    }
    return counts


def report(name: str, counts: dict[str, int]) -> None:
    print(f"\nFAULT | {name} | " + " | ".join(f"{k}={v}" for k, v in counts.items()))


def run_fault(tmp_path: Path, name: str) -> dict[str, int]:
    extra = edged_denied_home_conf(tmp_path) if name == "acl" else ""
    broker = persistent_broker(tmp_path, extra)
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    if name == "acl":
        cfg["mqtt"].update(username="edged", password="pw")
    first: DaemonProcess
    if name == "disk_full":
        first = LimitedDaemon(cfg, tmp_path, name="first", fsize=256 * 1024).start()
    else:
        first = DaemonProcess(cfg, tmp_path, name="first").start()
    second = DaemonProcess(cfg, tmp_path, name="second")
    observer = Probe(
        broker.port, ("edged/#", "cmnd/#", "home/#"), client_id="observer", session_expiry=600
    ).connect()
    publisher = Probe(
        broker.port, ("nothing/here",), client_id="publisher", session_expiry=600
    ).connect()

    def kill_9() -> None:
        first.stop(signal.SIGKILL)
        second.start()

    def torn() -> None:
        first.stop(signal.SIGKILL)
        tear_wal(tmp_path / "state" / "journal.db-wal")
        second.start()

    actions: dict[str, Callable[[], None] | None] = {
        "kill_9": kill_9,
        "broker_restart": lambda: broker.restart(0.5),
        "acl": None,
        "disk_full": None,
        "torn_journal": torn,
    }
    try:
        first.wait_online(observer)
        ids = stream(publisher, actions[name])
        wait_all(observer, ids, timeout=120)
        time.sleep(1.0)  # late duplicates, if any
        counts = tally(observer, ids)
        report(name, counts)
        running = second if second.proc is not None else first
        assert running.proc is not None and running.proc.poll() is None, running.output()[-3000:]
        return counts
    finally:
        publisher.close()
        observer.close()
        first.stop()
        second.stop()
        broker.stop()


@pytest.mark.parametrize("name", ["kill_9", "broker_restart", "acl", "disk_full", "torn_journal"])
def test_fault_matrix(tmp_path: Path, name: str) -> None:
    counts = run_fault(tmp_path, name)
    assert counts["lost"] == 0
    assert counts["twice"] == 0
    assert counts["faked"] == 0
    if name == "acl":
        # Every fan command was refused by the broker, and said so.
        assert counts["errors"] >= N * 2 // 5
    if name == "disk_full":
        assert counts["errors"] > 0, "the journal limit was never reached"


# -- the wire fuzz -------------------------------------------------------------------------

WORDS = [
    "turn",
    "on",
    "off",
    "the",
    "kitchen",
    "lights",
    "reading",
    "lamp",
    "it",
    "them",
    "set",
    "to",
    "twenty",
    "one",
    "degrees",
    "percent",
    "unlock",
    "front",
    "door",
    "yes",
    "no",
    "fan",
    "bedroom",
    "coffee",
    "maker",
    "blue",
    "dim",
    "toggle",
    "open",
    "close",
]
TOPICS_ALLOWED = {
    "edged/status",
    "edged/result",
    "zigbee2mqtt/Kitchen Ceiling/set",
    "zigbee2mqtt/Kitchen Spots/set",
    "zigbee2mqtt/Bedroom TRV/set",
    "cmnd/reading_lamp/POWER",
    "cmnd/reading_lamp/Dimmer",
    "cmnd/reading_lamp/Color",
    "cmnd/reading_lamp/CT",
    "cmnd/coffee/POWER",
    "home/front_door/set",
    "home/bedroom_fan/set",
}
UTTERANCE_TOPICS = ["edged/utterance", "edged/kitchen/utterance", "edged/hallway/utterance"]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.randrange(-(10**30), 10**30)
    if kind == 1:
        return rng.choice([float("nan"), float("inf"), -1.5, 1e12, 0.0, time.time()])
    if kind == 2:
        return None
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4 and depth < 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 5 and depth < 3:
        return {"a": _random_value(rng, depth + 1)}
    if kind == 6:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(20)))
    if kind == 7:
        return rng.choice(
            [
                "zigbee2mqtt/Kitchen Ceiling/set",
                "edged/utterance",
                "edged/status",
                "edged/reply/fuzz",
                "homeassistant/x/config",
                "#",
                "$SYS/x",
                "",
            ]
        )
    return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 7)))


def fuzz_payload(rng: random.Random, k: int) -> bytes:
    kind = k % 10
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
    if kind == 1:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 8))).encode()
    if kind == 2:
        return ("{" * rng.randrange(1, 40) + '"text": "x"').encode()
    if kind == 3:
        raw = '{"text": "turn on the fan", "id": "\\ud8' + rng.choice("0123456789abcdef") + 'x"}'
        return raw.encode()
    if kind == 4:
        return (
            b'{"text": "lamp on", "id": '
            + str(rng.randrange(1, 9)).encode() * rng.choice([1, 50, 4400, 6000])
            + b"}"
        )
    fields = {
        "text": _random_value(rng)
        if rng.random() < 0.3
        else " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 7))),
        "id": _random_value(rng) if rng.random() < 0.5 else f"fz{k}",
        "site": _random_value(rng) if rng.random() < 0.3 else rng.choice(["kitchen", "hallway"]),
        "ts": _random_value(rng),
        "reply_to": _random_value(rng),
    }
    obj = {key: v for key, v in fields.items() if rng.random() < 0.8}
    return json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")


def test_fuzz_over_the_wire(tmp_path: Path) -> None:
    """2,400 generated payloads as MQTT messages: each gets exactly one
    result (counted on edged/result and edged/reply/#), each is acked (a
    second daemon on the same session is handed nothing back), and nothing
    appears on a topic that is not a result, the status, or a configured
    device's command topic."""
    broker = persistent_broker(tmp_path)
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    cfg["policy"]["max_age_s"] = 3600
    d = DaemonProcess(cfg, tmp_path).start()
    observer = Probe(broker.port, ("#",), client_id="fuzz-observer").connect()
    publisher = Probe(broker.port, ("nothing/here",), client_id="fuzz-publisher").connect()
    rng = random.Random(22)
    n = 2400
    try:
        d.wait_online(observer)
        for k in range(n):
            topic = UTTERANCE_TOPICS[k % 3]
            publisher.publish(topic, fuzz_payload(rng, k), qos=1, wait=False)
            if k % 200 == 199:
                time.sleep(0.3)

        def answered() -> int:
            return sum(
                1
                for m in observer.messages
                if m.topic == "edged/result" or m.topic.startswith("edged/reply/")
            )

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and answered() < n:
            time.sleep(0.5)
        time.sleep(1.0)
        results = [
            json.loads(m.payload)
            for m in observer.messages
            if m.topic == "edged/result" or m.topic.startswith("edged/reply/")
        ]
        stray = sorted(
            {
                m.topic
                for m in observer.messages
                if m.topic not in TOPICS_ALLOWED
                and m.topic not in UTTERANCE_TOPICS
                and not m.topic.startswith("edged/reply/")
            }
        )
        statuses = Counter(r["status"] for r in results)
        assert d.stop() == 0
        # Acks: every message was acknowledged, so a new daemon on the same
        # persistent session is given nothing.
        observer.clear()
        again = DaemonProcess(cfg, tmp_path, name="again").start()
        again.wait_online(observer)
        time.sleep(2.0)
        redelivered = len(observer.on("edged/result"))
        again.stop()
        print(
            f"\nFUZZ | payloads={n} results={len(results)} unacked_redelivered={redelivered} "
            f"stray_topics={stray} statuses={dict(statuses)}"
        )
        assert stray == []
        assert len(results) == n
        assert redelivered == 0
        assert "Traceback" not in d.output()
    finally:
        publisher.close()
        observer.close()
        d.stop()
        broker.stop()
