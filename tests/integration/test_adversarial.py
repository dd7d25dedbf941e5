"""Issue 22's reproductions, over the wire against a real Mosquitto: poison
messages, reply_to anywhere, PUBACK reason codes, the payload's site and
time, duplicates, READY=1, an unusable state_dir. Each asserts the outcome
the issue asks for (one result and one ack per message, nothing faked)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Broker, Probe, edged_denied_home_conf, free_port
from tests.integration.conftest import (
    REPO,
    DaemonProcess,
    base_config,
    result_for,
    start_online,
)


def rid() -> str:
    return uuid.uuid4().hex[:12]


def results(probe: Probe, topic: str = "edged/result") -> list[dict]:
    return [json.loads(m.payload) for m in probe.on(topic)]


def wait_results(probe: Probe, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(probe.on("edged/result")) < n:
        time.sleep(0.1)
    return results(probe)


@pytest.fixture
def own(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Probe]]:
    """A daemon of this test's own (a fresh journal), and a probe on #."""
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    cfg["mqtt"]["client_id"] = f"edged-adv-{uuid.uuid4().hex[:6]}"
    d = start_online(broker.port, cfg, tmp_path)
    p = Probe(broker.port).connect()
    try:
        yield d, p
    finally:
        p.close()
        d.stop()


# -- 1. poison messages ------------------------------------------------------------------

POISON = [
    b'{"text":"x","id":"\\udfff1"}',  # a lone surrogate: unencodable
    b'{"text":"turn on the reading lamp","id":' + b"7" * 5000 + b"}",  # > 4,300 digits
    b'{"text":"turn on the reading lamp","id":"a\\nb 1.0 answered id:forged"}',
    b'{"text":"x","id":"' + b"i" * 300 + b'"}',
    b'{"text":"x","ts":' + b"9" * 5000 + b"}",
    b'{"text":"x","site":"\\u0007"}',
]


