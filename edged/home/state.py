"""What each device last reported: its state, kept in memory with its age.

Devices tell MQTT what they are doing, each protocol in its own way; the
topics are derived from the same configuration that renders commands, never
from anything spoken:

- zigbee2mqtt: the device's base topic (`zigbee2mqtt/<friendly name>`), a JSON
  object of attributes (`state`, `brightness` 0-254, `position`,
  `current_heating_setpoint`, `local_temperature`, `contact`, ...).
- tasmota: `stat/<topic>/RESULT` and `tele/<topic>/STATE` (JSON: `POWER`,
  `Dimmer`, `CT`, `Shutter<n>`), `stat/<topic>/POWER[<n>]` (plain `ON`/`OFF`)
  and `tele/<topic>/SENSOR` (`{"AM2301": {"Temperature": ...}}`).
- homeassistant: `state_topic` (JSON as HA's JSON schema, or a plain value)
  and `state_topics.<value>` (one plain value each).
- template: `state_topic`, with `state_path` picking the value out of JSON.

Readings are normalised to a small vocabulary (`state` "on"/"off"/"open"/
"closed"/"locked"/"playing"..., `brightness`/`position`/`volume`/`humidity`
in %, `setpoint` and `temperature` in the device's unit, `mode`, `muted`)
so queries and relative operations read one shape whatever the protocol.

`StateStore` is plain in-memory data with no I/O: the daemon feeds it what
arrives on `topics()`, and the engine hands `snapshot()` (read-only) to the
pure resolver and to `answer_query`. A bad payload is skipped; the first one
per device comes back from `feed` for the daemon to log, later ones are only
counted, so a chatty broken device cannot flood the log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from edged.home.registry import Device, Home
from edged.messages import Limits, decode_text, load_json

# Spoken-state vocabulary: what protocols send -> one word per meaning.
_STATE_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "on": "on",
        "off": "off",
        "true": "on",
        "false": "off",
        "open": "open",
        "opened": "open",
        "close": "closed",
        "closed": "closed",
        "opening": "opening",
        "closing": "closing",
        "stop": "stopped",
        "stopped": "stopped",
        "lock": "locked",
        "locked": "locked",
        "unlock": "unlocked",
        "unlocked": "unlocked",
        "not_fully_locked": "unlocked",
        "play": "playing",
        "playing": "playing",
        "pause": "paused",
        "paused": "paused",
        "idle": "idle",
        "standby": "idle",
    }
)
# Readings with a unit; temperatures take the device's own.
_PERCENT_KEYS = frozenset({"brightness", "position", "volume", "humidity", "battery"})
_TEMPERATURE_KEYS = frozenset({"temperature", "setpoint"})
# A sensor's device class names the reading it reports.
_SENSOR_READINGS = frozenset({"temperature", "humidity", "battery", "illuminance", "pressure"})
_MAX_TEXT = 64


class StateError(ValueError):
    """A state payload edged cannot read; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class Reading:
    value: Any
    mono: float  # time.monotonic() when it arrived: ages
    wall: float  # time.time(): for people and logs


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device's last reported values, each with when it came. Replaced,
    never changed, so a snapshot stays consistent while new reports arrive."""

    readings: Mapping[str, Reading] = field(default_factory=lambda: MappingProxyType({}))

    def value(self, key: str) -> Any:
        r = self.readings.get(key)
        return None if r is None else r.value

    def age_s(self, key: str, now_mono: float) -> float | None:
        r = self.readings.get(key)
        return None if r is None else max(0.0, now_mono - r.mono)

    def merged(self, values: Mapping[str, Any], mono: float, wall: float) -> DeviceState:
        new = dict(self.readings)
        new.update({k: Reading(v, mono, wall) for k, v in values.items()})
        return DeviceState(MappingProxyType(new))


StateView = Mapping[str, DeviceState]
EMPTY_STATE: StateView = MappingProxyType({})


# --- value readers -----------------------------------------------------------------


def _number(key: str, v: Any) -> float:
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            raise StateError(f"{key} is not a number ({v[:_MAX_TEXT]!r})") from None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise StateError(f"{key} is not a number ({v!r})")
    return int(v) if float(v).is_integer() else float(v)


def _percent(key: str, v: Any, scale: float = 100.0) -> int:
    n = _number(key, v) * 100 / scale
    if not math.isfinite(n):
        raise StateError(f"{key} is out of range ({v!r})")
    return max(0, min(100, round(n)))


def _word(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if not isinstance(v, str) or not v.strip() or len(v) > _MAX_TEXT:
        raise StateError(f"{key} is not a state word ({str(v)[:_MAX_TEXT]!r})")
    word = v.strip().lower()
    return _STATE_WORDS.get(word, word)


def _bool(key: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("off", "false", "0", "no"):
        return False
    raise StateError(f"{key} is not true or false ({str(v)[:_MAX_TEXT]!r})")


def _object(text: str, limits: Limits) -> dict[str, Any]:
    obj, problem = load_json(text, limits)
    if problem is not None:
        raise StateError(problem)
    if not isinstance(obj, dict):
        raise StateError("expected a JSON object")
    return obj


def _derive(device: Device, values: dict[str, Any]) -> dict[str, Any]:
    """Fill `state` where a protocol only says it indirectly: a contact sensor
    (contact true = closed) or a cover that reports only its position."""
    if "state" not in values:
        if "contact" in values:
            values["state"] = "closed" if values["contact"] else "open"
        elif device.kind == "cover" and "position" in values:
            values["state"] = "closed" if values["position"] == 0 else "open"
    return values


def primary_key(device: Device) -> str:
    """Where a device's single plain value goes (and what a question about the
    device reads first): a temperature sensor's is `temperature`, a
    thermostat's its `mode`, everything else's its `state`."""
    if device.kind == "sensor" and device.device_class in _SENSOR_READINGS:
        return device.device_class
    if device.kind == "climate":
        return "mode"
    return "state"


def _plain(device: Device, key: str, text: str) -> dict[str, Any]:
    """A single value on its own topic, read as `key` wants it."""
    if key in _PERCENT_KEYS and key != "brightness":
        return {key: _percent(key, text)}
    if key == "brightness":
        return {key: _percent(key, text, device.options.brightness_scale)}
    if key in _TEMPERATURE_KEYS or key in _SENSOR_READINGS:
        return {key: _number(key, text)}
    if key == "muted":
        return {key: _bool(key, text)}
    if key == "mode":
        return {key: _word(key, text)}
    if key == "state" and device.kind == "sensor":
        # A binary sensor's ON means open (door, window) or detected; keep
        # the word, but read a door's ON/OFF as open/closed.
        word = _word(key, text)
        if device.device_class in ("door", "window", "garage", "opening", "gate"):
            word = {"on": "open", "off": "closed"}.get(word, word)
        return {key: word}
    return {key: _word(key, text)}


# zigbee2mqtt attribute -> (our key, reader)
def _z2m_values(device: Device, obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "state" in obj:
        out["state"] = _word("state", obj["state"])
    if "lock_state" in obj:
        out["state"] = _word("lock_state", obj["lock_state"])
    if "brightness" in obj:
        out["brightness"] = _percent("brightness", obj["brightness"], 254)
    if "color_temp" in obj:
        out["color_temp"] = _number("color_temp", obj["color_temp"])
    if "position" in obj:
        out["position"] = _percent("position", obj["position"])
    for key in (
        device.options.setpoint_key,
        "occupied_heating_setpoint",
        "current_heating_setpoint",
    ):
        if key in obj:
            out["setpoint"] = _number(key, obj[key])
            break
    for key in ("local_temperature", "temperature"):
        if key in obj:
            out["temperature"] = _number(key, obj[key])
            break
    if "humidity" in obj:
        out["humidity"] = _percent("humidity", obj["humidity"])
    if "battery" in obj:
        out["battery"] = _percent("battery", obj["battery"])
    if "contact" in obj:
        out["contact"] = _bool("contact", obj["contact"])
    if "system_mode" in obj:
        out["mode"] = _word("system_mode", obj["system_mode"])
    if "volume" in obj:
        out["volume"] = _percent("volume", obj["volume"])
    if "mute" in obj:
        out["muted"] = _bool("mute", obj["mute"])
    if device.kind == "climate" and "state" in out and "mode" not in out:
        out["mode"] = "heat" if out["state"] == "on" else out["state"]
    return _derive(device, out)


def _tasmota_values(device: Device, obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    relay = device.options.relay
    power_keys = (f"POWER{relay}",) if relay else ("POWER", "POWER1")
    for key in power_keys:
        if key in obj:
            out["state"] = _word(key, obj[key])
            break
    if "Dimmer" in obj:
        out["brightness"] = _percent("Dimmer", obj["Dimmer"])
    if "CT" in obj:
        out["color_temp"] = _number("CT", obj["CT"])
    shutter = obj.get(f"Shutter{device.options.shutter}")
    if isinstance(shutter, Mapping) and "Position" in shutter:
        out["position"] = _percent("Position", shutter["Position"])
        out.pop("state", None)  # a shutter's POWER is its motor relay
    if "FanSpeed" in obj:
        speed = _number("FanSpeed", obj["FanSpeed"])
        out["speed"] = speed
    # tele/<topic>/SENSOR: readings one level down, under the sensor's name.
    for sensor in obj.values():
        if isinstance(sensor, Mapping):
            if "Temperature" in sensor and "temperature" not in out:
                out["temperature"] = _number("Temperature", sensor["Temperature"])
            if "Humidity" in sensor and "humidity" not in out:
                out["humidity"] = _percent("Humidity", sensor["Humidity"])
    return _derive(device, out)


def _ha_json_values(device: Device, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Home Assistant's JSON schema (lights, and JSON state in general)."""
    out: dict[str, Any] = {}
    if "state" in obj:
        out.update(_plain(device, primary_key(device), obj["state"]))
    if "brightness" in obj:
        out["brightness"] = _percent(
            "brightness", obj["brightness"], device.options.brightness_scale
        )
    if "color_temp" in obj:
        out["color_temp"] = _number("color_temp", obj["color_temp"])
    if "position" in obj:
        out["position"] = _percent("position", obj["position"])
    if "temperature" in obj:
        # A thermostat's "temperature" is its setpoint (HA's naming), a
        # sensor's is what it measures.
        key = "setpoint" if device.kind == "climate" else "temperature"
        out[key] = _number("temperature", obj["temperature"])
    if "current_temperature" in obj:
        out["temperature"] = _number("current_temperature", obj["current_temperature"])
    for key in ("humidity", "volume", "battery"):
        if key in obj:
            out[key] = _percent(key, obj[key])
    if "volume_level" in obj:  # HA's own 0-1 volume
        out["volume"] = _percent("volume_level", obj["volume_level"], 1.0)
    for key in ("muted", "is_volume_muted"):
        if key in obj:
            out["muted"] = _bool(key, obj[key])
    return _derive(device, out)


