"""render: exact topics and payloads per protocol preset and op."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edged.config import ConfigError, parse_config
from edged.home.colors import kelvin_to_mired, rgb_to_xy
from edged.home.protocols import RenderError, render
from edged.home.registry import Device, Home
from edged.home.resolve import Action


def device(**fields: Any) -> Device:
    fields.setdefault("id", "dev")
    fields.setdefault("name", "Dev")
    cfg = parse_config(json.dumps({"devices": [fields]}))
    return Home.from_config(cfg).device(fields["id"])


def one(action: Action, dev: Device) -> tuple[str, str]:
    messages = render(action, dev)
    assert len(messages) == 1
    return messages[0]


# --- zigbee2mqtt -------------------------------------------------------------------

Z2M_LIGHT = {"kind": "light", "protocol": "zigbee2mqtt", "topic": "zigbee2mqtt/Kitchen Ceiling"}


@pytest.mark.parametrize(
    ("op", "params", "payload"),
    [
        ("on", {}, '{"state":"ON"}'),
        ("off", {}, '{"state":"OFF"}'),
        ("toggle", {}, '{"state":"TOGGLE"}'),
        ("brightness", {"brightness": 50}, '{"brightness":127,"state":"ON"}'),
        ("brightness", {"brightness": 100}, '{"brightness":254,"state":"ON"}'),
        ("brightness", {"brightness": 1}, '{"brightness":3,"state":"ON"}'),
        ("brightness", {"brightness": 0}, '{"state":"OFF"}'),
        ("brightness_step", {"step": 20}, '{"brightness_step":51}'),
        ("brightness_step", {"step": -20}, '{"brightness_step":-51}'),
        ("color", {"rgb": [255, 0, 0]}, '{"color":{"x":0.7006,"y":0.2993}}'),
        ("color_temp", {"kelvin": 2700}, '{"color_temp":370}'),
        ("color_temp", {"kelvin": 10000}, '{"color_temp":153}'),
    ],
)
def test_zigbee2mqtt_light(op: str, params: dict[str, Any], payload: str) -> None:
    assert one(Action("dev", op, params), device(**Z2M_LIGHT)) == (
        "zigbee2mqtt/Kitchen Ceiling/set",
        payload,
    )


def test_zigbee2mqtt_query_uses_get() -> None:
    assert one(Action("dev", "query"), device(**Z2M_LIGHT)) == (
        "zigbee2mqtt/Kitchen Ceiling/get",
        '{"state":""}',
    )


def test_zigbee2mqtt_rgb_colour_mode() -> None:
    dev = device(**Z2M_LIGHT, options={"color_mode": "rgb"})
    assert one(Action("dev", "color", {"rgb": [255, 128, 0]}), dev)[1] == (
        '{"color":{"rgb":"255,128,0"}}'
    )


@pytest.mark.parametrize(
    ("kind", "op", "params", "payload"),
    [
        ("cover", "open", {}, '{"state":"OPEN"}'),
        ("cover", "close", {}, '{"state":"CLOSE"}'),
        ("cover", "stop", {}, '{"state":"STOP"}'),
        ("cover", "position", {"position": 40}, '{"position":40}'),
        ("lock", "lock", {}, '{"state":"LOCK"}'),
        ("lock", "unlock", {}, '{"state":"UNLOCK"}'),
        ("climate", "temperature", {"temperature": 21.5}, '{"current_heating_setpoint":21.5}'),
        ("climate", "temperature", {"temperature": 21.0}, '{"current_heating_setpoint":21}'),
        ("switch", "on", {}, '{"state":"ON"}'),
        ("fan", "speed", {"percentage": 60}, '{"fan_mode":"medium"}'),
    ],
)
def test_zigbee2mqtt_other_kinds(kind: str, op: str, params: dict[str, Any], payload: str) -> None:
    dev = device(kind=kind, protocol="zigbee2mqtt", topic="zigbee2mqtt/x")
    assert one(Action("dev", op, params), dev) == ("zigbee2mqtt/x/set", payload)


def test_zigbee2mqtt_setpoint_key_is_configurable() -> None:
    dev = device(
        kind="climate",
        protocol="zigbee2mqtt",
        topic="zigbee2mqtt/trv",
        options={"setpoint_key": "occupied_heating_setpoint"},
    )
    assert one(Action("dev", "temperature", {"temperature": 19}), dev)[1] == (
        '{"occupied_heating_setpoint":19}'
    )


# --- tasmota -----------------------------------------------------------------------

TASMOTA = {"kind": "light", "protocol": "tasmota", "topic": "kitchen_strip"}


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("on", {}, ("cmnd/kitchen_strip/POWER", "ON")),
        ("off", {}, ("cmnd/kitchen_strip/POWER", "OFF")),
        ("toggle", {}, ("cmnd/kitchen_strip/POWER", "TOGGLE")),
        ("brightness", {"brightness": 50}, ("cmnd/kitchen_strip/Dimmer", "50")),
        ("brightness_step", {"step": 20}, ("cmnd/kitchen_strip/Dimmer", "+")),
        ("brightness_step", {"step": -20}, ("cmnd/kitchen_strip/Dimmer", "-")),
        ("color", {"rgb": [255, 0, 0]}, ("cmnd/kitchen_strip/Color", "255,0,0")),
        ("color_temp", {"kelvin": 2700}, ("cmnd/kitchen_strip/CT", "370")),
        ("color_temp", {"kelvin": 1000}, ("cmnd/kitchen_strip/CT", "500")),
        ("query", {}, ("cmnd/kitchen_strip/STATE", "")),
    ],
)
def test_tasmota_light(op: str, params: dict[str, Any], message: tuple[str, str]) -> None:
    assert one(Action("dev", op, params), device(**TASMOTA)) == message


def test_tasmota_relay_and_shutter() -> None:
    plug = device(kind="switch", protocol="tasmota", topic="dual", options={"relay": 2})
    assert one(Action("dev", "on"), plug) == ("cmnd/dual/POWER2", "ON")
    shutter = device(kind="cover", protocol="tasmota", topic="blinds")
    assert one(Action("dev", "open"), shutter) == ("cmnd/blinds/ShutterOpen1", "")
    assert one(Action("dev", "close"), shutter) == ("cmnd/blinds/ShutterClose1", "")
    assert one(Action("dev", "stop"), shutter) == ("cmnd/blinds/ShutterStop1", "")
    assert one(Action("dev", "position", {"position": 30}), shutter) == (
        "cmnd/blinds/ShutterPosition1",
        "30",
    )
    fan = device(kind="fan", protocol="tasmota", topic="ifan")
    assert one(Action("dev", "speed", {"percentage": 100}), fan) == ("cmnd/ifan/FanSpeed", "3")
    assert one(Action("dev", "speed", {"percentage": 0}), fan) == ("cmnd/ifan/FanSpeed", "0")


# --- home assistant ----------------------------------------------------------------


def test_homeassistant_json_light() -> None:
    dev = device(
        kind="light", protocol="homeassistant", command_topics={"command": "ha/light/x/set"}
    )
    assert one(Action("dev", "on"), dev) == ("ha/light/x/set", '{"state":"ON"}')
    assert one(Action("dev", "brightness", {"brightness": 50}), dev) == (
        "ha/light/x/set",
        '{"state":"ON","brightness":128}',
    )
    assert one(Action("dev", "color", {"rgb": [1, 2, 3]}), dev)[1] == (
        '{"state":"ON","color":{"r":1,"g":2,"b":3}}'
    )
    assert one(Action("dev", "color_temp", {"kelvin": 4000}), dev)[1] == (
        '{"state":"ON","color_temp":250}'
    )


def test_homeassistant_cover_lock_switch_climate() -> None:
    cover = device(
        kind="cover",
        protocol="homeassistant",
        command_topics={"command": "ha/cover/g/set", "position": "ha/cover/g/pos"},
    )
    assert one(Action("dev", "open"), cover) == ("ha/cover/g/set", "OPEN")
    assert one(Action("dev", "stop"), cover) == ("ha/cover/g/set", "STOP")
    assert one(Action("dev", "position", {"position": 70}), cover) == ("ha/cover/g/pos", "70")
    lock = device(kind="lock", protocol="homeassistant", command_topics={"command": "ha/lock/set"})
    assert one(Action("dev", "unlock"), lock) == ("ha/lock/set", "UNLOCK")
    switch = device(kind="switch", protocol="homeassistant", command_topics={"command": "ha/sw"})
    assert one(Action("dev", "off"), switch) == ("ha/sw", "OFF")
    climate = device(
        kind="climate", protocol="homeassistant", command_topics={"temperature": "ha/clim/temp"}
    )
    assert one(Action("dev", "temperature", {"temperature": 20.5}), climate) == (
        "ha/clim/temp",
        "20.5",
    )


def test_homeassistant_without_the_topic_for_an_op() -> None:
    cover = device(kind="cover", protocol="homeassistant", command_topics={"command": "ha/c"})
    assert not cover.can("position")
    with pytest.raises(RenderError):
        render(Action("dev", "position", {"position": 10}), cover)


# --- template ----------------------------------------------------------------------


def test_template_placeholders() -> None:
    dev = device(
        kind="light",
        protocol="template",
        name="Porch Light",
        template={
            "brightness": {
                "topic": "custom/{device_id}/{op}",
                "payload": '{"level": {brightness}, "raw": {brightness_254}, "who": "{name}"}',
            },
            "default": {"topic": "custom/{device_id}", "payload": "{state}"},
        },
    )
    assert one(Action("dev", "brightness", {"brightness": 50}), dev) == (
        "custom/dev/brightness",
        '{"level": 50, "raw": 127, "who": "Porch Light"}',
    )
    assert one(Action("dev", "on"), dev) == ("custom/dev", "ON")
    assert one(Action("dev", "color", {"rgb": [255, 0, 0]}), dev) == ("custom/dev", "COLOR")


def test_template_colour_and_temperature_values() -> None:
    dev = device(
        kind="light",
        protocol="template",
        template={"topic": "t/{device_id}", "payload": "{r} {g} {b}|{kelvin}|{mired}|{value}"},
    )
    assert one(Action("dev", "color", {"rgb": [1, 2, 3]}), dev)[1] == "1 2 3|||1,2,3"
    assert one(Action("dev", "color_temp", {"kelvin": 2000}), dev)[1] == "  |2000|500|2000"


def test_template_without_default_limits_the_ops() -> None:
    dev = device(
        kind="switch",
        protocol="template",
        template={"on": {"topic": "t/on", "payload": "1"}},
    )
    assert dev.ops == {"on"}
    with pytest.raises(RenderError):
        render(Action("dev", "off"), dev)


def test_unknown_template_placeholder_fails_at_config_time() -> None:
    with pytest.raises(
        ConfigError, match=r"devices\[0\]\.template\.on\.payload: unknown placeholder \{brightnes\}"
    ):
        device(
            kind="light",
            protocol="template",
            template={"on": {"topic": "t", "payload": "{brightnes}"}},
        )
    with pytest.raises(ConfigError, match=r"unknown placeholder \{value\} in topic"):
        device(kind="light", protocol="template", template={"on": {"topic": "t/{value}"}})


# --- guards and conversions --------------------------------------------------------


def test_unsupported_op_is_a_clear_error() -> None:
    with pytest.raises(RenderError, match="cannot do 'brightness'"):
        render(
            Action("dev", "brightness", {"brightness": 5}),
            device(kind="switch", protocol="tasmota", topic="p"),
        )


def test_action_for_another_device_is_refused() -> None:
    with pytest.raises(RenderError):
        render(Action("other", "on"), device(**Z2M_LIGHT))


def test_colour_conversions() -> None:
    assert rgb_to_xy(255, 0, 0) == (0.7006, 0.2993)
    assert rgb_to_xy(0, 255, 0) == (0.1724, 0.7468)
    assert rgb_to_xy(0, 0, 255) == (0.1355, 0.0399)
    assert rgb_to_xy(0, 0, 0) == (0.3127, 0.329)
    assert kelvin_to_mired(6500) == 154
    assert kelvin_to_mired(2000) == 500


# --- the ops state makes possible: temperature_step, mute, unmute, query -----------


def test_temperature_step_renders_the_absolute_setpoint_per_protocol() -> None:
    step = Action("dev", "temperature_step", {"step": -0.5, "temperature": 19.5})
    trv = device(
        kind="climate",
        protocol="zigbee2mqtt",
        topic="zigbee2mqtt/TRV",
        options={"setpoint_key": "occupied_heating_setpoint"},
    )
    assert one(step, trv) == ("zigbee2mqtt/TRV/set", '{"occupied_heating_setpoint":19.5}')
    ha = device(
        kind="climate", protocol="homeassistant", command_topics={"temperature": "h/c/temp"}
    )
    assert one(step, ha) == ("h/c/temp", "19.5")
    tpl = device(
        kind="climate",
        protocol="template",
        template={"topic": "t/{device_id}", "payload": "{op} {step} -> {temperature}"},
    )
    assert one(step, tpl) == ("t/dev", "temperature_step -0.5 -> 19.5")
    tasmota = device(kind="climate", protocol="tasmota", topic="trv")
    assert not tasmota.can("temperature_step")


def test_mute_and_unmute() -> None:
    ha = device(kind="media_player", protocol="homeassistant", command_topics={"command": "h/tv"})
    assert one(Action("dev", "mute"), ha) == ("h/tv", "MUTE")
    assert one(Action("dev", "unmute"), ha) == ("h/tv", "UNMUTE")
    tpl = device(
        kind="media_player",
        protocol="template",
        template={"topic": "snap/{device_id}", "payload": '{"action": "{op}", "v": "{value}"}'},
    )
    assert one(Action("dev", "mute"), tpl) == ("snap/dev", '{"action": "mute", "v": "MUTE"}')
    z2m = device(kind="media_player", protocol="zigbee2mqtt", topic="zigbee2mqtt/Speaker")
    assert not z2m.can("mute")


def test_volume_step_with_the_computed_volume() -> None:
    ha = device(kind="media_player", protocol="homeassistant", command_topics={"volume": "h/vol"})
    assert one(Action("dev", "volume", {"step": 10, "volume": 50}), ha) == ("h/vol", "50")
    tpl = device(
        kind="media_player",
        protocol="template",
        template={"topic": "snap/{device_id}", "payload": "{step}|{volume}"},
    )
    assert one(Action("dev", "volume", {"step": -10}), tpl) == ("snap/dev", "-10|")
    assert one(Action("dev", "volume", {"step": -10, "volume": 30}), tpl) == ("snap/dev", "-10|30")


def test_query_is_answered_from_state_where_nothing_can_be_asked() -> None:
    ha = device(
        kind="cover",
        protocol="homeassistant",
        command_topics={"command": "h/garage/set"},
        state_topic="h/garage/state",
    )
    assert ha.can("query") and render(Action("dev", "query"), ha) == []
    sensor = device(kind="sensor", protocol="template", state_topic="w/s", state_path="t")
    assert sensor.can("query") and render(Action("dev", "query"), sensor) == []
    # zigbee2mqtt and tasmota are asked to report (their answer feeds the state).
    assert one(Action("dev", "query"), device(**Z2M_LIGHT))[0] == "zigbee2mqtt/Kitchen Ceiling/get"


def test_needs_known_value() -> None:
    from edged.home.protocols import needs_known_value

    ha = device(kind="media_player", protocol="homeassistant", command_topics={"volume": "h/v"})
    step_tpl = device(
        kind="media_player", protocol="template", template={"topic": "s/x", "payload": "{step}"}
    )
    abs_tpl = device(
        kind="media_player", protocol="template", template={"topic": "s/x", "payload": "{volume}"}
    )
    assert needs_known_value("volume", ha) and needs_known_value("volume", abs_tpl)
    assert not needs_known_value("volume", step_tpl)
    assert not needs_known_value("pause", ha)
