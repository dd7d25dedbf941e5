"""Render an Action into MQTT messages by the device's protocol preset.

`render` is pure: (action, device) -> [(topic, payload)]. Topics come only
from the configuration; the numbers in payloads come from validated slot
values, never from spoken text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from edged.config import KIND_OPS, PAYLOAD_PLACEHOLDERS, PLACEHOLDER_RE, DeviceConfig
from edged.home.colors import kelvin_to_mired, rgb_to_xy

if TYPE_CHECKING:
    from edged.home.registry import Device
    from edged.home.resolve import Action

Message = tuple[str, str]


class RenderError(ValueError):
    """The device's protocol cannot express this action."""


# --- what each protocol can express ----------------------------------------------

_Z2M_OPS = frozenset(
    {
        "on",
        "off",
        "toggle",
        "brightness",
        "brightness_step",
        "color",
        "color_temp",
        "open",
        "close",
        "stop",
        "position",
        "lock",
        "unlock",
        "temperature",
        "temperature_step",
        "speed",
        "query",
    }
)
_TASMOTA_OPS = frozenset(
    {
        "on",
        "off",
        "toggle",
        "brightness",
        "brightness_step",
        "color",
        "color_temp",
        "open",
        "close",
        "stop",
        "position",
        "speed",
        "query",
    }
)
# Home Assistant MQTT: which configured topic group carries an op, per kind.
# (HA's MQTT schemas have no toggle, relative brightness or state request.)
_HA_GROUPS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "light": {op: "command" for op in ("on", "off", "brightness", "color", "color_temp")},
        "switch": {"on": "command", "off": "command"},
        "fan": {"on": "command", "off": "command", "speed": "percentage"},
        "cover": {"open": "command", "close": "command", "stop": "command", "position": "position"},
        "lock": {"lock": "command", "unlock": "command"},
        "climate": {
            "temperature": "temperature",
            "temperature_step": "temperature",
            "on": "mode",
            "off": "mode",
        },
        "media_player": {
            **{
                op: "command"
                for op in ("on", "off", "pause", "resume", "next", "previous", "mute", "unmute")
            },
            "volume": "volume",
        },
        "vacuum": {"vacuum_start": "command", "vacuum_dock": "command", "stop": "command"},
        "alarm": {"arm": "command", "disarm": "command"},
        "sensor": {},
    }
)


def protocol_ops(cfg: DeviceConfig) -> frozenset[str]:
    """The ops a configured device supports: its kind's, narrowed by its
    options and by what its protocol (and configured topics) can express."""
    ops = set(KIND_OPS[cfg.kind])
    if cfg.kind == "light":
        if not cfg.options.dimmable:
            ops -= {"brightness", "brightness_step"}
        if not cfg.options.color:
            ops.discard("color")
        if not cfg.options.color_temp:
            ops.discard("color_temp")
    if cfg.kind == "cover" and not cfg.options.position:
        ops.discard("position")
    if cfg.protocol == "zigbee2mqtt":
        ops &= _Z2M_OPS
    elif cfg.protocol == "tasmota":
        ops &= _TASMOTA_OPS
    elif cfg.protocol == "homeassistant":
        groups = _HA_GROUPS[cfg.kind]
        ops = {op for op in ops if groups.get(op) in cfg.command_topics} | (ops & {"query"})
    elif "default" not in cfg.template:
        ops &= set(cfg.template) | {"query"}
    # A question is answered from reported state (edged.home.state), or asked
    # with a template the user configured; without either nothing answers it.
    asks = cfg.protocol == "template" and bool({"query", "default"} & set(cfg.template))
    if not reports_state(cfg) and not asks:
        ops.discard("query")
    return frozenset(ops)


def reports_state(cfg: DeviceConfig | Device) -> bool:
    """Whether the device tells edged its state (edged.home.state subscribes):
    zigbee2mqtt and tasmota devices always do, on topics derived from their
    own; homeassistant and template devices when state topics are configured."""
    if cfg.protocol in ("zigbee2mqtt", "tasmota"):
        return True
    return bool(cfg.state_topic or cfg.state_topics)


def needs_known_value(action_op: str, device: Device) -> bool:
    """Whether a relative `volume` step has to be made absolute from the
    device's reported volume: the protocol takes an absolute volume only
    (homeassistant, or a template that never uses {step})."""
    if action_op != "volume":
        return False
    if device.protocol == "homeassistant":
        return True
    if device.protocol == "template":
        spec = device.templates.get("volume") or device.templates.get("default")
        return spec is not None and "step" not in PLACEHOLDER_RE.findall(spec.topic + spec.payload)
    return False


# --- helpers -----------------------------------------------------------------------


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _num(value: float) -> int | float:
    """21.0 -> 21, so payloads read like a person wrote them."""
    return int(value) if float(value).is_integer() else float(value)


def _param(action: Action, key: str) -> Any:
    try:
        return action.params[key]
    except KeyError:
        raise RenderError(f"{action.op} on {action.device_id} needs parameter {key!r}") from None


