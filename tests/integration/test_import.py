"""Devices imported from the broker (import:) and `systemctl reload` (SIGHUP),
through a real Mosquitto holding retained Zigbee2MQTT `bridge/devices` and
Home Assistant discovery configs (tests/fixtures/import, formats as their
projects document them; see tests/test_importer.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.broker import Broker, Probe, free_port
from tests.integration.conftest import REPO, DaemonProcess, result_for, say, start_online

FIXTURES = REPO / "tests" / "fixtures" / "import"
BRIDGE = (FIXTURES / "zigbee2mqtt_bridge_devices.json").read_text()
DISCOVERY: dict[str, Any] = json.loads((FIXTURES / "homeassistant_discovery.json").read_text())
IMPORT = {
    "zigbee2mqtt": {"base_topic": "zigbee2mqtt"},
    "homeassistant": {"prefix": "homeassistant"},
}


def only_mqtt_and_import(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"edged-import-{port}"},
        "import": IMPORT,
        **extra,
    }


def publish_fixtures(port: int) -> None:
    pub = Probe(port, ("edged/none",)).connect()
    try:
        pub.publish("zigbee2mqtt/bridge/devices", BRIDGE, retain=True)
        for topic, payload in DISCOVERY.items():
            text = payload if isinstance(payload, str) else json.dumps(payload)
            pub.publish(topic, text, retain=True)
    finally:
        pub.close()


@pytest.fixture(scope="module")
def home_broker(broker: Broker) -> Broker:
    publish_fixtures(broker.port)
    return broker


@pytest.fixture(scope="module")
def imported(
    home_broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    work = tmp_path_factory.mktemp("imported")
    d = start_online(home_broker.port, only_mqtt_and_import(home_broker.port), work)
    yield d
    d.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of its own, so only one edged answers there."""
    b = Broker(free_port(), tmp_path / "broker")
    b.workdir.mkdir()
    b.start()
    publish_fixtures(b.port)
    yield b
    b.stop()


def commands(probe: Probe, topic: str, timeout: float = 5.0) -> list[str]:
    return [m.payload.decode() for m in probe.wait_for(lambda m: m.topic == topic, timeout)]


def homes_built(d: DaemonProcess) -> int:
    return d.output().count("edged.daemon: home: ")


