"""edged.home.state: devices' reported state, per protocol, and answers from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edged.config import ConfigError, parse_config
from edged.home.registry import Home
from edged.home.state import StateStore, answer_query, unknown_message

HOME = """
devices:
  - {id: lamp, name: Lamp, area: den, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/Lamp}
  - id: trv
    name: Bedroom Thermostat
    area: bedroom
    kind: climate
    protocol: zigbee2mqtt
    topic: zigbee2mqtt/TRV
    options: {setpoint_key: occupied_heating_setpoint}
  - {id: door, name: Back Door, kind: sensor, device_class: door, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Back Door}
  - {id: lock, name: Front Door, kind: lock, protocol: zigbee2mqtt, topic: zigbee2mqtt/Front Lock}
  - {id: plug, name: Coffee Maker, kind: switch, protocol: tasmota, topic: coffee}
  - {id: relay2, name: Extractor Fan, kind: fan, protocol: tasmota, topic: dual, options: {relay: 2}}
  - {id: shutter, name: Blinds, kind: cover, protocol: tasmota, topic: blinds}
  - {id: climate_sensor, name: Cellar Sensor, kind: sensor, device_class: temperature,
     protocol: tasmota, topic: cellar}
  - id: garage
    name: Garage Door
    kind: cover
    device_class: garage
    protocol: homeassistant
    command_topics: {command: home/garage/set}
    state_topic: home/garage/state
  - id: ha_light
    name: Hall Light
    kind: light
    protocol: homeassistant
    command_topics: {command: home/hall/set}
    state_topic: home/hall/state
  - id: ha_climate
    name: Lounge Thermostat
    kind: climate
    protocol: homeassistant
    command_topics: {temperature: home/lounge/temp/set}
    state_topics: {temperature: home/lounge/temp/state, current_temperature: home/lounge/current}
  - id: outdoor
    name: Outdoor Temperature
    kind: sensor
    device_class: temperature
    protocol: template
    state_topic: weather/station
    state_path: outside.temp_c
  - id: speaker
    name: Speaker
    kind: media_player
    protocol: template
    state_topic: snapcast/speaker/status
    template: {topic: snapcast/speaker/control, payload: "{op}"}