def _at_path(obj: Any, path: str) -> Any:
    here = obj
    for part in path.removeprefix("$.").split("."):
        if isinstance(here, Mapping) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            raise StateError(f"no value at {path!r}")
    if isinstance(here, dict | list):
        raise StateError(f"the value at {path!r} is not a single value")
    return here


# --- topics per protocol -----------------------------------------------------------

Reader = Callable[[str], dict[str, Any]]


def _json_reader(
    device: Device, values: Callable[[Device, Mapping[str, Any]], dict[str, Any]], limits: Limits
) -> Reader:
    return lambda text: values(device, _object(text, limits))


def _state_reader(device: Device, limits: Limits) -> Reader:
    """A homeassistant/template `state_topic`: a value at `state_path`, a
    JSON object in HA's schema, or a plain value."""
    key = primary_key(device)
    path = device.state_path

    def read(text: str) -> dict[str, Any]:
        stripped = text.strip()
        if path is not None:
            value = _at_path(_object(stripped, limits), path)
            return _derive(device, _plain(device, key, str(value)))
        if stripped.startswith("{"):
            return _ha_json_values(device, _object(stripped, limits))
        return _derive(device, _plain(device, key, stripped))

    return read


_HA_GROUP_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "position": "position",
        "brightness": "brightness",
        "temperature": "setpoint",
        "current_temperature": "temperature",
        "volume": "volume",
        "mute": "muted",
    }
)