def wait_rebuilt(d: DaemonProcess, before: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while homes_built(d) <= before:
        assert time.monotonic() < deadline, "the home was not rebuilt:\n" + d.output()[-2000:]
        time.sleep(0.05)


def wait_log(d: DaemonProcess, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = d.output()
        if text in out:
            return out
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n" + d.output()[-3000:])


# --- import ------------------------------------------------------------------------


def test_turn_on_the_kitchen_ceiling_with_only_mqtt_and_import(
    imported: DaemonProcess, probe: Probe
) -> None:
    result = say(probe, "turn on the kitchen ceiling", "imp-1")
    assert result["status"] == "executed", result
    assert [a["device"] for a in result["actions"]] == ["kitchen_ceiling"]
    assert commands(probe, "zigbee2mqtt/kitchen/ceiling/set") == ['{"state":"ON"}']


def test_a_command_through_a_home_assistant_discovered_device(
    imported: DaemonProcess, probe: Probe
) -> None:
    result = say(probe, "turn on the coffee maker", "imp-2")
    assert result["status"] == "executed", result
    assert commands(probe, "cmnd/coffee/POWER") == ["ON"]
    result = say(probe, "set the sofa strip to 40 percent", "imp-3")
    assert result["status"] == "executed", result
    # A default-schema light with brightness_scale 100, on its own topic.
    assert commands(probe, "home/sofa_strip/brightness/set") == ["40"]


def test_an_imported_lock_asks_before_unlocking(imported: DaemonProcess, probe: Probe) -> None:
    result = say(probe, "unlock the back door", "imp-4", site="hallway")
    assert result["status"] == "needs_confirmation", result
    time.sleep(0.3)
    assert not [m for m in probe.messages if m.topic == "home/back_door/set"]
    say(probe, "no", "imp-4b", site="hallway")


@pytest.mark.parametrize(
    ("topic", "payload", "text", "device", "value"),
    [
        ("stat/coffee/POWER", "OFF", "is the coffee maker on", "coffee_maker", "off"),
        (
            "zigbee2mqtt/Living Room Lamp",
            '{"state": "ON", "brightness": 254}',
            "is the living room lamp on",
            "living_room_lamp",
            "on",
        ),
    ],
)
def test_state_from_the_imported_state_topic(
    imported: DaemonProcess,
    probe: Probe,
    topic: str,
    payload: str,
    text: str,
    device: str,
    value: str,
) -> None:
    probe.publish(topic, payload)
    time.sleep(0.3)
    r = say(probe, text, f"state-{device}")
    assert r["status"] == "executed", r
    assert r["state"]["device"] == device and r["state"]["value"] == value


def test_bad_messages_on_import_topics_are_logged_once_and_skipped(
    imported: DaemonProcess, probe: Probe
) -> None:
    for _ in range(2):
        probe.publish("zigbee2mqtt/bridge/devices", "not json at all")
        probe.publish("homeassistant/switch/junk/config", '{"name": "Junk", "cmd_t": ')
        probe.publish("homeassistant/light/odd/config", '["a", "list"]')
    out = wait_log(imported, "homeassistant/light/odd/config: not a JSON object")
    time.sleep(0.5)
    out = imported.output()
    assert out.count("import: zigbee2mqtt/bridge/devices: not JSON") == 1
    assert out.count("import: homeassistant/switch/junk/config: not JSON") == 1
    # The unreadable bridge message left the imported devices as they were.
    result = say(probe, "turn off the kitchen ceiling", "imp-5")
    assert result["status"] == "executed", result
    assert imported.proc is not None and imported.proc.poll() is None


def test_a_rename_on_the_bridge_while_running_loses_nothing(
    imported: DaemonProcess, probe: Probe
) -> None:
    renamed = json.loads(BRIDGE)
    for entry in renamed:
        if entry["friendly_name"] == "kitchen/ceiling":
            entry["friendly_name"] = "kitchen/pendant"
    # Zigbee2MQTT announces the renamed device to Home Assistant as well.
    ha_topic = "homeassistant/light/0x0017880104e45517/light/config"
    ha_renamed = json.loads(json.dumps(DISCOVERY[ha_topic]).replace("ceiling", "pendant"))
    ids = [f"ren-{i}" for i in range(20)]
    built = homes_built(imported)
    try:
        # Utterances on both sides of the rename, all answered.
        for i, rid in enumerate(ids):
            if i == 10:
                probe.publish("zigbee2mqtt/bridge/devices", json.dumps(renamed), retain=True)
                probe.publish(ha_topic, json.dumps(ha_renamed), retain=True)
            probe.publish(
                "edged/utterance", json.dumps({"text": "turn on the hallway plug", "id": rid})
            )
        for rid in ids:
            assert result_for(probe, rid)["status"] == "executed"
        wait_rebuilt(imported, built)
        deadline = time.monotonic() + 5
        while True:
            result = say(probe, "turn on the kitchen pendant", f"ren-p-{time.monotonic()}")
            if result["status"] == "executed" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert result["status"] == "executed", result
        assert commands(probe, "zigbee2mqtt/kitchen/pendant/set") == ['{"state":"ON"}']
        # The renamed device's state topic is listened to from now on.
        probe.publish("zigbee2mqtt/kitchen/pendant", '{"state": "OFF"}')
        time.sleep(0.3)
        asked = say(probe, "is the kitchen pendant on", "ren-state")
        assert asked["state"]["device"] == "kitchen_pendant", asked
        assert asked["state"]["value"] == "off"
        before = len([m for m in probe.messages if m.topic == "zigbee2mqtt/kitchen/ceiling/set"])
        old = say(probe, "turn on the kitchen ceiling", "ren-old")
        assert old["status"] != "executed" or all(
            a["topic"] != "zigbee2mqtt/kitchen/ceiling/set" for a in old["actions"]
        )
        time.sleep(0.2)
        after = len([m for m in probe.messages if m.topic == "zigbee2mqtt/kitchen/ceiling/set"])
        assert after == before
    finally:
        probe.publish("zigbee2mqtt/bridge/devices", BRIDGE, retain=True)
        probe.publish(ha_topic, json.dumps(DISCOVERY[ha_topic]), retain=True)


def test_a_removed_discovery_config_removes_the_device(
    imported: DaemonProcess, probe: Probe
) -> None:
    topic = "homeassistant/switch/coffee/config"
    try:
        built = homes_built(imported)
        probe.publish(topic, "", retain=True)
        wait_rebuilt(imported, built)
        result = say(probe, "turn on the coffee maker", "rm-1")
        assert result["status"] != "executed"
        assert not [a for a in result["actions"] if a.get("topic") == "cmnd/coffee/POWER"]
    finally:
        probe.publish(topic, json.dumps(DISCOVERY[topic]), retain=True)


# --- YAML wins, and `edged devices` -------------------------------------------------

OVERRIDE = {
    "areas": [{"id": "kitchen", "name": "Kitchen"}, {"id": "living_room", "name": "Living Room"}],
    "devices": [
        {
            "id": "big_light",
            "name": "Big Light",
            "area": "kitchen",
            "kind": "light",
            "protocol": "zigbee2mqtt",
            "topic": "zigbee2mqtt/kitchen/ceiling",
        }
    ],
}


def test_a_device_in_the_yaml_overrides_the_imported_one(
    own_broker: Broker, tmp_path: Path
) -> None:
    home_broker = own_broker
    cfg = only_mqtt_and_import(home_broker.port, **OVERRIDE)
    cfg["mqtt"]["client_id"] = "edged-override"
    d = start_online(home_broker.port, cfg, tmp_path)
    p = Probe(home_broker.port).connect()
    try:
        result = say(p, "turn on the big light", "ovr-1")
        assert result["status"] == "executed", result
        assert [a["device"] for a in result["actions"]] == ["big_light"]
        assert commands(p, "zigbee2mqtt/kitchen/ceiling/set") == ['{"state":"ON"}']
        assert "2 imported ones replaced by devices in the config" in d.output()
    finally:
        p.close()
        d.stop()


def run_devices(cfg: dict[str, Any], work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = work / "devices.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", "devices", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_edged_devices_lists_the_home_with_where_each_came_from(
    home_broker: Broker, tmp_path: Path
) -> None:
    cfg = only_mqtt_and_import(home_broker.port, **OVERRIDE)
    done = run_devices(cfg, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["big_light"]["source"] == "yaml"
    assert "kitchen_ceiling" not in rows
    assert rows["living_room_lamp"] | {} == {
        "id": "living_room_lamp",
        "name": "Living Room Lamp",
        "kind": "light",
        "area": "living_room",
        "source": "zigbee2mqtt",
        "protocol": "zigbee2mqtt",
        "topics": ["zigbee2mqtt/Living Room Lamp/set"],
        "state_topic": "zigbee2mqtt/Living Room Lamp",
    }
    assert rows["coffee_maker"]["source"] == "homeassistant"
    assert rows["coffee_maker"]["area"] == "kitchen"
    assert rows["desk_lamp"]["area"] == "office"
    assert "light/broken/config: not JSON" in done.stderr
    table = run_devices(cfg, tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "KIND", "AREA", "SOURCE", "TOPICS"]
    assert len(lines) == 1 + len(rows)


def test_edged_devices_without_a_broker_is_an_error(tmp_path: Path) -> None:
    done = run_devices(only_mqtt_and_import(free_port()), tmp_path)
    assert done.returncode == 1
    assert "edged devices: 127.0.0.1:" in done.stderr


# --- reload (SIGHUP) ---------------------------------------------------------------

FISH = {
    "id": "fish_tank",
    "name": "Fish Tank",
    "area": "kitchen",
    "kind": "switch",
    "protocol": "tasmota",
    "topic": "fishtank",
}


def test_sighup_reloads_a_good_config_and_refuses_a_bad_one(
    own_broker: Broker, tmp_path: Path
) -> None:
    home_broker = own_broker
    cfg = only_mqtt_and_import(home_broker.port, **OVERRIDE)
    cfg["mqtt"]["client_id"] = "edged-reload"
    cfg["state_dir"] = str(tmp_path / "state")
    d = start_online(home_broker.port, cfg, tmp_path)
    p = Probe(home_broker.port).connect()
    try:
        assert d.proc is not None
        first = say(p, "turn on the fish tank", "rl-0")
        assert first["status"] != "executed"

        # A good config: the new device serves from the next utterance on;
        # what was sent around the reload is all answered, nothing twice.
        cfg["devices"] = [*OVERRIDE["devices"], FISH]
        # import.areas reloads too (the import sources themselves take a restart).
        cfg["import"] = {**IMPORT, "areas": {"Office Fan": "kitchen"}}
        d.path.write_text(yaml.safe_dump(cfg))
        ids = [f"rl-burst-{i}" for i in range(30)]
        for i, rid in enumerate(ids):
            if i == 15:
                d.proc.send_signal(signal.SIGHUP)
            p.publish("edged/utterance", json.dumps({"text": "turn off the big light", "id": rid}))
        for rid in ids:
            assert result_for(p, rid)["status"] == "executed"
        wait_log(d, "reloaded ")
        result = say(p, "turn on the fish tank", "rl-1")
        assert result["status"] == "executed", result
        assert commands(p, "cmnd/fishtank/POWER") == ["ON"]
        fan = say(p, "turn on the kitchen fan", "rl-fan")
        assert [a["device"] for a in fan["actions"]] == ["office_fan"], fan
        assert "takes a restart" not in d.output()
        # The journal stayed: a repeated request id is still a duplicate.
        p.publish("edged/utterance", json.dumps({"text": "turn on the fish tank", "id": "rl-1"}))
        time.sleep(0.5)
        assert len(commands(p, "cmnd/fishtank/POWER")) == 1

        # A bad config: one log line, and the old one keeps serving.
        d.path.write_text("devices:\n  - {id: Bad Id, kind: toaster}\n")
        d.proc.send_signal(signal.SIGHUP)
        out = wait_log(d, "reload refused")
        refused = [line for line in out.splitlines() if "reload refused" in line]
        assert len(refused) == 1, refused
        assert "devices[0]" in refused[0]
        result = say(p, "turn off the fish tank", "rl-2")
        assert result["status"] == "executed", result
        assert d.proc.poll() is None

        # A change that needs a restart is named, the rest still reloads.
        cfg["nlu"] = {"threads": 2}
        cfg["devices"] = list(OVERRIDE["devices"])
        d.path.write_text(yaml.safe_dump(cfg))
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "reload: nlu changed, which takes a restart")
        deadline = time.monotonic() + 5
        while say(p, "turn on the fish tank", f"rl-3-{time.monotonic()}")["status"] == "executed":
            assert time.monotonic() < deadline, "the device removed by the reload still answers"
            time.sleep(0.2)
    finally:
        p.close()
        assert d.stop() == 0