"""


@pytest.fixture
def home() -> Home:
    return Home.from_config(parse_config(HOME))


@pytest.fixture
def store(home: Home) -> StateStore:
    return StateStore(home)


def feed(store: StateStore, topic: str, payload: Any, at: float = 100.0) -> list[str]:
    raw = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    data = raw.encode() if isinstance(raw, str) else raw
    return store.feed(topic, data, mono=at, wall=1e9 + at)


def values(store: StateStore, device_id: str) -> dict[str, Any]:
    state = store.get(device_id)
    assert state is not None, f"{device_id} has no state"
    return {k: r.value for k, r in state.readings.items()}


def test_topics_come_from_the_config_only(store: StateStore) -> None:
    assert set(store.topics()) == {
        "zigbee2mqtt/Lamp",
        "zigbee2mqtt/TRV",
        "zigbee2mqtt/Back Door",
        "zigbee2mqtt/Front Lock",
        *(f"stat/{t}/RESULT" for t in ("coffee", "dual", "blinds", "cellar")),
        *(f"tele/{t}/STATE" for t in ("coffee", "dual", "blinds", "cellar")),
        *(f"tele/{t}/SENSOR" for t in ("coffee", "dual", "blinds", "cellar")),
        "stat/coffee/POWER",
        "stat/dual/POWER2",
        "stat/blinds/POWER",
        "stat/cellar/POWER",
        "home/garage/state",
        "home/hall/state",
        "home/lounge/temp/state",
        "home/lounge/current",
        "weather/station",
        "snapcast/speaker/status",
    }
    assert not any("+" in t or "#" in t for t in store.topics())


def test_zigbee2mqtt(store: StateStore) -> None:
    assert (
        feed(store, "zigbee2mqtt/Lamp", {"state": "ON", "brightness": 127, "linkquality": 9}) == []
    )
    assert values(store, "lamp") == {"state": "on", "brightness": 50}
    feed(
        store,
        "zigbee2mqtt/TRV",
        {"occupied_heating_setpoint": 20.5, "local_temperature": 19.2, "system_mode": "heat"},
    )
    assert values(store, "trv") == {"setpoint": 20.5, "temperature": 19.2, "mode": "heat"}
    feed(store, "zigbee2mqtt/Back Door", {"contact": False, "battery": 87})
    assert values(store, "door") == {"contact": False, "battery": 87, "state": "open"}
    feed(store, "zigbee2mqtt/Front Lock", {"state": "LOCK", "lock_state": "locked"})
    assert values(store, "lock")["state"] == "locked"


def test_zigbee2mqtt_setpoint_key_of_the_device_wins(store: StateStore) -> None:
    feed(
        store,
        "zigbee2mqtt/TRV",
        {"current_heating_setpoint": 16, "occupied_heating_setpoint": 21},
    )
    assert values(store, "trv")["setpoint"] == 21


def test_tasmota(store: StateStore) -> None:
    feed(store, "stat/coffee/RESULT", {"POWER": "ON"})
    assert values(store, "plug") == {"state": "on"}
    feed(store, "stat/coffee/POWER", "OFF", at=101)
    assert values(store, "plug") == {"state": "off"}
    feed(store, "tele/coffee/STATE", {"Time": "2026-12-07T10:00:00", "POWER": "ON", "Wifi": {}})
    assert values(store, "plug") == {"state": "on"}
    # The second relay of a dual module: POWER1 is someone else's.
    feed(store, "tele/dual/STATE", {"POWER1": "ON", "POWER2": "OFF"})
    assert values(store, "relay2") == {"state": "off"}
    feed(store, "stat/dual/POWER2", "ON")
    assert values(store, "relay2") == {"state": "on"}
    feed(store, "stat/blinds/RESULT", {"Shutter1": {"Position": 0, "Direction": 0}})
    assert values(store, "shutter") == {"position": 0, "state": "closed"}
    feed(store, "tele/cellar/SENSOR", {"AM2301": {"Temperature": 12.5, "Humidity": 80.4}})
    assert values(store, "climate_sensor") == {"temperature": 12.5, "humidity": 80}


def test_homeassistant_plain_json_and_per_value_topics(store: StateStore) -> None:
    feed(store, "home/garage/state", "open")
    assert values(store, "garage") == {"state": "open"}
    feed(store, "home/garage/state", "closed")
    assert values(store, "garage") == {"state": "closed"}
    feed(store, "home/hall/state", {"state": "ON", "brightness": 255, "color_temp": 300})
    assert values(store, "ha_light") == {"state": "on", "brightness": 100, "color_temp": 300}
    feed(store, "home/lounge/temp/state", "21")
    feed(store, "home/lounge/current", "19.5")
    assert values(store, "ha_climate") == {"setpoint": 21, "temperature": 19.5}


def test_template_with_a_json_path(store: StateStore) -> None:
    feed(store, "weather/station", {"outside": {"temp_c": -3.5, "wind": 12}, "inside": {}})
    assert values(store, "outdoor") == {"temperature": -3.5}
    feed(store, "snapcast/speaker/status", "playing")
    assert values(store, "speaker") == {"state": "playing"}


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("zigbee2mqtt/Lamp", "not json"),
        ("zigbee2mqtt/Lamp", "[1, 2]"),
        ("zigbee2mqtt/Lamp", '{"brightness": "very"}'),
        ("zigbee2mqtt/Lamp", '{"brightness": NaN}'),
        ("zigbee2mqtt/Lamp", '{"color_temp": [300]}'),
        ("zigbee2mqtt/Lamp", b"\xff\xfe"),
        ("zigbee2mqtt/Lamp", "{" * 50 + "}" * 50),
        ("zigbee2mqtt/Lamp", '{"state": "' + "x" * 500 + '"}'),
        ("weather/station", '{"outside": {}}'),
        ("weather/station", '{"outside": {"temp_c": {"v": 1}}}'),
        ("home/lounge/current", "warm"),
    ],
)
def test_a_bad_payload_is_skipped_and_reported_once(
    store: StateStore, topic: str, payload: str | bytes
) -> None:
    device = store._routes[topic][0][0]
    good = {
        "zigbee2mqtt/Lamp": {"state": "ON"},
        "weather/station": {"outside": {"temp_c": 4}},
        "home/lounge/current": "19",
    }[topic]
    feed(store, topic, good)
    before = values(store, device)
    first = feed(store, topic, payload, at=200)
    assert len(first) == 1 and device in first[0] and topic in first[0]
    assert feed(store, topic, payload, at=201) == []  # logged once per device
    assert store.bad_payloads[device] == 2
    assert values(store, device) == before  # the last good state stays


def test_snapshots_are_read_only_and_do_not_move(store: StateStore) -> None:
    feed(store, "zigbee2mqtt/Lamp", {"state": "ON"})
    snap = store.snapshot()
    feed(store, "zigbee2mqtt/Lamp", {"state": "OFF"})
    assert snap["lamp"].value("state") == "on"
    assert store.snapshot()["lamp"].value("state") == "off"
    with pytest.raises(TypeError):
        snap["lamp"] = snap["lamp"]  # type: ignore[index]


def test_a_partial_report_keeps_the_other_values_and_their_ages(store: StateStore) -> None:
    feed(store, "zigbee2mqtt/TRV", {"occupied_heating_setpoint": 20, "local_temperature": 18}, 10)
    feed(store, "zigbee2mqtt/TRV", {"local_temperature": 18.5}, 40)
    state = store.get("trv")
    assert state is not None
    assert state.value("setpoint") == 20 and state.value("temperature") == 18.5
    assert state.age_s("setpoint", 50) == 40 and state.age_s("temperature", 50) == 10


def test_answers(home: Home, store: StateStore) -> None:
    outdoor, trv, garage = home.device("outdoor"), home.device("trv"), home.device("garage")
    unknown = answer_query(outdoor, "HassClimateGetTemperature", store.get("outdoor"), 5)
    assert not unknown.known
    assert unknown.to_dict() == {"device": "outdoor", "value": None, "unit": None, "age_s": None}
    assert "Outdoor Temperature" in unknown_message(unknown)
    feed(store, "weather/station", {"outside": {"temp_c": 7}}, at=100)
    a = answer_query(outdoor, "HassClimateGetTemperature", store.get("outdoor"), 112.04)
    assert a.to_dict() == {"device": "outdoor", "value": 7, "unit": "°C", "age_s": 12.0}
    assert a.known
    feed(store, "zigbee2mqtt/TRV", {"local_temperature": 19.5, "system_mode": "heat"})
    t = answer_query(trv, "HassClimateGetTemperature", store.get("trv"), 100)
    assert (t.value, t.unit) == (19.5, "°C")
    assert answer_query(trv, "HassGetState", store.get("trv"), 100).value == "heat"
    feed(store, "home/garage/state", "open")
    g = answer_query(garage, "HassGetState", store.get("garage"), 100)
    assert (g.value, g.unit) == ("open", None)


def test_state_config_is_checked() -> None:
    def error(devices: str) -> str:
        with pytest.raises(ConfigError) as e:
            parse_config("devices:\n" + devices)
        return str(e.value)

    assert "state_topic: not used by protocol zigbee2mqtt" in error(
        "  - {id: a, name: A, kind: light, protocol: zigbee2mqtt, topic: z/A, state_topic: z/A}\n"
    )
    assert "state_path: needs state_topic" in error(
        "  - {id: a, name: A, kind: light, protocol: template, state_path: x,"
        " template: {topic: t/a}}\n"
    )
    assert "state_topics.colour: must be one of" in error(
        "  - {id: a, name: A, kind: light, protocol: homeassistant,"
        " command_topics: {command: h/a}, state_topics: {colour: h/c}}\n"
    )
    assert "state_topic: wildcards" in error(
        "  - {id: a, name: A, kind: light, protocol: homeassistant,"
        " command_topics: {command: h/a}, state_topic: h/+/state}\n"
    )
    assert "temperature_step: only for kind climate" in error(
        "  - {id: a, name: A, kind: light, protocol: zigbee2mqtt, topic: z/A, temperature_step: 2}\n"
    )
    # A sensor that only reports needs no command topics or templates.
    cfg = parse_config(
        "devices:\n"
        "  - {id: s, name: S, kind: sensor, protocol: template, state_topic: w/s}\n"
        "  - {id: h, name: H, kind: sensor, protocol: homeassistant, state_topic: w/h}\n"
    )
    h = Home.from_config(cfg)
    assert h.device("s").can("query") and h.device("h").can("query")


def test_query_needs_something_to_answer_from() -> None:
    h = Home.from_config(
        parse_config(
            "devices:\n"
            "  - {id: a, name: A, kind: light, protocol: homeassistant,"
            " command_topics: {command: h/a}}\n"
            '  - {id: b, name: B, kind: light, protocol: template, template: {"on": {topic: t/b}}}\n'
            "  - {id: c, name: C, kind: light, protocol: template, template: {topic: t/c}}\n"
        )
    )
    assert not h.device("a").can("query")  # nothing reports, nothing to ask with
    assert not h.device("b").can("query")
    assert h.device("c").can("query")  # its default template asks


def test_a_new_home_keeps_the_state_of_devices_that_still_report_alike(
    store: StateStore,
) -> None:
    feed(store, "zigbee2mqtt/Lamp", {"state": "ON"})
    feed(store, "stat/coffee/POWER", "ON")
    cfg = parse_config(
        "devices:\n"
        "  - {id: lamp, name: Lamp, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/Lamp}\n"
        "  - {id: plug, name: Coffee Maker, kind: switch, protocol: tasmota, topic: coffee2}\n"
        "  - {id: new, name: New, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/New}\n"
    )
    added, removed = store.replace_home(Home.from_config(cfg))
    assert added == sorted(
        [
            "zigbee2mqtt/New",
            *(
                f"{p}/coffee2/{s}"
                for p, s in (
                    ("stat", "RESULT"),
                    ("tele", "STATE"),
                    ("tele", "SENSOR"),
                    ("stat", "POWER"),
                )
            ),
        ]
    )
    assert "stat/coffee/POWER" in removed and "zigbee2mqtt/Lamp" not in removed
    assert values(store, "lamp") == {"state": "on"}  # same topic: kept
    assert store.get("plug") is None  # reports elsewhere now: forgotten
    assert feed(store, "stat/coffee/POWER", "OFF") == [] and store.get("plug") is None
    feed(store, "stat/coffee2/POWER", "OFF")
    assert values(store, "plug") == {"state": "off"}


def test_the_daemon_subscribes_in_batches_at_qos_0() -> None:
    from types import SimpleNamespace

    from edged.transports.mqtt import STATE_SUBSCRIBE_BATCH, state_subscriptions

    devices = "".join(
        f"  - {{id: p{i}, name: Plug {i}, kind: switch, protocol: tasmota, topic: plug{i}}}\n"
        for i in range(60)
    )
    store = StateStore(Home.from_config(parse_config("devices:\n" + devices)))
    batches = state_subscriptions(SimpleNamespace(state=store))  # type: ignore[arg-type]
    assert [len(b) for b in batches] == [STATE_SUBSCRIBE_BATCH, STATE_SUBSCRIBE_BATCH, 40]
    assert [t for b in batches for t in b] == [(t, 0) for t in store.topics()]