def device_state_topics(device: Device, limits: Limits) -> list[tuple[str, Reader]]:
    """The topics `device` reports its state on, each with its reader."""
    if device.protocol == "zigbee2mqtt":
        assert device.topic is not None
        return [(device.topic, _json_reader(device, _z2m_values, limits))]
    if device.protocol == "tasmota":
        t = device.topic
        tasmota = _json_reader(device, _tasmota_values, limits)
        power = f"POWER{device.options.relay}" if device.options.relay else "POWER"

        def plain_power(text: str) -> dict[str, Any]:
            return _derive(device, {"state": _word(power, text)})

        return [
            (f"stat/{t}/RESULT", tasmota),
            (f"tele/{t}/STATE", tasmota),
            (f"tele/{t}/SENSOR", tasmota),
            (f"stat/{t}/{power}", plain_power),
        ]
    topics: list[tuple[str, Reader]] = []
    if device.state_topic:
        topics.append((device.state_topic, _state_reader(device, limits)))
    for group, topic in device.state_topics.items():
        if group == "state":
            topics.append((topic, _state_reader(device, limits)))
            continue
        topics.append((topic, _group_reader(device, _HA_GROUP_KEYS[group])))
    return topics


def _group_reader(device: Device, key: str) -> Reader:
    """One plain value on a topic of its own (HA's position_topic, ...)."""
    return lambda text: _derive(device, _plain(device, key, text))


# --- the store ---------------------------------------------------------------------