def _rgb(action: Action) -> tuple[int, int, int]:
    rgb = _param(action, "rgb")
    if not isinstance(rgb, list | tuple) or len(rgb) != 3:
        raise RenderError(f"color needs rgb as three numbers (got {rgb!r})")
    r, g, b = (max(0, min(255, int(c))) for c in rgb)
    return r, g, b


def pct_to_254(pct: float) -> int:
    return round(pct * 254 / 100)


def _unsupported(action: Action, device: Device) -> RenderError:
    return RenderError(
        f"{device.protocol} device {device.id} ({device.kind}) cannot do {action.op!r}"
    )


_STATE_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "on": "ON",
        "off": "OFF",
        "toggle": "TOGGLE",
        "open": "OPEN",
        "close": "CLOSE",
        "stop": "STOP",
        "lock": "LOCK",
        "unlock": "UNLOCK",
    }
)


def _fan_mode(pct: int) -> str:
    if pct <= 0:
        return "off"
    return "low" if pct <= 33 else "medium" if pct <= 66 else "high"


# --- zigbee2mqtt -------------------------------------------------------------------


def _zigbee2mqtt(action: Action, device: Device) -> list[Message]:
    base = device.topic
    assert base is not None  # config requires it for this protocol
    op, opts = action.op, device.options
    payload: dict[str, Any]
    if op == "query":
        # Asked only when it has not reported: the answer arrives on <base>,
        # where edged.home.state listens. A thermostat has no "state".
        if device.kind == "climate":
            return [(f"{base}/get", _json({opts.setpoint_key: "", "local_temperature": ""}))]
        return [(f"{base}/get", _json({"state": ""}))]
    if op in ("on", "off") and device.kind == "climate":
        payload = {"system_mode": "heat" if op == "on" else "off"}
    elif op in _STATE_WORDS:
        payload = {"state": _STATE_WORDS[op]}
    elif op == "brightness":
        pct = int(_param(action, "brightness"))
        # Brightness 0 would leave a Zigbee lamp "on" at its minimum.
        payload = {"state": "OFF"} if pct == 0 else {"brightness": pct_to_254(pct), "state": "ON"}
    elif op == "brightness_step":
        payload = {"brightness_step": pct_to_254(int(_param(action, "step")))}
    elif op == "color":
        r, g, b = _rgb(action)
        if opts.color_mode == "rgb":
            payload = {"color": {"rgb": f"{r},{g},{b}"}}
        else:
            x, y = rgb_to_xy(r, g, b)
            payload = {"color": {"x": x, "y": y}}
    elif op == "color_temp":
        kelvin = _param(action, "kelvin")
        payload = {"color_temp": kelvin_to_mired(kelvin, opts.min_mired, opts.max_mired)}
    elif op == "position":
        payload = {"position": int(_param(action, "position"))}
    elif op in ("temperature", "temperature_step"):
        # A step arrives made absolute from the reported setpoint (resolve).
        payload = {opts.setpoint_key: _num(_param(action, "temperature"))}
    elif op == "speed":
        payload = {"fan_mode": _fan_mode(int(_param(action, "percentage")))}
    else:
        raise _unsupported(action, device)
    return [(f"{base}/set", _json(payload))]


# --- tasmota -----------------------------------------------------------------------


def _tasmota(action: Action, device: Device) -> list[Message]:
    cmnd = f"cmnd/{device.topic}/"
    op, opts = action.op, device.options
    shutter = str(opts.shutter)
    if op in ("on", "off", "toggle"):
        power = "POWER" + (str(opts.relay) if opts.relay else "")
        return [(cmnd + power, _STATE_WORDS[op])]
    if op == "brightness":
        return [(cmnd + "Dimmer", str(int(_param(action, "brightness"))))]
    if op == "brightness_step":
        # Tasmota steps by its own DimmerStep setting (default 10).
        return [(cmnd + "Dimmer", "+" if int(_param(action, "step")) > 0 else "-")]
    if op == "color":
        r, g, b = _rgb(action)
        return [(cmnd + "Color", f"{r},{g},{b}")]
    if op == "color_temp":
        # Tasmota's CT takes 153-500 whatever the lamp.
        lo, hi = max(153, opts.min_mired), min(500, opts.max_mired)
        mired = kelvin_to_mired(_param(action, "kelvin"), lo, hi)
        return [(cmnd + "CT", str(mired))]
    if op == "open":
        return [(cmnd + "ShutterOpen" + shutter, "")]
    if op == "close":
        return [(cmnd + "ShutterClose" + shutter, "")]
    if op == "stop":
        return [(cmnd + "ShutterStop" + shutter, "")]
    if op == "position":
        return [(cmnd + "ShutterPosition" + shutter, str(int(_param(action, "position"))))]
    if op == "speed":
        pct = int(_param(action, "percentage"))
        return [(cmnd + "FanSpeed", str(0 if pct <= 0 else min(3, math.ceil(pct / 33.4))))]
    if op == "query":
        return [(cmnd + "STATE", "")]
    raise _unsupported(action, device)


# --- home assistant MQTT -----------------------------------------------------------

