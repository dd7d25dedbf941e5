"""Home Assistant MQTT discovery payloads, checked against Home Assistant's conventions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import edged
from edged.config import ConfigError, parse_config
from edged.discovery import (
    SENSORS,
    HaState,
    announce_messages,
    config_topic,
    is_birth,
    removal_messages,
    sensor_config,
    state_message,
)
from edged.messages import ResultEvent

CFG = parse_config("discovery: {enabled: true}\n")
# Home Assistant: "The <node_id> and <object_id> must consist of characters
# from the character class [a-zA-Z0-9_-]".
TOPIC_RE = re.compile(r"^homeassistant/sensor/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config$")
ENTITY_ID_RE = re.compile(r"^sensor\.[a-z0-9_]+$")
# The keys of Home Assistant's MQTT sensor discovery schema that edged may use
# (full names: abbreviations are allowed but not needed).
SENSOR_KEYS = {
    "name",
    "unique_id",
    "default_entity_id",
    "state_topic",
    "value_template",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "icon",
    "device",
    "origin",
    "unit_of_measurement",
    "device_class",
    "state_class",
    "suggested_display_precision",
    "json_attributes_topic",
    "json_attributes_template",
}
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version"}
STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
DURATION_UNITS = {"d", "h", "min", "s", "ms", "µs"}


def _configs(cfg: Any = CFG) -> dict[str, dict[str, Any]]:
    return {m.topic: json.loads(m.payload) for m in announce_messages(cfg)}


def test_topics_are_well_formed_and_retained() -> None:
    messages = announce_messages(CFG)
    assert len(messages) == len(SENSORS) >= 6
    for m in messages:
        assert TOPIC_RE.match(m.topic), m.topic
        assert m.retain
    assert len({m.topic for m in messages}) == len(messages)
    assert "homeassistant/sensor/edged/last_intent/config" in {m.topic for m in messages}


def test_ids_are_unique_and_entity_ids_valid() -> None:
    configs = list(_configs().values())
    unique_ids = [c["unique_id"] for c in configs]
    entity_ids = [c["default_entity_id"] for c in configs]
    assert len(set(unique_ids)) == len(unique_ids)
    assert len(set(entity_ids)) == len(entity_ids)
    assert all(ENTITY_ID_RE.match(e) for e in entity_ids), entity_ids
    # object_id is deprecated since Home Assistant 2025.10 (removed in 2026.4).
    assert all("object_id" not in c for c in configs)
    for topic, c in _configs().items():
        object_id = topic.split("/")[3]
        assert c["unique_id"] == f"edged_{object_id}"
        assert c["default_entity_id"] == f"sensor.edged_{object_id}"


def test_every_sensor_has_availability_device_and_origin() -> None:
    configs = list(_configs().values())
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs}
    assert len(devices) == 1, "all sensors belong to one device"
    for c in configs:
        assert set(c) <= SENSOR_KEYS, set(c) - SENSOR_KEYS
        assert c["availability_topic"] == "edged/status"
        assert (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
        assert c["state_topic"] == "edged/state"
        assert c["name"] and not c["name"].lower().startswith("edged")  # HA adds the device name
        device = c["device"]
        assert set(device) == DEVICE_KEYS
        assert device["identifiers"] == ["edged"] and device["sw_version"] == edged.__version__
        assert c["origin"] == {"name": "edged", "sw_version": edged.__version__}
        assert c["icon"].startswith("mdi:")


def test_units_and_state_classes_fit_home_assistant() -> None:
    by_id = {t.split("/")[3]: c for t, c in _configs().items()}
    for c in by_id.values():
        if "state_class" in c:
            assert c["state_class"] in STATE_CLASSES
        if c.get("device_class") == "duration":
            assert c["unit_of_measurement"] in DURATION_UNITS
    assert by_id["utterances"]["state_class"] == "total_increasing"
    assert by_id["errors"]["state_class"] == "total_increasing"
    assert by_id["last_latency"]["unit_of_measurement"] == "ms"
    assert by_id["last_latency"]["device_class"] == "duration"
    assert by_id["last_confidence"]["unit_of_measurement"] == "%"
    for text in ("last_utterance", "last_intent", "last_status"):
        # Text sensors: a unit or state class would make HA expect numbers.
        assert not {"unit_of_measurement", "state_class", "device_class"} & set(by_id[text])


def test_node_id_name_prefix_and_support_url_are_configurable() -> None:
    cfg = parse_config(
        "discovery:\n  enabled: true\n  prefix: ha\n  node_id: Edged-Kitchen\n"
        "  name: Kitchen NLU\n  support_url: https://example.org/edged\n"
        "topics: {status: home/edged-kitchen/status}\n"
    )
    (topic, c), *_ = _configs(cfg).items()
    assert topic.startswith("ha/sensor/Edged-Kitchen/")
    assert c["unique_id"].startswith("Edged-Kitchen_")
    assert ENTITY_ID_RE.match(c["default_entity_id"])
    assert c["default_entity_id"].startswith("sensor.edged_kitchen_")
    assert c["device"]["name"] == "Kitchen NLU" and c["device"]["identifiers"] == ["Edged-Kitchen"]
    assert c["availability_topic"] == "home/edged-kitchen/status"
    assert c["origin"]["support_url"] == "https://example.org/edged"


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("discovery: {node_id: 'edged/1'}", "node_id"),
        ("discovery: {node_id: 'a b'}", "node_id"),
        ("discovery: {prefix: 'home/#'}", "prefix"),
        ("discovery: {state_topic: 'edged/+'}", "state_topic"),
        ("discovery: {support_url: 'not a url'}", "support_url"),
        ("discovery: {nodeid: x}", "node_id"),
    ],
)
def test_bad_discovery_config_is_named(yaml_text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(yaml_text)


def _result(status: str, **kw: Any) -> ResultEvent:
    return ResultEvent(
        id=kw.pop("id", "r1"),
        text=kw.pop("text", "turn on the lamp"),
        site="den",
        status=status,
        **kw,
    )


def test_state_counts_and_remembers_the_last_utterance() -> None:
    s = HaState()
    assert json.loads(s.to_json())["utterances"] == 0
    s = s.record(_result("executed", intent="HassTurnOn", confidence=0.93456, latency_ms=12.3456))
    s = s.record(_result("error", id="r2", text="x" * 400, error="overloaded"))
    s = s.record(_result("not_recognized", id="r3", text="what time is it", confidence=0.8))
    state = json.loads(state_message(CFG, s).payload)
    assert state["utterances"] == 3 and state["errors"] == 1
    assert state["last_utterance"] == "what time is it" and state["last_id"] == "r3"
    assert state["last_intent"] is None and state["last_status"] == "not_recognized"
    mid = json.loads(HaState().record(_result("error", text="y" * 400)).to_json())
    assert len(mid["last_utterance"]) == 255  # Home Assistant's limit for a state
    assert state_message(CFG, s).retain and state_message(CFG, s).topic == "edged/state"


def test_value_templates_render_what_home_assistant_expects() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment()
    specs = {s.object_id: s for s in SENSORS}

    def render(key: str, state: HaState, attributes: bool = False) -> str:
        spec = specs[key]
        template = spec.attributes_template if attributes else spec.value_template
        assert template is not None
        return env.from_string(template).render(value_json=json.loads(state.to_json()))

    empty = HaState()
    # Home Assistant's MQTT sensor reads the text "None" as unknown.
    for key in ("last_utterance", "last_intent", "last_confidence", "last_latency"):
        assert render(key, empty) == "None"
    assert render("utterances", empty) == "0" and render("errors", empty) == "0"
    s = empty.record(_result("executed", intent="HassTurnOn", confidence=0.934, latency_ms=12.34))
    assert render("last_intent", s) == "HassTurnOn"
    assert render("last_confidence", s) == "93.4"
    assert render("last_latency", s) == "12.34"
    assert render("last_status", s) == "executed"
    assert json.loads(render("last_utterance", s, attributes=True)) == {
        "id": "r1",
        "site": "den",
        "status": "executed",
    }


def test_removal_empties_every_config_and_the_state() -> None:
    removal = removal_messages(CFG)
    assert {m.topic for m in removal} == {m.topic for m in announce_messages(CFG)} | {"edged/state"}
    assert all(m.payload == "" and m.retain for m in removal)


def test_birth_message() -> None:
    assert is_birth(CFG, "homeassistant/status", b"online")
    assert not is_birth(CFG, "homeassistant/status", b"offline")
    assert not is_birth(CFG, "other/status", b"online")


def test_config_topic_uses_prefix_and_node() -> None:
    assert config_topic(CFG, SENSORS[0]) == "homeassistant/sensor/edged/last_utterance/config"
    assert sensor_config(CFG, SENSORS[0])["json_attributes_topic"] == "edged/state"


def test_shared_group_daemons_announce_two_devices_that_do_not_collide() -> None:
    def daemon(client_id: str) -> Any:
        return parse_config(
            f"mqtt: {{client_id: {client_id}}}\n"
            "topics: {shared_group: edged}\n"
            "discovery: {enabled: true}\n"
        )

    a, b = daemon("edged-pi4"), daemon("edged-pi5")
    announced = {}
    for cfg in (a, b):
        messages = announce_messages(cfg)
        payloads = [json.loads(m.payload) for m in messages]
        announced[cfg.mqtt.client_id] = (
            {m.topic for m in messages} | {state_message(cfg, HaState()).topic},
            {p["unique_id"] for p in payloads},
            {p["availability_topic"] for p in payloads},
            {json.dumps(p["device"]["identifiers"]) for p in payloads},
        )
        assert all(p["availability_topic"] == cfg.topics.status for p in payloads)
        assert all(p["state_topic"] == cfg.discovery.state_topic for p in payloads)
        assert all(TOPIC_RE.match(m.topic) for m in messages)
    for mine, theirs in zip(announced["edged-pi4"], announced["edged-pi5"], strict=True):
        assert mine and theirs and not mine & theirs
