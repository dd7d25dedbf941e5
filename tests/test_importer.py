"""The importer's pure functions: Zigbee2MQTT bridge/devices and Home Assistant
discovery messages -> device configs -> the merged home (no broker).

Fixtures (tests/fixtures/import/) follow the formats as documented:
Zigbee2MQTT 2.x `bridge/devices` (zigbee2mqtt.io "MQTT topics and messages"
and "Exposes"), Home Assistant MQTT discovery (home-assistant.io MQTT
integration docs, abbreviations from core's mqtt/abbreviations.py, 2025.x,
device-based discovery with `cmps`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.config import parse_config
from edged.home import Action, Home, render
from edged.home.importer import (
    ImportState,
    apply_message,
    expand,
    merge_home,
    parse_bridge_devices,
    parse_discovery,
)

FIXTURES = Path(__file__).parent / "fixtures" / "import"
BRIDGE = (FIXTURES / "zigbee2mqtt_bridge_devices.json").read_bytes()
DISCOVERY: dict[str, object] = json.loads((FIXTURES / "homeassistant_discovery.json").read_text())
IMPORT_ONLY = (
    "import: {zigbee2mqtt: {base_topic: zigbee2mqtt}, homeassistant: {prefix: homeassistant}}"
)


def _payload(topic: str) -> bytes:
    p = DISCOVERY[topic]
    return (p if isinstance(p, str) else json.dumps(p)).encode()


def full_state(text: str = IMPORT_ONLY) -> tuple[ImportState, list[str]]:
    cfg = parse_config(text)
    state, problems = apply_message(
        ImportState(), cfg.import_, "zigbee2mqtt/bridge/devices", BRIDGE
    )
    for topic in DISCOVERY:
        state, found = apply_message(state, cfg.import_, topic, _payload(topic))
        problems += found
    return state, problems


def home_of(text: str = IMPORT_ONLY) -> Home:
    state, _ = full_state(text)
    return Home.from_config(merge_home(parse_config(text), state.devices()).config)


def one(home: Home, device_id: str, op: str, **params: object) -> tuple[str, str]:
    (message,) = render(Action(device_id, op, params), home.device(device_id))
    return message


# --- Zigbee2MQTT -------------------------------------------------------------------


def test_bridge_devices_become_devices_of_the_right_kind() -> None:
    devices, problems = parse_bridge_devices(BRIDGE, "zigbee2mqtt")
    assert devices is not None
    kinds = {d.device.id: d.device.kind for d in devices}
    assert kinds == {
        "kitchen_ceiling": "light",
        "living_room_lamp": "light",
        "hallway_plug": "switch",
        "garage_door_opener": "switch",
        "bedroom_blind": "cover",
        "front_door_lock": "lock",
        "bedroom_radiator": "climate",
        "office_fan": "fan",
        "kitchen_switch_l1": "switch",
        "kitchen_switch_l2": "switch",
        "bathroom_sensor": "sensor",
    }
    # The coordinator and the disabled "Kitchen Spots" are left out silently;
    # the device still being interviewed is named once.
    assert problems == [
        "zigbee2mqtt/bridge/devices: 0x00158d0009998877: no definition.exposes; skipped"
    ]


def test_friendly_name_path_gives_area_and_name() -> None:
    devices, _ = parse_bridge_devices(BRIDGE, "zigbee2mqtt")
    assert devices is not None
    ceiling = next(d for d in devices if d.device.id == "kitchen_ceiling")
    assert (ceiling.device.name, ceiling.device.area) == ("ceiling", "kitchen")
    assert ceiling.device.topic == "zigbee2mqtt/kitchen/ceiling"
    assert ceiling.state_topic == "zigbee2mqtt/kitchen/ceiling"
    assert "0x0017880104e45517" in ceiling.lookup
    plug = next(d for d in devices if d.device.id == "hallway_plug")
    assert (plug.device.name, plug.device.area) == ("hallway plug", None)


def test_light_features_set_the_options() -> None:
    home = home_of()
    hue, ikea = home.device("kitchen_ceiling"), home.device("living_room_lamp")
    assert {"brightness", "color", "color_temp"} <= hue.ops
    assert (hue.options.min_mired, hue.options.max_mired) == (150, 500)
    assert "color" not in ikea.ops and "color_temp" in ikea.ops
    assert (ikea.options.min_mired, ikea.options.max_mired) == (250, 454)
    assert one(home, "kitchen_ceiling", "brightness", brightness=50) == (
        "zigbee2mqtt/kitchen/ceiling/set",
        '{"brightness":127,"state":"ON"}',
    )


def test_properties_other_than_state_get_their_exact_payload() -> None:
    home = home_of()
    # A two-gang switch is two devices, each with its own property.
    assert one(home, "kitchen_switch_l2", "on") == (
        "zigbee2mqtt/Kitchen Switch/set",
        '{"state_l2": "ON"}',
    )
    assert one(home, "kitchen_switch_l1", "off")[1] == '{"state_l1": "OFF"}'
    # Zigbee2MQTT fans switch with fan_state, not state.
    assert one(home, "office_fan", "on") == ("zigbee2mqtt/Office Fan/set", '{"fan_state": "ON"}')


def test_climate_uses_the_setpoint_the_device_exposes() -> None:
    home = home_of()
    trv = home.device("bedroom_radiator")
    assert trv.options.setpoint_key == "occupied_heating_setpoint"
    assert (trv.options.min_temp, trv.options.max_temp) == (5.0, 32.0)
    assert one(home, "bedroom_radiator", "temperature", temperature=21) == (
        "zigbee2mqtt/bedroom/radiator/set",
        '{"occupied_heating_setpoint":21}',
    )
    assert one(home, "bedroom_radiator", "on")[1] == '{"system_mode":"heat"}'


def test_a_climate_without_heat_and_off_modes_only_takes_a_temperature() -> None:
    bridge = [
        {
            "friendly_name": "Study TRV",
            "ieee_address": "0x01",
            "type": "EndDevice",
            "definition": {
                "exposes": [
                    {
                        "type": "climate",
                        "features": [
                            {
                                "type": "numeric",
                                "name": "current_heating_setpoint",
                                "property": "current_heating_setpoint",
                                "access": 7,
                                "value_min": 5,
                                "value_max": 30,
                            }
                        ],
                    }
                ]
            },
        }
    ]
    devices, _ = parse_bridge_devices(json.dumps(bridge).encode(), "zigbee2mqtt")
    assert devices is not None
    home = Home.from_config(merge_home(parse_config(""), devices).config)
    assert home.device("study_trv").ops == {"temperature"}
    assert one(home, "study_trv", "temperature", temperature=19.5) == (
        "zigbee2mqtt/Study TRV/set",
        '{"current_heating_setpoint": 19.5}',
    )


def test_locks_garage_doors_and_alarms_are_sensitive_when_imported() -> None:
    home = home_of()
    assert home.device("front_door_lock").sensitive_ops == {"unlock"}
    assert home.device("back_door").sensitive_ops == {"unlock"}
    assert "open" in home.device("garage_door").sensitive_ops
    assert home.device("house_alarm").sensitive_ops == {"disarm"}
    # A relay on a garage door opener is a switch: every switching asks first.
    assert home.device("garage_door_opener").sensitive_ops == {"on", "off", "toggle"}
    assert not home.device("hallway_plug").sensitive_ops


def test_a_zigbee2mqtt_cover_named_like_a_garage_door_gets_the_class() -> None:
    bridge = [
        {
            "friendly_name": "Garage Door",
            "ieee_address": "0x02",
            "definition": {
                "exposes": [
                    {
                        "type": "cover",
                        "features": [
                            {"type": "enum", "name": "state", "property": "state", "access": 3}
                        ],
                    }
                ]
            },
        }
    ]
    devices, _ = parse_bridge_devices(json.dumps(bridge).encode(), "zigbee2mqtt")
    assert devices is not None
    assert devices[0].device.device_class == "garage"
    home = Home.from_config(merge_home(parse_config(""), devices).config)
    assert "open" in home.device("garage_door").sensitive_ops


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b'{"devices": []}', b"[1, 2]", b'[{"friendly_name": 3}]', b"\xff\xfe"],
)
def test_bad_bridge_messages_are_problems_not_crashes(payload: bytes) -> None:
    devices, problems = parse_bridge_devices(payload, "zigbee2mqtt")
    assert problems
    assert not devices


# --- Home Assistant discovery ------------------------------------------------------


def test_abbreviations_and_the_base_topic_expand() -> None:
    config = expand(
        {
            "~": "home/x",
            "cmd_t": "~/set",
            "stat_t": "~/state",
            "json_attr_t": "attrs/~",
            "pl_on": "1",
            "dev": {"ids": "x", "sa": "Kitchen", "mf": "ACME"},
        }
    )
    assert config["command_topic"] == "home/x/set"
    assert config["state_topic"] == "home/x/state"
    assert config["json_attributes_topic"] == "attrs/home/x"
    assert config["payload_on"] == "1"
    assert config["device"] == {
        "identifiers": "x",
        "suggested_area": "Kitchen",
        "manufacturer": "ACME",
    }


def test_default_schema_light_with_its_own_payloads_and_scale() -> None:
    home = home_of()
    strip = home.device("sofa_strip")
    assert strip.area == "living_room"  # device.suggested_area
    # query: answered from what it reports on its state_topic.
    assert strip.ops == {"on", "off", "brightness", "query"}
    assert strip.state_topic == "home/sofa_strip/state"
    assert one(home, "sofa_strip", "on") == ("home/sofa_strip/set", "on")
    # brightness_scale 100: the percentage as is, on its own topic.
    assert one(home, "sofa_strip", "brightness", brightness=40) == (
        "home/sofa_strip/brightness/set",
        "40",
    )


def test_json_schema_light_uses_the_homeassistant_preset() -> None:
    home = home_of()
    desk = home.device("desk_lamp")
    assert desk.protocol == "homeassistant" and desk.area == "office"
    assert {"on", "off", "brightness", "color", "color_temp"} <= desk.ops
    topic, payload = one(home, "desk_lamp", "brightness", brightness=100)
    assert topic == "home/desk_lamp/set"
    assert json.loads(payload) == {"state": "ON", "brightness": 255}


def test_switch_cover_lock_climate_fan_alarm_commands() -> None:
    home = home_of()
    assert one(home, "coffee_maker", "on") == ("cmnd/coffee/POWER", "ON")
    assert one(home, "garage_door", "open") == ("garage/door/set", "open")
    # payload_stop: null means the cover has no stop.
    assert "stop" not in home.device("garage_door").ops
    assert one(home, "back_door", "lock") == ("home/back_door/set", "LOCK")
    assert one(home, "hall_thermostat", "temperature", temperature=20) == (
        "home/hall/thermostat/target/set",
        "20",
    )
    assert one(home, "hall_thermostat", "on") == ("home/hall/thermostat/mode/set", "heat")
    assert (home.device("hall_thermostat").options.max_temp) == 28.0
    assert one(home, "ceiling_fan", "speed", percentage=60) == ("home/bedroom/fan/speed/set", "60")
    assert one(home, "house_alarm", "arm") == ("home/alarm/set", "ARM_AWAY")


def test_device_based_discovery_yields_each_component() -> None:
    found, problems = parse_discovery(
        "homeassistant/device/porch/config",
        _payload("homeassistant/device/porch/config"),
        "homeassistant",
    )
    assert found is not None and not problems
    by_id = {d.device.id: d for d in found}
    assert set(by_id) == {"porch_light", "porch_motion"}
    light = by_id["porch_light"].device
    assert light.template["on"].topic == "home/porch/light/set"  # "~" from the device level
    assert light.area == "Porch"
    assert by_id["porch_motion"].device.kind == "sensor"
    assert by_id["porch_motion"].state_topic == "home/porch/motion"


def test_sensors_are_known_by_name_and_answer_from_their_state_topic() -> None:
    home = home_of()
    sensor = home.device("garden_temperature")
    assert sensor.kind == "sensor" and sensor.ops == {"query"}
    assert sensor.state_topic == "home/garden/temperature"
    assert sensor.device_class == "temperature"
    assert home.match_device("garden temperature").found == sensor


def test_what_edged_cannot_drive_is_skipped() -> None:
    _, problems = full_state()
    assert any("light/broken/config: not JSON" in p for p in problems)
    assert any("schema 'template' is not supported" in p for p in problems)
    # Z2M's diagnostic linkquality sensor is not a device to talk to, nor
    # worth a log line; a button is named once as a kind of component.
    assert not any("doorbell" in p or "linkquality" in p for p in problems)
    assert (
        "homeassistant component 'button': not a kind of device edged drives; "
        "its discovery configs are skipped"
    ) in problems
    home = home_of()
    assert "doorbell_chime" not in home.devices and "mood_light" not in home.devices


def test_jinja_command_templates_leave_the_op_out() -> None:
    config = {"name": "Heater", "cmd_t": "h/set", "cmd_tpl": "{{ value }}"}
    found, problems = parse_discovery(
        "homeassistant/switch/heater/config", json.dumps(config).encode(), "homeassistant"
    )
    assert found == []
    assert problems and "no command topic edged can use" in problems[0]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("homeassistant/light/x/config", b"{"),
        ("homeassistant/light/x/config", b"[]"),
        ("homeassistant/light/x/config", b'{"name": "X"}'),
        ("homeassistant/light/x/config", b'{"name": "X", "cmd_t": "a/+/set"}'),
        ("homeassistant/device/x/config", b'{"cmps": 3}'),
        ("homeassistant/a/b/c/d/config", b"{}"),
    ],
)
def test_bad_discovery_messages_are_problems(topic: str, payload: bytes) -> None:
    found, problems = parse_discovery(topic, payload, "homeassistant")
    assert not found
    assert problems


# --- folding and merging -------------------------------------------------------------


def test_a_new_bridge_list_renames_and_removes() -> None:
    cfg = parse_config(IMPORT_ONLY)
    state, _ = apply_message(ImportState(), cfg.import_, "zigbee2mqtt/bridge/devices", BRIDGE)
    data = json.loads(BRIDGE)
    data[1]["friendly_name"] = "kitchen/pendant"
    data = [d for d in data if d["friendly_name"] != "hallway_plug"]
    state, _ = apply_message(
        state, cfg.import_, "zigbee2mqtt/bridge/devices", json.dumps(data).encode()
    )
    ids = {d.device.id for d in state.devices()}
    assert "kitchen_pendant" in ids
    assert "kitchen_ceiling" not in ids and "hallway_plug" not in ids


def test_an_empty_discovery_config_removes_and_a_bad_one_keeps() -> None:
    cfg = parse_config(IMPORT_ONLY)
    topic = "homeassistant/switch/coffee/config"
    state, _ = apply_message(ImportState(), cfg.import_, topic, _payload(topic))
    assert [d.device.id for d in state.devices()] == ["coffee_maker"]
    same, problems = apply_message(state, cfg.import_, topic, b"{oops")
    assert same is state and problems
    gone, _ = apply_message(state, cfg.import_, topic, b"")
    assert gone.devices() == []


def test_home_assistant_copy_of_a_zigbee2mqtt_device_is_dropped() -> None:
    state, _ = full_state()
    merged = merge_home(parse_config(IMPORT_ONLY), state.devices())
    ceiling = [row for row in merged.listing if "kitchen/ceiling" in " ".join(row.topics)]
    assert [(row.id, row.source) for row in ceiling] == [("kitchen_ceiling", "zigbee2mqtt")]


def test_yaml_wins_by_id_and_by_topic() -> None:
    text = (
        IMPORT_ONLY
        + """
