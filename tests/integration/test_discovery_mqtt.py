"""Home Assistant discovery through a real Mosquitto: announce, re-announce, state, removal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Broker, Probe, Received
from tests.integration.conftest import (
    REPO,
    DaemonProcess,
    base_config,
    say,
    start_online,
    wait_quiet,
)

PREFIX = "homeassistant/sensor/edged/"
SENSORS = {
    "last_utterance",
    "last_intent",
    "last_status",
    "last_confidence",
    "last_latency",
    "utterances",
    "errors",
}


def rid() -> str:
    return uuid.uuid4().hex[:12]


def _configs(messages: list[Received]) -> dict[str, dict]:
    return {
        m.topic.split("/")[3]: json.loads(m.payload)
        for m in messages
        if m.topic.startswith(PREFIX) and m.topic.endswith("/config") and m.payload
    }


def _retained(port: int, topics: tuple[str, ...], settle: float = 0.5) -> list[Received]:
    """What a client that subscribes now gets from the broker's retained store."""
    late = Probe(port, topics).connect()
    try:
        wait_quiet(settle)
        return [m for m in late.messages if m.retain]
    finally:
        late.close()


@pytest.fixture(scope="module")
def announcing(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    work = tmp_path_factory.mktemp("discovery")
    cfg = base_config(broker.port, discovery={"enabled": True}, state_dir=str(work / "state"))
    # The state comes last in an announcement: after it, all is retained.
    d = start_online(broker.port, cfg, work, name="discovery", then="edged/state")
    yield d
    d.stop()


def test_announced_on_start_retained_and_conventional(
    announcing: DaemonProcess, broker: Broker
) -> None:
    retained = _retained(broker.port, ("homeassistant/#", "edged/state", "edged/status"))
    configs = _configs(retained)
    assert set(configs) == SENSORS
    unique_ids = {c["unique_id"] for c in configs.values()}
    assert len(unique_ids) == len(SENSORS)
    for object_id, c in configs.items():
        assert c["unique_id"] == f"edged_{object_id}"
        assert c["default_entity_id"] == f"sensor.edged_{object_id}"
        assert c["availability_topic"] == "edged/status"
        assert c["payload_available"] == "online" and c["payload_not_available"] == "offline"
        assert c["state_topic"] == "edged/state"
        assert c["device"]["identifiers"] == ["edged"] and c["device"]["name"] == "edged"
        assert {"manufacturer", "model", "sw_version"} <= set(c["device"])
        assert c["origin"]["name"] == "edged"
    status = [m for m in retained if m.topic == "edged/status"]
    assert status and status[0].payload == b"online"
    state = [m for m in retained if m.topic == "edged/state"]
    assert state and "utterances" in json.loads(state[0].payload)


def test_state_follows_each_utterance(announcing: DaemonProcess, probe: Probe) -> None:
    before = _latest_state(probe, wait=False)
    r = say(probe, "turn off the kitchen ceiling light", rid(), site="kitchen")
    assert r["status"] == "executed", r
    state = _latest_state(probe, lambda s: s["last_id"] == r["id"])
    assert state["last_intent"] == "HassTurnOff" and state["last_status"] == "executed"
    assert state["last_utterance"] == "turn off the kitchen ceiling light"
    assert state["last_site"] == "kitchen"
    assert state["last_confidence"] == pytest.approx(r["confidence"], abs=1e-3)
    assert state["last_latency_ms"] > 0
    assert state["utterances"] == (before["utterances"] if before else 0) + 1
    probe.publish("edged/utterance", b"\xff\xfe")
    state = _latest_state(probe, lambda s: s["last_status"] == "error")
    assert state["errors"] >= 1


def _latest_state(probe: Probe, pred=None, wait: bool = True) -> dict:  # type: ignore[no-untyped-def]
    def match(m: Received) -> bool:
        return (
            m.topic == "edged/state"
            and bool(m.payload)
            and (pred is None or pred(json.loads(m.payload)))
        )

    if not wait:
        found = [m for m in probe.messages if match(m)]
        return json.loads(found[-1].payload) if found else {}
    return json.loads(probe.wait_for(match)[-1].payload)


def test_reannounced_when_home_assistant_comes_online(
    announcing: DaemonProcess, probe: Probe
) -> None:
    # Live (not retained) copies are what edged publishes now; the retained
    # ones are the broker's answer to the probe's own subscription.
    probe.publish("homeassistant/status", "offline")
    wait_quiet(0.5)
    assert not [m for m in probe.messages if m.topic.startswith(PREFIX) and not m.retain]
    assert not [m for m in probe.messages if m.topic == "edged/result"], "not an utterance"
    probe.publish("homeassistant/status", "online")
    fresh = probe.wait_for(
        lambda m: m.topic.startswith(PREFIX) and not m.retain, count=len(SENSORS)
    )
    assert set(_configs(fresh)) == SENSORS
    probe.wait_for(lambda m: m.topic == "edged/state" and not m.retain)
    assert announcing.proc is not None and announcing.proc.poll() is None


def test_remove_with_the_cli_and_offline_on_stop(broker: Broker, tmp_path: Path) -> None:
    cfg = base_config(
        broker.port,
        discovery={"enabled": True, "node_id": "edged_rm", "state_topic": "edged_rm/state"},
        topics={
            "status": "edged_rm/status",
            "result": "edged_rm/result",
            "utterance": ["edged_rm/utterance"],
        },
    )
    cfg["mqtt"]["client_id"] = "edged-rm"
    d = DaemonProcess(cfg, tmp_path, name="rm").start()
    watch = Probe(broker.port, ("homeassistant/#", "edged_rm/#")).connect()
    try:
        d.wait_online(watch)
        watch.wait_for(
            lambda m: m.topic.startswith("homeassistant/sensor/edged_rm/"), count=len(SENSORS)
        )
        assert d.stop(signal.SIGTERM) == 0
        # Availability goes offline, retained: Home Assistant shows the sensors unavailable.
        watch.wait_for(lambda m: m.topic == "edged_rm/status" and m.payload == b"offline")
        out = subprocess.run(
            [sys.executable, "-m", "edged.cli", "discovery", "--remove", "--config", str(d.path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "removed 7 entities" in out.stdout
        empties = watch.wait_for(
            lambda m: m.topic.startswith("homeassistant/sensor/edged_rm/") and m.payload == b"",
            count=len(SENSORS),
        )
        assert {m.topic.split("/")[3] for m in empties} == SENSORS
        left = _retained(broker.port, ("homeassistant/sensor/edged_rm/#", "edged_rm/state"))
        assert left == [], [m.topic for m in left]
    finally:
        watch.close()
        d.stop()


def test_discovery_cli_prints_the_configs(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("discovery: {enabled: true, node_id: den}\n")
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "discovery", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == len(SENSORS) and all(rec["retain"] for rec in lines)
    assert {rec["topic"] for rec in lines} == {
        f"homeassistant/sensor/den/{s}/config" for s in SENSORS
    }