_HA_WORDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "media_player": {
            "on": "ON",
            "off": "OFF",
            "pause": "PAUSE",
            "resume": "PLAY",
            "next": "NEXT",
            "previous": "PREVIOUS",
            "mute": "MUTE",
            "unmute": "UNMUTE",
        },
        "vacuum": {"vacuum_start": "start", "vacuum_dock": "return_to_base", "stop": "stop"},
        "alarm": {"arm": "ARM_AWAY", "disarm": "DISARM"},
        "climate": {"on": "heat", "off": "off"},
    }
)


def _homeassistant(action: Action, device: Device) -> list[Message]:
    op, kind, opts = action.op, device.kind, device.options
    if op == "query":
        return []  # HA's MQTT schemas have no state request: answered from state
    group = _HA_GROUPS.get(kind, {}).get(op)
    if group is None:
        raise _unsupported(action, device)
    topic = device.command_topics.get(group)
    if topic is None:
        raise RenderError(f"{device.id}: {op!r} needs command_topics.{group}")
    if kind == "light":
        payload: dict[str, Any]
        if op in ("on", "off"):
            payload = {"state": _STATE_WORDS[op]}
        elif op == "brightness":
            pct = int(_param(action, "brightness"))
            scaled = round(pct * opts.brightness_scale / 100)
            payload = {"state": "OFF"} if pct == 0 else {"state": "ON", "brightness": scaled}
        elif op == "color":
            r, g, b = _rgb(action)
            payload = {"state": "ON", "color": {"r": r, "g": g, "b": b}}
        else:  # color_temp
            mired = kelvin_to_mired(_param(action, "kelvin"), opts.min_mired, opts.max_mired)
            payload = {"state": "ON", "color_temp": mired}
        return [(topic, _json(payload))]
    if op == "position":
        return [(topic, str(int(_param(action, "position"))))]
    if op in ("temperature", "temperature_step"):
        return [(topic, str(_num(_param(action, "temperature"))))]
    if op == "speed":
        return [(topic, str(int(_param(action, "percentage"))))]
    if op == "volume":
        if "volume" not in action.params:
            raise RenderError(
                f"{device.id}: homeassistant media players take an absolute volume only"
            )
        return [(topic, str(int(action.params["volume"])))]
    words = _HA_WORDS.get(kind, _STATE_WORDS)
    if op not in words:
        raise _unsupported(action, device)
    return [(topic, words[op])]


# --- template ----------------------------------------------------------------------


def template_values(action: Action, device: Device) -> dict[str, str]:
    """Every payload placeholder, as text; those the op has no value for are ''."""
    p = action.params
    values = dict.fromkeys(PAYLOAD_PLACEHOLDERS, "")
    values.update(device_id=device.id, name=device.name, op=action.op)
    values["state"] = _STATE_WORDS.get(action.op, action.op.upper())
    values["value"] = values["state"]
    if "brightness" in p:
        pct = int(p["brightness"])
        values.update(
            brightness=str(pct),
            brightness_254=str(pct_to_254(pct)),
            brightness_255=str(round(pct * 255 / 100)),
            value=str(pct),
        )
    if "step" in p:
        values["step"] = values["value"] = str(_num(p["step"]))
    if "position" in p:
        values["position"] = values["value"] = str(int(p["position"]))
    if "temperature" in p:
        values["temperature"] = values["value"] = str(_num(p["temperature"]))
    if "rgb" in p:
        r, g, b = _rgb(action)
        values.update(r=str(r), g=str(g), b=str(b), value=f"{r},{g},{b}")
    if "kelvin" in p:
        opts = device.options
        values.update(
            kelvin=str(int(p["kelvin"])),
            mired=str(kelvin_to_mired(p["kelvin"], opts.min_mired, opts.max_mired)),
            value=str(int(p["kelvin"])),
        )
    if "volume" in p:
        values["volume"] = values["value"] = str(int(p["volume"]))
    if "percentage" in p:
        values["percentage"] = values["value"] = str(int(p["percentage"]))
    return values


def fill_template(text: str, values: Mapping[str, str]) -> str:
    # Placeholders were checked against the allowed set when the config loaded.
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _template(action: Action, device: Device) -> list[Message]:
    spec = device.templates.get(action.op) or device.templates.get("default")
    if spec is None and action.op == "query" and device.state_topic:
        return []  # nothing configured to ask with: answered from state
    if spec is None:
        raise RenderError(f"{device.id}: no template for {action.op!r} and no default")
    values = template_values(action, device)
    return [(fill_template(spec.topic, values), fill_template(spec.payload, values))]


_RENDERERS: Mapping[str, Callable[[Action, Device], list[Message]]] = MappingProxyType(
    {
        "zigbee2mqtt": _zigbee2mqtt,
        "tasmota": _tasmota,
        "homeassistant": _homeassistant,
        "template": _template,
    }
)


def render(action: Action, device: Device) -> list[Message]:
    """The (topic, payload) messages that carry out `action` on `device`.
    Raises RenderError when the protocol cannot express it."""
    if action.device_id != device.id:
        raise RenderError(f"action for {action.device_id} rendered with device {device.id}")
    if not device.can(action.op):
        raise _unsupported(action, device)
    return _RENDERERS[device.protocol](action, device)
