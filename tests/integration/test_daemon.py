"""edged run against a real Mosquitto: exact topics, payloads and results."""

from __future__ import annotations

import json
import signal
import threading
import uuid

import pytest

from tests.broker import Broker, Probe
from tests.integration.conftest import DaemonProcess, base_config, result_for, say


def rid() -> str:
    return uuid.uuid4().hex[:12]


def commands(probe: Probe, topic: str) -> list[dict]:
    return [json.loads(m.payload) for m in probe.on(topic)]


def test_turn_off_the_kitchen_lights(daemon: DaemonProcess, probe: Probe) -> None:
    r = say(probe, "turn off the kitchen lights", rid())
    assert r["status"] == "executed", r
    assert r["intent"] == "HassTurnOff"
    assert 0.5 < r["confidence"] <= 1.0
    assert sorted(a["device"] for a in r["actions"]) == ["kitchen_ceiling", "kitchen_spots"]
    probe.wait_for(lambda m: m.topic == "zigbee2mqtt/Kitchen Spots/set")
    assert commands(probe, "zigbee2mqtt/Kitchen Ceiling/set") == [{"state": "OFF"}]
    assert commands(probe, "zigbee2mqtt/Kitchen Spots/set") == [{"state": "OFF"}]
    assert r["latency_ms"] > 0 and set(r["stages_ms"]) >= {"tokenize", "infer", "resolve"}


def test_plain_text_payload_and_tasmota(daemon: DaemonProcess, probe: Probe) -> None:
    probe.publish("edged/utterance", "switch on the coffee maker")
    msg = probe.wait_for(lambda m: m.topic == "cmnd/coffee/POWER")[0]
    assert msg.payload == b"ON"
    r = json.loads(probe.wait_for(lambda m: m.topic == "edged/result")[0].payload)
    assert r["status"] == "executed" and r["text"] == "switch on the coffee maker"


def test_brightness_percent_becomes_254_scale(daemon: DaemonProcess, probe: Probe) -> None:
    r = say(probe, "set the kitchen ceiling light to 50 percent", rid())
    assert r["status"] == "executed", r
    payload = commands(probe, "zigbee2mqtt/Kitchen Ceiling/set")[-1]
    assert payload["brightness"] == 127


def test_temperature_in_words(daemon: DaemonProcess, probe: Probe) -> None:
    r = say(probe, "set the bedroom to twenty one degrees", rid())
    assert r["status"] == "executed", r
    payload = commands(probe, "zigbee2mqtt/Bedroom TRV/set")[-1]
    assert payload == {"current_heating_setpoint": 21}


def test_site_fills_the_area(daemon: DaemonProcess, probe: Probe) -> None:
    probe.publish(
        "edged/kitchen/utterance", json.dumps({"text": "turn on the lights", "id": (i := rid())})
    )
    r = result_for(probe, i)
    assert r["status"] == "executed" and r["site"] == "kitchen", r
    assert sorted(a["device"] for a in r["actions"]) == ["kitchen_ceiling", "kitchen_spots"]


def test_it_refers_to_what_the_site_touched_last(daemon: DaemonProcess, probe: Probe) -> None:
    r1 = say(probe, "turn on the bedroom fan", rid(), site="bedroom")
    assert r1["status"] == "executed", r1
    r2 = say(probe, "turn it off", rid(), site="bedroom")
    assert r2["status"] == "executed", r2
    assert [a["device"] for a in r2["actions"]] == ["bedroom_fan"]
    assert probe.on("home/bedroom_fan/set")[-1].payload == b"OFF"
    # Another site has touched nothing: "it" means nothing there.
    r3 = say(probe, "turn it off", rid(), site="hallway")
    assert r3["status"] != "executed" and not r3["actions"]


def test_unlock_needs_a_spoken_confirmation_from_the_same_site(
    daemon: DaemonProcess, probe: Probe
) -> None:
    r = say(probe, "unlock the front door", rid(), site="hallway")
    assert r["status"] == "needs_confirmation", r
    assert "front door" in r["error"].lower()
    assert probe.on("home/front_door/set") == []
    # "yes" from another room does not open the door
    other = say(probe, "yes", rid(), site="kitchen")
    assert other["status"] != "executed" or not other["actions"]
    assert probe.on("home/front_door/set") == []
    ok = say(probe, "yes", rid(), site="hallway")
    assert ok["status"] == "executed", ok
    assert probe.wait_for(lambda m: m.topic == "home/front_door/set")[0].payload == b"UNLOCK"


def test_confirmation_can_be_declined(daemon: DaemonProcess, probe: Probe) -> None:
    assert (
        say(probe, "unlock the front door", rid(), site="hallway")["status"] == "needs_confirmation"
    )
    r = say(probe, "no", rid(), site="hallway")
    assert r["actions"] == []
    r = say(probe, "yes", rid(), site="hallway")
    assert r["actions"] == []
    assert probe.on("home/front_door/set") == []