def test_poison_messages_each_get_one_error_and_an_ack(own, broker: Broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, p = own
    # More than the Receive Maximum (128): an unacked poison would stall it.
    for k in range(160):
        p.publish("edged/utterance", POISON[k % len(POISON)], wait=False)
    good = rid()
    p.publish("edged/utterance", json.dumps({"text": "turn on the reading lamp", "id": good}))
    assert result_for(p, good, timeout=30)["status"] == "executed"
    got = wait_results(p, 161)
    poison = [r for r in got if r["id"] != good]
    print(f"\npoison sent=160 results={len(poison)}")
    assert len(poison) == 160
    assert all(r["status"] == "error" for r in poison)
    assert len({r["id"] for r in poison}) == 160  # each answered once, under its own id
    assert all(r["id"].isprintable() and len(r["id"]) <= 256 for r in poison)
    assert not p.on("cmnd/reading_lamp/POWER")[1:], "a poison id must not act"
    # Everything was acked: a second daemon on the same session gets nothing back.
    assert d.stop() == 0
    p.clear()
    again = DaemonProcess(d.config, tmp_path, name="again").start()
    try:
        again.wait_online(p)
        time.sleep(1.5)
        assert p.on("edged/result") == []
    finally:
        again.stop()
    out = d.output()
    assert "Traceback" not in out
    assert "forged" not in out  # the newline id never reached a log line


def test_integer_ids_of_any_reasonable_size(own) -> None:  # type: ignore[no-untyped-def]
    _, p = own
    big = 2**200
    p.publish("edged/utterance", json.dumps({"text": "turn off the reading lamp", "id": big}))
    r = result_for(p, str(big))
    assert r["status"] == "executed"


# -- 2. reply_to ---------------------------------------------------------------------------

FORBIDDEN_REPLIES = [
    "zigbee2mqtt/Kitchen Ceiling/set",
    "zigbee2mqtt/bridge/request/device/remove",
    "cmnd/reading_lamp/POWER",
    "edged/status",
    "homeassistant/sensor/edged/x/config",
    "edged/utterance",
    "edged/kitchen/utterance",
    "hub/answers",
]


def test_reply_to_only_under_the_configured_prefix(own) -> None:  # type: ignore[no-untyped-def]
    _, p = own
    for topic in FORBIDDEN_REPLIES:
        i = rid()
        p.publish(
            "edged/utterance",
            json.dumps({"text": "toggle the reading lamp", "id": i, "reply_to": topic}),
        )
        r = result_for(p, i)
        assert r["status"] == "error" and "reply_to" in r["error"], r
    time.sleep(0.5)
    # Nothing but the probe's own utterances on any of those topics, and the
    # lamp was never toggled by a refused request.
    stray = [
        m.topic
        for m in p.messages
        if m.topic in FORBIDDEN_REPLIES[1:]
        and m.topic != "edged/utterance"
        and m.payload not in (b"online", b"offline")
    ]
    assert stray == [] and p.on("zigbee2mqtt/Kitchen Ceiling/set") == []
    assert p.on("cmnd/reading_lamp/POWER") == []
    assert len(p.on("edged/utterance")) == len(FORBIDDEN_REPLIES)  # only ours
    i = rid()
    p.publish(
        "edged/utterance",
        json.dumps({"text": "toggle the reading lamp", "id": i, "reply_to": "edged/reply/hub"}),
    )
    assert result_for(p, i, topic="edged/reply/hub")["status"] == "executed"
    assert [m.payload for m in p.on("cmnd/reading_lamp/POWER")] == [b"TOGGLE"]


# -- 3. PUBACK reason codes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Anonymous clients (the probe) may do anything; edged may not write
    home/# (the Home Assistant command topics of the test home)."""
    work = tmp_path_factory.mktemp("acl")
    b = Broker(free_port(), work, edged_denied_home_conf(work)).start()
    yield b
    b.stop()


def test_a_command_the_broker_refuses_is_not_executed(acl_broker: Broker, tmp_path: Path) -> None:
    cfg = base_config(acl_broker.port, state_dir=str(tmp_path / "state"))
    cfg["mqtt"].update(username="edged", password="pw")
    d = start_online(acl_broker.port, cfg, tmp_path)
    p = Probe(acl_broker.port).connect()
    try:
        denied, allowed = rid(), rid()
        p.publish("edged/utterance", json.dumps({"text": "turn on the bedroom fan", "id": denied}))
        r = result_for(p, denied)
        assert r["status"] == "error", r
        assert "refused" in r["error"] and "not authorized" in r["error"], r
        p.publish(
            "edged/utterance", json.dumps({"text": "turn on the reading lamp", "id": allowed})
        )
        assert result_for(p, allowed)["status"] == "executed"
        assert p.on("home/bedroom_fan/set") == []
    finally:
        p.close()
        d.stop()


# -- 5. the site and the time come from where they can be trusted ---------------------------


def test_the_topics_site_wins_and_odd_timestamps_are_errors(own) -> None:  # type: ignore[no-untyped-def]
    _, p = own
    i = rid()
    p.publish("edged/hallway/utterance", json.dumps({"text": "unlock the front door", "id": i}))
    assert result_for(p, i)["status"] == "needs_confirmation"
    i = rid()
    p.publish("edged/kitchen/utterance", json.dumps({"text": "yes", "id": i, "site": "hallway"}))
    r = result_for(p, i)
    assert r["status"] == "error" and "site" in r["error"], r
    for ts in ("NaN", "Infinity", "1e12", str(time.time() + 3600)):
        i = rid()
        p.publish("edged/hallway/utterance", f'{{"text": "yes", "id": "{i}", "ts": {ts}}}'.encode())
        r = result_for(p, i)
        assert r["status"] == "error" and "ts" in r["error"], (ts, r)
    time.sleep(0.3)
    assert p.on("home/front_door/set") == []
    # The hallway's own "yes" (same site in topic and payload) still works.
    i = rid()
    p.publish("edged/hallway/utterance", json.dumps({"text": "unlock the front door", "id": i}))
    assert result_for(p, i)["status"] == "needs_confirmation"
    i = rid()
    p.publish("edged/hallway/utterance", json.dumps({"text": "yes", "id": i, "site": "hallway"}))
    assert result_for(p, i)["status"] == "executed"
    assert [m.payload for m in p.on("home/front_door/set")] == [b"UNLOCK"]


# -- 7. duplicates are answered -----------------------------------------------------------


def test_duplicates_get_a_result_that_says_so(own) -> None:  # type: ignore[no-untyped-def]
    _, p = own
    i = rid()
    p.publish("edged/utterance", json.dumps({"text": "toggle the reading lamp", "id": i}))
    first = result_for(p, i)
    assert first["status"] == "executed"
    p.clear()
    p.publish("edged/utterance", json.dumps({"text": "toggle the reading lamp", "id": i}))
    again = result_for(p, i)
    assert again["duplicate"] is True and again["status"] == "executed"
    assert "not acted on again" in again["error"]
    p.clear()
    p.publish("edged/utterance", json.dumps({"text": "turn on the coffee maker", "id": i}))
    other = result_for(p, i)
    assert other["status"] == "error" and other["duplicate"] is True
    assert other["original"]["text"] == "toggle the reading lamp"
    time.sleep(0.3)
    assert p.on("cmnd/reading_lamp/POWER") == [] and p.on("cmnd/coffee/POWER") == []


def test_the_same_words_without_an_id_are_each_answered(own) -> None:  # type: ignore[no-untyped-def]
    _, p = own
    p.publish("edged/hallway/utterance", b"unlock the front door")
    p.publish("edged/hallway/utterance", b"yes")
    p.publish("edged/hallway/utterance", b"yes")
    got = wait_results(p, 3, timeout=15)
    statuses = Counter(r["status"] for r in got)
    print(f"\nstatuses: {statuses}")
    assert len(got) == 3
    # The second "yes" is answered too (nothing is pending any more).
    assert statuses == {"needs_confirmation": 1, "executed": 1, "not_recognized": 1}
    assert [m.payload for m in p.on("home/front_door/set")] == [b"UNLOCK"]  # once


# -- 4. QoS 1 is never shed ---------------------------------------------------------------


def test_a_qos1_flood_is_held_back_not_shed(broker: Broker, tmp_path: Path) -> None:
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    cfg["mqtt"]["client_id"] = "edged-qos1-flood"
    cfg["limits"] = {"inbox_size": 4}  # Receive Maximum 2
    cfg["topics"] = {"utterance": ["q1/utterance"], "result": "q1/result", "status": "q1/status"}
    d = DaemonProcess(cfg, tmp_path).start()
    observer = Probe(broker.port, ("q1/#",)).connect()
    publisher = Probe(broker.port, ("nothing/here",)).connect()
    try:
        d.wait_online(observer)
        ids = [f"q{k}" for k in range(400)]
        for i in ids:
            body = json.dumps({"text": "turn on the reading lamp", "id": i})
            publisher.publish("q1/utterance", body, qos=1, wait=False)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(observer.on("q1/result")) < 400:
            time.sleep(0.2)
        got = [json.loads(m.payload) for m in observer.on("q1/result")]
        by_id = Counter(r["id"] for r in got)
        shed = [r for r in got if "overloaded" in (r["error"] or "")]
        print(f"\nsent=400 results={len(got)} shed={len(shed)}")
        assert set(by_id) == set(ids) and max(by_id.values()) == 1
        assert shed == []
        assert all(r["status"] == "executed" for r in got)
    finally:
        publisher.close()
        observer.close()
        d.stop()


# -- 8. the message in flight when the broker went away ------------------------------------


def test_the_message_in_flight_over_a_broker_crash_is_answered(tmp_path: Path) -> None:
    """The broker freezes while edged is handling a burst, dies (kill -9,
    no persistence: it forgets edged's session) and comes back. Every
    utterance edged had taken in is answered on the new broker; on/off
    commands that were not acknowledged are sent again, a toggle is not
    (its result says it may not have gone out)."""
    broker = Broker(free_port(), tmp_path).start()
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    # Slower than the probe's reconnect, so the probe is back first.
    cfg["mqtt"].update(reconnect_min_s=1.5, reconnect_max_s=1.5, keepalive=5)
    d = start_online(broker.port, cfg, tmp_path)
    p = Probe(broker.port, ("edged/#", "cmnd/#")).connect()
    texts = ["turn on the coffee maker", "toggle the reading lamp", "turn off the coffee maker"]
    try:
        ids = [f"f{k}-{rid()}" for k in range(30)]
        for k, i in enumerate(ids):
            p.publish("edged/utterance", json.dumps({"text": texts[k % 3], "id": i}), wait=False)
        p.publish("edged/utterance", json.dumps({"text": texts[0], "id": "last"}))
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        broker.proc.kill()
        broker.proc.wait()
        restarted = time.perf_counter()
        broker.start()
        time.sleep(3)
        taken = [i for i in [*ids, "last"] if f"in: id={i} " in d.output()]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answered = {r["id"] for r in results(p)}
            if set(taken) <= answered:
                break
            time.sleep(0.2)
        got = results(p)
        by_id = Counter(r["id"] for r in got)
        twice = sum(1 for i in taken if by_id[i] > 1)
        after = [json.loads(m.payload) for m in p.on("edged/result") if m.at > restarted]
        print(
            f"\nanswered after the restart: {[(r['id'], r['status'], r['error']) for r in after]}"
        )
        print(f"\ntaken in={len(taken)} answered={sum(1 for i in taken if by_id[i])} twice={twice}")
        assert taken, d.output()[-2000:]
        assert all(by_id[i] >= 1 for i in taken), d.output()[-3000:]
        assert after, "nothing was in flight at the crash: the test proved nothing"
        toggles = p.on("cmnd/reading_lamp/POWER")
        for r in got:
            if r["text"] == texts[1] and r["status"] == "executed":
                # Executed after the crash only if its PUBACK came from this broker.
                assert toggles, r
    finally:
        p.close()
        d.stop()
        broker.stop()


# -- 9. READY=1 only once edged listens; a short reconnect backoff --------------------------


def test_ready_after_connect_and_a_short_backoff(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(0.2)
    port = free_port()
    cfg = base_config(port, state_dir=str(tmp_path / "state"))
    d = DaemonProcess(cfg, tmp_path, env={"NOTIFY_SOCKET": str(sock_path)}).start()
    broker: Broker | None = None

    def drain() -> list[str]:
        got = []
        while True:
            try:
                got.append(notify.recv(4096).decode())
            except TimeoutError:
                return got

    try:
        time.sleep(8)  # long enough for a 30 s-style backoff to grow past 5 s
        before = drain()
        assert not any("READY=1" in m for m in before), before
        (tmp_path / "b").mkdir()
        broker = Broker(port, tmp_path / "b").start()
        started = time.monotonic()
        p = Probe(port, ("edged/status",)).connect()
        d.wait_online(p, timeout=60)
        took = time.monotonic() - started
        after = drain()
        p.close()
        print(f"\nonline {took:.1f} s after the broker came up; notifications: {after}")
        assert any("READY=1" in m for m in after)
        # The backoff is bounded by reconnect_max_s (5 by default): read from
        # the waits the daemon says it takes, not from the wall clock, which
        # a loaded host stretches (7.5 s once beside two training runs).
        waits = [float(w) for w in re.findall(r"reconnecting in ([0-9.]+) s", d.output())]
        assert waits, d.output()[-2000:]
        assert max(waits) <= 5.0, waits
    finally:
        d.stop()
        notify.close()
        if broker is not None:
            broker.stop()


# -- 6. an unusable state_dir --------------------------------------------------------------


def test_an_unusable_state_dir_is_one_line_and_exit_78(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = base_config(free_port(), state_dir=str(blocker / "state"))
    path = tmp_path / "edged.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    run = subprocess.run(
        [sys.executable, "-m", "edged.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 78, run.stderr
    assert len(lines) == 1 and "state_dir" in lines[0], run.stderr