class StateStore:
    """Every device's last reported state. Fed on the daemon's event loop,
    read through `snapshot()` on the engine thread: entries are replaced
    whole, so a snapshot never sees half an update."""

    def __init__(self, home: Home, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._states: dict[str, DeviceState] = {}
        # Devices whose bad payload was reported; counts of those skipped.
        self.bad_payloads: dict[str, int] = {}
        self._routes: Mapping[str, tuple[tuple[str, Reader], ...]] = MappingProxyType({})
        self._device_topics: dict[str, tuple[str, ...]] = {}
        self.replace_home(home)

    def replace_home(self, home: Home) -> tuple[list[str], list[str]]:
        """Listen for `home`'s devices from now on (a reload, or devices
        imported from the broker). A device keeps its state when it reports
        on the same topics as before. Returns the topics to subscribe to
        and those no device reports on any more."""
        old_topics = set(self._routes)
        routes: dict[str, list[tuple[str, Reader]]] = {}
        device_topics: dict[str, tuple[str, ...]] = {}
        for device in home.devices.values():
            topics = device_state_topics(device, self._limits)
            device_topics[device.id] = tuple(t for t, _ in topics)
            for topic, reader in topics:
                routes.setdefault(topic, []).append((device.id, reader))
        self._states = {
            d: s
            for d, s in self._states.items()
            if d in device_topics and device_topics[d] == self._device_topics.get(d)
        }
        self.bad_payloads = {d: n for d, n in self.bad_payloads.items() if d in device_topics}
        self.home = home
        self._device_topics = device_topics
        self._routes = MappingProxyType({t: tuple(r) for t, r in routes.items()})
        return sorted(set(routes) - old_topics), sorted(old_topics - set(routes))

    def topics(self) -> list[str]:
        """The topics to subscribe to (exact topics, no wildcards)."""
        return list(self._routes)

    def wants(self, topic: str) -> bool:
        return topic in self._routes

    def feed(
        self, topic: str, payload: bytes | bytearray, *, mono: float, wall: float
    ) -> list[str]:
        """Take one state message. Returns what to log: the first bad payload
        of each device (later ones are only counted in `bad_payloads`)."""
        problems: list[str] = []
        routes = self._routes.get(topic, ())
        if not routes:
            return problems
        text, problem = decode_text(bytes(payload), self._limits)
        for device_id, reader in routes:
            try:
                if problem is not None:
                    raise StateError(problem)
                values = reader(text)
            except Exception as e:  # whatever a device sends costs a log line, never the daemon
                count = self.bad_payloads.get(device_id, 0)
                self.bad_payloads[device_id] = count + 1
                if count == 0:
                    problems.append(
                        f"state of {device_id} on {topic}: skipped a payload edged cannot "
                        f"read ({e}); further bad payloads from it are not logged"
                    )
                continue
            if values:
                old = self._states.get(device_id, DeviceState())
                self._states[device_id] = old.merged(values, mono, wall)
        return problems

    def get(self, device_id: str) -> DeviceState | None:
        return self._states.get(device_id)

    def snapshot(self) -> StateView:
        """A read-only copy: what the pure functions are handed."""
        return MappingProxyType(dict(self._states))


# --- answers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateAnswer:
    """A question about one device, answered from its reported state.
    `value` None: it has not reported that (nothing is guessed)."""

    device: str
    name: str
    key: str
    value: Any = None
    unit: str | None = None
    age_s: float | None = None

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "value": self.value,
            "unit": self.unit,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
        }


def query_key(device: Device, intent: str | None) -> str:
    """Which reading a question is about: a temperature for the climate
    question, else the device's own state (a sensor's reading)."""
    if intent == "HassClimateGetTemperature":
        return "temperature"
    if device.kind == "climate":
        return "mode"
    return primary_key(device)


def unit_of(device: Device, key: str) -> str | None:
    if key in _TEMPERATURE_KEYS:
        return device.options.temperature_unit
    if key in _PERCENT_KEYS:
        return "%"
    return None


def answer_query(
    device: Device, intent: str | None, state: DeviceState | None, now_mono: float
) -> StateAnswer:
    key = query_key(device, intent)
    if state is None or state.value(key) is None:
        return StateAnswer(device.id, device.name, key)
    return StateAnswer(
        device.id,
        device.name,
        key,
        state.value(key),
        unit_of(device, key),
        state.age_s(key, now_mono),
    )


def unknown_message(answer: StateAnswer) -> str:
    what = {
        "temperature": "the temperature at",
        "setpoint": "what is set on",
        "volume": "the volume of",
    }.get(answer.key, "the state of")
    return f"I don't know {what} the {answer.name}: it hasn't reported it yet"