def test_unknown_device_is_named_and_nothing_moves(daemon: DaemonProcess, probe: Probe) -> None:
    r = say(probe, "turn on the jacuzzi", rid())
    assert r["status"] in ("error", "not_recognized"), r
    assert r["actions"] == []
    assert "jacuzzi" in (r["error"] or "")
    assert not [m for m in probe.messages if not m.topic.startswith("edged/")]


def test_chatter_moves_nothing(daemon: DaemonProcess, probe: Probe) -> None:
    for text in (
        "the kitchen looks great",
        "she turned off the tv at nine",
        "what's the weather tomorrow",
    ):
        r = say(probe, text, rid())
        assert r["status"] == "not_recognized", r
        assert r["actions"] == []
    assert not [m for m in probe.messages if not m.topic.startswith("edged/")]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"text": "turn on the', "broken JSON"),
        (b"\xff\xfeturn on the light", "UTF-8"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"x" * 20000, "too large"),
        (b'{"id": "no-text"}', "text"),
        (b"[" * 50 + b"]" * 50, "JSON"),
        (b'{"text": 5}', "text"),
        (b"\x00\x01\x02", "no text"),
    ],
)
def test_bad_input_gets_an_error_result_and_the_daemon_keeps_serving(
    daemon: DaemonProcess, probe: Probe, payload: bytes, words: str
) -> None:
    probe.publish("edged/utterance", payload)
    r = json.loads(probe.wait_for(lambda m: m.topic == "edged/result")[0].payload)
    assert r["status"] == "error", r
    assert words.lower() in r["error"].lower(), r
    ok = say(probe, "turn off the reading lamp", rid())
    assert ok["status"] == "executed", ok
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_many_sites_at_once(daemon: DaemonProcess, probe: Probe) -> None:
    requests = {
        rid(): ("kitchen", "turn on the lights", {"kitchen_ceiling", "kitchen_spots"}),
        rid(): ("bedroom", "turn on the fan", {"bedroom_fan"}),
        rid(): ("living_room", "switch off the reading lamp", {"reading_lamp"}),
        rid(): ("kitchen", "turn on the coffee maker", {"coffee_maker"}),
    }
    threads = [
        threading.Thread(
            target=probe.publish,
            args=(f"edged/{site}/utterance", json.dumps({"text": text, "id": i})),
        )
        for i, (site, text, _) in requests.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (site, _, devices) in requests.items():
        r = result_for(probe, i)
        assert r["site"] == site and r["status"] == "executed", r
        assert {a["device"] for a in r["actions"]} == devices


def test_reply_to_and_stale_utterances(daemon: DaemonProcess, probe: Probe) -> None:
    i = rid()
    probe.publish(
        "edged/utterance",
        json.dumps({"text": "turn on the reading lamp", "id": i, "reply_to": "edged/reply/hub"}),
    )
    r = result_for(probe, i, topic="edged/reply/hub")
    assert r["status"] == "executed"
    import time

    i = rid()
    probe.publish(
        "edged/utterance",
        json.dumps({"text": "turn off the reading lamp", "id": i, "ts": time.time() - 3600}),
    )
    r = result_for(probe, i)
    assert r["status"] == "error" and "stale" in r["error"], r
    assert r["actions"] == []


def test_status_is_retained_and_goes_offline_on_sigterm(broker: Broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = base_config(
        broker.port,
        topics={
            "status": "edged2/status",
            "result": "edged2/result",
            "utterance": ["edged2/utterance"],
        },
    )
    cfg["mqtt"]["client_id"] = "edged-sigterm"
    d = DaemonProcess(cfg, tmp_path).start()
    p = Probe(broker.port, ("edged2/#",)).connect()
    try:
        d.wait_online(p)
        late = Probe(broker.port, ("edged2/status",)).connect()
        retained = late.wait_for(lambda m: m.topic == "edged2/status")[0]
        assert retained.payload == b"online" and retained.retain
        late.close()
        assert d.stop(signal.SIGTERM) == 0
        p.wait_for(lambda m: m.topic == "edged2/status" and m.payload == b"offline")
    finally:
        p.close()
        d.stop()


def test_will_says_offline_when_the_daemon_dies(broker: Broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = base_config(
        broker.port,
        topics={
            "status": "edged3/status",
            "result": "edged3/result",
            "utterance": ["edged3/utterance"],
        },
    )
    cfg["mqtt"]["client_id"] = "edged-will"
    cfg["mqtt"]["session_expiry_s"] = 0
    cfg["mqtt"]["keepalive"] = 5
    d = DaemonProcess(cfg, tmp_path).start()
    p = Probe(broker.port, ("edged3/#",)).connect()
    try:
        d.wait_online(p)
        d.stop(signal.SIGKILL)
        p.wait_for(lambda m: m.topic == "edged3/status" and m.payload == b"offline", timeout=15)
    finally:
        p.close()