devices:
  - {id: big_light, name: Big Light, aliases: [ceiling], kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/kitchen/ceiling}
  - {id: front_door_lock, name: Front Door, kind: lock, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Front Door Lock, confirm: false}
"""
    )
    state, _ = full_state(text)
    merged = merge_home(parse_config(text), state.devices())
    by_id = {row.id: row for row in merged.listing}
    assert "kitchen_ceiling" not in by_id  # same topic as big_light
    assert by_id["big_light"].source == "yaml"
    assert by_id["front_door_lock"].source == "yaml"
    # (Zigbee2MQTT's own entry and its Home Assistant copy both give way.)
    assert {y for _, y in merged.overridden} == {"big_light", "front_door_lock"}
    home = Home.from_config(merged.config)
    assert home.device("front_door_lock").sensitive_action == "refuse"


def test_areas_mapping_then_suggestion_then_configured_area_prefix() -> None:
    text = (
        IMPORT_ONLY
        + """
areas:
  - {id: living_room, name: Living Room}
  - {id: garden, name: Garden, aliases: [yard]}
  - {id: utility, name: Utility Room}
import_areas_placeholder: null
"""
    ).replace("import_areas_placeholder: null\n", "")
    text = text.replace(
        "homeassistant: {prefix: homeassistant}}",
        "homeassistant: {prefix: homeassistant}, "
        "areas: {hallway_plug: utility, '0x00158d0001a2b3c4': Bathroom, garden_temperature: yard}}",
    )
    home = home_of(text)
    # A configured area starts the friendly name.
    assert home.device("living_room_lamp").area == "living_room"
    # import.areas by friendly name, IEEE address, unique_id (an alias works too).
    assert home.device("hallway_plug").area == "utility"
    assert home.device("bathroom_sensor").area == "bathroom"
    assert home.areas["bathroom"].name == "Bathroom"
    assert home.device("garden_temperature").area == "garden"
    # suggested_area matching a configured area by name: no second living room.
    assert home.device("sofa_strip").area == "living_room"
    assert sum(1 for a in home.areas.values() if a.name == "Living Room") == 1
    # An area another device suggested (the desk lamp's office) counts too.
    assert home.device("office_fan").area == "office"
    # Nothing to place it by: it still works by name.
    assert home.device("garage_door_opener").area is None
    assert home.match_device("garage door opener").found == home.device("garage_door_opener")


def test_ids_stay_unique_across_sources() -> None:
    cfg = parse_config(IMPORT_ONLY)
    a = json.dumps({"name": "Lamp", "cmd_t": "a/set"}).encode()
    b = json.dumps({"name": "Lamp", "cmd_t": "b/set"}).encode()
    state, _ = apply_message(ImportState(), cfg.import_, "homeassistant/switch/a/config", a)
    state, _ = apply_message(state, cfg.import_, "homeassistant/switch/b/config", b)
    merged = merge_home(cfg, state.devices())
    assert [row.id for row in merged.listing] == ["lamp", "lamp_2"]


def test_import_is_off_by_default_and_topics_follow_the_config() -> None:
    assert not parse_config("").import_.enabled
    cfg = parse_config("import: {zigbee2mqtt: {base_topic: z2m}, homeassistant: {prefix: ha}}")
    assert cfg.import_.subscriptions() == ["z2m/bridge/devices", "ha/+/+/config", "ha/+/+/+/config"]
    state, _ = apply_message(ImportState(), cfg.import_, "z2m/bridge/devices", BRIDGE)
    assert any(d.device.topic == "z2m/kitchen/ceiling" for d in state.devices())


def test_a_device_that_would_publish_to_edgeds_own_topics_is_refused() -> None:
    cfg = parse_config(IMPORT_ONLY)
    state = ImportState()
    for name, topic in (
        ("Loop", "edged/utterance"),
        ("Site Loop", "edged/kitchen/utterance"),
        ("Status", "edged/status"),
        ("Bridge", "zigbee2mqtt/bridge/request/restart"),
        ("Fine", "homeassistant/switch/fine/set"),
    ):
        body = json.dumps({"name": name, "cmd_t": topic, "pl_on": "turn on everything"})
        state, _ = apply_message(
            state, cfg.import_, f"homeassistant/switch/{slug(name)}/config", body.encode()
        )
    merged = merge_home(cfg, state.devices())
    assert [row.id for row in merged.listing] == ["fine"]
    assert len(merged.refused) == 4
    assert all("is one of edged's own topics" in p for p in merged.refused)


def slug(name: str) -> str:
    return name.lower().replace(" ", "_")


def test_the_same_announcement_again_changes_nothing() -> None:
    cfg = parse_config(IMPORT_ONLY)
    state, _ = apply_message(ImportState(), cfg.import_, "zigbee2mqtt/bridge/devices", BRIDGE)
    again, _ = apply_message(state, cfg.import_, "zigbee2mqtt/bridge/devices", BRIDGE)
    assert again is state
    topic = "homeassistant/switch/coffee/config"
    state, _ = apply_message(state, cfg.import_, topic, _payload(topic))
    assert apply_message(state, cfg.import_, topic, _payload(topic))[0] is state
    changed = json.dumps({**DISCOVERY[topic], "name": "Espresso Machine"}).encode()  # type: ignore[dict-item]
    assert apply_message(state, cfg.import_, topic, changed)[0] is not state


def test_state_topics_come_from_the_discovery_config() -> None:
    home = home_of()
    # Zigbee2MQTT: the preset's own state topic; a property of its own is a path.
    assert home.device("kitchen_switch_l2").state_topic == "zigbee2mqtt/Kitchen Switch"
    assert home.device("kitchen_switch_l2").state_path == "state_l2"
    assert home.device("office_fan").state_path == "fan_state"
    # Home Assistant: state_topic, and a climate's mode_state_topic.
    assert home.device("coffee_maker").state_topic == "stat/coffee/POWER"
    assert home.device("hall_thermostat").state_topic == "home/hall/thermostat/mode"
    assert home.device("porch_motion").state_topic == "home/porch/motion"


@pytest.mark.parametrize(
    ("template", "topic", "path"),
    [
        (None, "t/state", None),
        ("{{ value_json.temperature }}", "t/state", "temperature"),
        ("{{value_json.sensors[0].value}}", "t/state", "sensors.0.value"),
        ("{{ value_json.temp | round(1) }}", None, None),
        ("{% if value == '1' %}on{% endif %}", None, None),
    ],
)
def test_a_value_template_is_read_only_when_it_is_a_plain_path(
    template: str | None, topic: str | None, path: str | None
) -> None:
    config = {"name": "Thing Temperature", "stat_t": "t/state", "dev_cla": "temperature"}
    if template is not None:
        config["val_tpl"] = template
    found, problems = parse_discovery(
        "homeassistant/sensor/thing/config", json.dumps(config).encode(), "homeassistant"
    )
    if topic is None:
        # A sensor whose value edged cannot read is of no use: named and skipped.
        assert found == [] and "value_template edged cannot read" in problems[0]
        return
    assert found is not None
    assert (found[0].device.state_topic, found[0].device.state_path) == (topic, path)
