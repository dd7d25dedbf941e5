"""Devices learnt from the broker instead of typed in: Zigbee2MQTT's
retained `<base>/bridge/devices` and Home Assistant's retained MQTT
discovery configs (`<prefix>/<component>/[<node_id>/]<object_id>/config`).

Not to be confused with `edged.discovery`, which announces edged itself TO
Home Assistant. Everything here is pure: a message becomes device configs
(`parse_bridge_devices`, `parse_discovery`), messages fold into an
`ImportState` (`apply_message`), and `merge_home` joins that state with the
hand-written YAML into the `Config` a `Home` is built from. The daemon and
`edged devices` do the MQTT.

Formats, as their projects document them: Zigbee2MQTT 2.x `bridge/devices`
(a list of devices, each with `friendly_name`, `ieee_address`, `type`,
`disabled` and `definition.exposes`: specific exposes `light`, `switch`,
`cover`, `lock`, `climate`, `fan` with `features`, generic `numeric`,
`binary`, `enum`, optionally with an `endpoint`); Home Assistant's MQTT
discovery (core 2024.x-2025.x: the abbreviations of
`homeassistant/components/mqtt/abbreviations.py`, `~` as the base topic,
`default` and `json` light schemas, and device-based discovery with `cmps`).

Safety first: an imported device only ever gets topics from its own
discovery message, a device written by hand with the same id or topic
replaces it, and what a message does not say clearly (a Jinja command
template, a custom brightness scale) leaves that operation out rather than
guessing a payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pydantic import ValidationError

from edged.config import (
    AreaConfig,
    Config,
    DeviceConfig,
    ImportConfig,
    format_loc,
    name_key,
    slugify,
)
from edged.home.registry import Home
from edged.topics import matches

Source = Literal["yaml", "zigbee2mqtt", "homeassistant"]

# --- Home Assistant's abbreviations (homeassistant/components/mqtt/abbreviations.py)
# Only the keys this importer reads; an unknown abbreviation is left as is and
# so ignored, like any key edged has no use for.
ABBREVIATIONS: Mapping[str, str] = MappingProxyType(
    {
        "bri_cmd_t": "brightness_command_topic",
        "bri_cmd_tpl": "brightness_command_template",
        "bri_scl": "brightness_scale",
        "bri_stat_t": "brightness_state_topic",
        "clr_temp_cmd_t": "color_temp_command_topic",
        "clr_temp_cmd_tpl": "color_temp_command_template",
        "clr_temp_k": "color_temp_kelvin",
        "cmd_t": "command_topic",
        "cmd_tpl": "command_template",
        "cmps": "components",
        "curr_temp_t": "current_temperature_topic",
        "curr_temp_tpl": "current_temperature_template",
        "dev": "device",
        "dev_cla": "device_class",
        "ent_cat": "entity_category",
        "json_attr_t": "json_attributes_topic",
        "max_mirs": "max_mireds",
        "min_mirs": "min_mireds",
        "max_temp": "max_temp",
        "min_temp": "min_temp",
        "mode_cmd_t": "mode_command_topic",
        "mode_cmd_tpl": "mode_command_template",
        "mode_stat_t": "mode_state_topic",
        "mode_stat_tpl": "mode_state_template",
        "modes": "modes",
        "name": "name",
        "o": "origin",
        "obj_id": "object_id",
        "p": "platform",
        "pct_cmd_t": "percentage_command_topic",
        "pct_cmd_tpl": "percentage_command_template",
        "pl_arm_away": "payload_arm_away",
        "pl_cls": "payload_close",
        "pl_disarm": "payload_disarm",
        "pl_lock": "payload_lock",
        "pl_off": "payload_off",
        "pl_on": "payload_on",
        "pl_open": "payload_open",
        "pl_stop": "payload_stop",
        "pl_unlk": "payload_unlock",
        "pos_clsd": "position_closed",
        "pos_open": "position_open",
        "pos_t": "position_topic",
        "pos_tpl": "position_template",
        "rgb_cmd_t": "rgb_command_topic",
        "rgb_cmd_tpl": "rgb_command_template",
        "set_pos_t": "set_position_topic",
        "set_pos_tpl": "set_position_template",
        "spd_rng_max": "speed_range_max",
        "spd_rng_min": "speed_range_min",
        "stat_t": "state_topic",
        "stat_val_tpl": "state_value_template",
        "sup_clrm": "supported_color_modes",
        "temp_cmd_t": "temperature_command_topic",
        "temp_cmd_tpl": "temperature_command_template",
        "temp_stat_t": "temperature_state_topic",
        "temp_stat_tpl": "temperature_state_template",
        "uniq_id": "unique_id",
        "val_tpl": "value_template",
    }
)
DEVICE_ABBREVIATIONS: Mapping[str, str] = MappingProxyType(
    {
        "cns": "connections",
        "cu": "configuration_url",
        "ids": "identifiers",
        "mf": "manufacturer",
        "mdl": "model",
        "name": "name",
        "sa": "suggested_area",
        "sw": "sw_version",
    }
)
# Device-based discovery: options a `cmps` entry inherits from the device's message.
_SHARED = ("state_topic", "command_topic", "device", "origin", "~")

# HA component -> edged kind. Others (button, number, select, scene, ...) are
# skipped: no intent of edged's acts on them.
HA_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "light": "light",
        "switch": "switch",
        "cover": "cover",
        "lock": "lock",
        "climate": "climate",
        "fan": "fan",
        "sensor": "sensor",
        "binary_sensor": "sensor",
        "alarm_control_panel": "alarm",
    }
)
# Z2M specific exposes, the first present is what the device is.
Z2M_KINDS: tuple[str, ...] = ("light", "cover", "lock", "climate", "fan", "switch")
# Generic exposes that say nothing about what a device is for.
_Z2M_HOUSEKEEPING = frozenset(
    {"linkquality", "battery", "battery_low", "voltage", "action", "update", "update_available"}
)
# Words that make an imported cover or switch a door to the outside: sensitive.
_GATE_WORDS = frozenset({"garage", "gate", "door"})


# --- what a message yields ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    """One device learnt from the broker. `device.area` is a reference still
    to resolve (`merge_home`): a suggested area name, or None."""

    source: Source
    # Where it came from: the IEEE address (and endpoint), or the discovery topic.
    origin: str
    device: DeviceConfig
    # What `import.areas` may name it by: friendly name, IEEE address, unique_id.
    lookup: tuple[str, ...] = ()
    state_topic: str | None = None


def _problem(where: str, what: str) -> str:
    return f"{where}: {what}"


def _device(data: dict[str, Any], where: str, problems: list[str]) -> DeviceConfig | None:
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        loc = format_loc(tuple(first["loc"]))
        problems.append(_problem(where, f"skipped: {loc + ': ' if loc else ''}{msg}"))
        return None


def _ident(text: str) -> str:
    return slugify(text) or "device"


def _spoken(text: str) -> str:
    """A name as said: Zigbee2MQTT users often write `kitchen_ceiling`."""
    return " ".join(re.sub(r"[_]+", " ", text).split())


def _gate_like(name: str) -> bool:
    return bool(_GATE_WORDS & set(slugify(name).split("_")))


# --- Zigbee2MQTT -------------------------------------------------------------------


def _features(expose: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A specific expose's features by name (its direct features only)."""
    out: dict[str, Mapping[str, Any]] = {}
    for f in expose.get("features") or ():
        if isinstance(f, dict) and isinstance(f.get("name"), str):
            out[f["name"]] = f
    return out


def _prop(feature: Mapping[str, Any] | None) -> str | None:
    if feature is None:
        return None
    p = feature.get("property")
    return p if isinstance(p, str) and p else None


def _can_set(feature: Mapping[str, Any] | None) -> bool:
    # access is a bit field: 1 published, 2 settable, 4 gettable.
    return (
        feature is not None
        and isinstance(feature.get("access"), int)
        and bool(feature["access"] & 2)
    )


def _num(feature: Mapping[str, Any] | None, key: str) -> float | None:
    v = None if feature is None else feature.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _z2m_specific(
    expose: Mapping[str, Any], base: dict[str, Any], topic: str
) -> dict[str, Any] | None:
    """The device config fields for one specific expose; None when edged
    cannot drive it (nothing settable under the property names it renders)."""
    kind = expose["type"]
    feats = _features(expose)
    state = feats.get("state")
    endpoint = expose.get("endpoint")
    d: dict[str, Any] = {**base, "kind": kind}
    if endpoint is not None or (state is not None and _prop(state) != "state") or kind == "fan":
        # Zigbee2MQTT names these properties state_l1, fan_state, ...: the
        # zigbee2mqtt preset says "state", so give the exact payload instead.
        prop = _prop(state)
        if prop is None or not _can_set(state) or kind not in ("switch", "light", "fan"):
            return None
        d.update(
            kind=kind,
            protocol="template",
            template={
                op: {"topic": f"{topic}/set", "payload": json.dumps({prop: "{state}"})}
                for op in ("on", "off", "toggle")
            },
            # ... and it reports that property on the device's topic.
            state_topic=topic,
            state_path=prop,
        )
        if kind == "light":
            d["options"] = {"dimmable": False, "color": False, "color_temp": False}
        return d
    d.update(protocol="zigbee2mqtt", topic=topic)
    if kind == "light":
        ct = feats.get("color_temp")
        lo, hi = _num(ct, "value_min"), _num(ct, "value_max")
        opts: dict[str, Any] = {
            "dimmable": "brightness" in feats,
            "color": "color_xy" in feats or "color_hs" in feats,
            "color_temp": ct is not None and lo is not None and hi is not None and lo <= hi,
            "color_mode": "xy",
        }
        if opts["color_temp"]:
            opts.update(min_mired=int(max(50, lo or 0)), max_mired=int(min(1000, hi or 1000)))
        d["options"] = opts
    elif kind == "switch":
        if not _can_set(state):
            return None
    elif kind == "cover":
        d["options"] = {"position": _can_set(feats.get("position"))}
    elif kind == "lock":
        if not _can_set(state):
            return None
    elif kind == "climate":
        setpoint = next(
            (
                f
                for name in (
                    "occupied_heating_setpoint",
                    "current_heating_setpoint",
                    "occupied_cooling_setpoint",
                )
                if (f := feats.get(name)) is not None and _can_set(f)
            ),
            None,
        )
        mode = feats.get("system_mode")
        modes = mode.get("values") if mode is not None else None
        on_off = _can_set(mode) and isinstance(modes, list) and {"heat", "off"} <= set(modes)
        prop = _prop(setpoint)
        if prop is None:
            return None
        opts = {"setpoint_key": prop}
        lo, hi = _num(setpoint, "value_min"), _num(setpoint, "value_max")
        if lo is not None and hi is not None and lo <= hi:
            opts.update(min_temp=lo, max_temp=hi)
        d["options"] = opts
        if not on_off:
            # The preset's on/off is system_mode heat/off, which this one lacks.
            d.update(
                protocol="template",
                topic=None,
                template={
                    "temperature": {
                        "topic": f"{topic}/set",
                        "payload": '{"' + prop + '": {temperature}}',
                    }
                },
            )
    return d


def parse_bridge_devices(
    payload: bytes, base_topic: str
) -> tuple[list[Imported] | None, list[str]]:
    """Zigbee2MQTT's `bridge/devices` -> devices (None: the message cannot
    be read at all), and the problems worth a log line."""
    where = f"{base_topic}/bridge/devices"
    problems: list[str] = []
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        return None, [_problem(where, f"not JSON ({e}); ignored")]
    if not isinstance(data, list):
        return None, [_problem(where, "not a list of devices; ignored")]
    out: list[Imported] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            problems.append(_problem(f"{where}[{i}]", "not an object; skipped"))
            continue
        if entry.get("type") == "Coordinator" or entry.get("disabled") is True:
            continue
        friendly, ieee = entry.get("friendly_name"), entry.get("ieee_address")
        if not isinstance(friendly, str) or not friendly.strip():
            problems.append(_problem(f"{where}[{i}]", "no friendly_name; skipped"))
            continue
        definition = entry.get("definition")
        exposes = definition.get("exposes") if isinstance(definition, dict) else None
        if not isinstance(exposes, list):
            # Unsupported by Zigbee2MQTT, or still being interviewed.
            problems.append(_problem(f"{where}: {friendly}", "no definition.exposes; skipped"))
            continue
        out += _z2m_device(entry, friendly, ieee, exposes, base_topic, where, problems)
    return out, problems


def _z2m_device(
    entry: Mapping[str, Any],
    friendly: str,
    ieee: Any,
    exposes: list[Any],
    base_topic: str,
    where: str,
    problems: list[str],
) -> list[Imported]:
    topic = f"{base_topic}/{friendly}"
    # "kitchen/ceiling": the path before the last part is the area.
    path = [p for p in friendly.split("/") if p.strip()]
    name = _spoken(path[-1]) if path else friendly
    area = _spoken(path[-2]) if len(path) > 1 else None
    lookup = tuple(x for x in (friendly, ieee if isinstance(ieee, str) else None) if x)
    base: dict[str, Any] = {"id": _ident(friendly), "name": name, "area": area}
    specific = [
        e
        for e in exposes
        if isinstance(e, dict)
        and e.get("type") in Z2M_KINDS
        and isinstance(e.get("features"), list)
    ]
    chosen: list[dict[str, Any]] = []
    for kind in Z2M_KINDS:
        of_kind = [e for e in specific if e["type"] == kind]
        plain = [e for e in of_kind if e.get("endpoint") is None]
        if plain:
            fields = _z2m_specific(plain[0], base, topic)
            if fields is not None:
                chosen = [fields]
                break
        elif of_kind and kind == "switch":
            # A multi-gang switch: one device per endpoint ("Kitchen Switch l1").
            for e in of_kind:
                ep = str(e["endpoint"])
                per = {**base, "id": _ident(f"{friendly} {ep}"), "name": f"{name} {ep}"}
                fields = _z2m_specific(e, per, topic)
                if fields is not None:
                    chosen.append(fields)
            if chosen:
                break
    if not chosen:
        reports = [
            e
            for e in exposes
            if isinstance(e, dict)
            and e.get("type") in ("numeric", "binary", "enum")
            and e.get("category") is None
            and e.get("property") not in _Z2M_HOUSEKEEPING
            and isinstance(e.get("access"), int)
            and e["access"] & 1
        ]
        if not reports:
            if specific:
                problems.append(
                    _problem(f"{where}: {friendly}", "nothing edged can drive or read; skipped")
                )
            return []
        chosen = [{**base, "kind": "sensor", "protocol": "zigbee2mqtt", "topic": topic}]
    out = []
    for fields in chosen:
        _mark_gates(fields)
        device = _device(fields, f"{where}: {friendly}", problems)
        if device is not None:
            origin = str(ieee or friendly) + ("/" + fields["id"] if len(chosen) > 1 else "")
            out.append(Imported("zigbee2mqtt", origin, device, lookup, state_topic=topic))
    return out


def _mark_gates(fields: dict[str, Any]) -> None:
    """A garage door or gate is sensitive whatever it was imported as: a
    cover gets the device class the policy protects, a switch (a relay on the
    door's opener) asks before every switching."""
    if not _gate_like(fields["name"]) and not _gate_like(fields["id"]):
        return
    if fields["kind"] == "cover" and not fields.get("device_class"):
        words = set(slugify(fields["name"]).split("_")) | set(fields["id"].split("_"))
        fields["device_class"] = next(w for w in ("garage", "gate", "door") if w in words)
    elif fields["kind"] == "switch":
        fields["sensitive_ops"] = ["on", "off", "toggle"]


# --- Home Assistant MQTT discovery ------------------------------------------------


def expand(config: Mapping[str, Any]) -> dict[str, Any]:
    """Long keys for HA's abbreviations, and `~` (the base topic) put back
    at the start or end of every `*_topic`, as Home Assistant does."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        long = ABBREVIATIONS.get(key, key)
        if long == "device" and isinstance(value, dict):
            value = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in value.items()}
        out[long] = value
    base = out.get("~")
    if isinstance(base, str):
        for key, value in list(out.items()):
            if key.endswith("_topic") and isinstance(value, str):
                if value.startswith("~"):
                    out[key] = base + value[1:]
                elif value.endswith("~"):
                    out[key] = value[:-1] + base
    return out


def discovery_topic_parts(topic: str, prefix: str) -> tuple[str, str | None, str] | None:
    """(component, node_id, object_id) of a discovery config topic, else None."""
    if not topic.startswith(prefix + "/") or not topic.endswith("/config"):
        return None
    parts = topic[len(prefix) + 1 : -len("/config")].split("/")
    if len(parts) == 2:
        return parts[0], None, parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


def parse_discovery(
    topic: str, payload: bytes, prefix: str
) -> tuple[list[Imported] | None, list[str]]:
    """One retained discovery config -> its devices (an empty payload: none,
    the entity was removed; None: the message cannot be read at all), and
    the problems worth a log line."""
    parts = discovery_topic_parts(topic, prefix)
    if parts is None:
        return None, [_problem(topic, "not a discovery config topic; ignored")]
    component, _node_id, object_id = parts
    if not payload.strip():
        return [], []
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        return None, [_problem(topic, f"not JSON ({e}); ignored")]
    if not isinstance(raw, dict):
        return None, [_problem(topic, "not a JSON object; ignored")]
    config = expand(raw)
    problems: list[str] = []
    if component == "device":
        # Device-based discovery (HA 2024.11+): `components` maps ids to entity
        # configs, each naming its `platform`; some options are shared.
        comps = config.get("components")
        if not isinstance(comps, dict):
            return None, [_problem(topic, "device discovery without components; ignored")]
        out = []
        for comp_id, comp in comps.items():
            if not isinstance(comp, dict):
                problems.append(_problem(f"{topic} {comp_id}", "not an object; skipped"))
                continue
            merged = {k: config[k] for k in _SHARED if k in config} | dict(comp)
            entity = expand(merged)
            platform = entity.get("platform")
            if not isinstance(platform, str):
                problems.append(_problem(f"{topic} {comp_id}", "no platform; skipped"))
                continue
            imported = _ha_entity(
                platform, entity, topic, f"{object_id} {comp_id}", f"{topic}#{comp_id}", problems
            )
            if imported is not None:
                out.append(imported)
        return out, problems
    imported = _ha_entity(component, config, topic, object_id, topic, problems)
    return ([imported] if imported is not None else []), problems


def _text(config: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    v = config.get(key, default)
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _ha_name(config: Mapping[str, Any], object_id: str) -> tuple[str, str | None]:
    """(friendly name, suggested area). As Home Assistant names an entity of
    a device: the device's name, then the entity's (none: the device's main
    feature)."""
    device: Mapping[str, Any] = config.get("device") or {}
    if not isinstance(device, dict):
        device = {}
    dev_name = device.get("name") if isinstance(device.get("name"), str) else None
    ent_name = config.get("name") if isinstance(config.get("name"), str) else None
    area = device.get("suggested_area") if isinstance(device.get("suggested_area"), str) else None
    if dev_name and ent_name and not name_key(ent_name).startswith(name_key(dev_name)):
        name = f"{dev_name} {ent_name}"
    else:
        name = ent_name or dev_name or _spoken(object_id)
    return " ".join(name.split()), (area or None)


def _ha_entity(
    component: str,
    config: dict[str, Any],
    topic: str,
    object_id: str,
    origin: str,
    problems: list[str],
) -> Imported | None:
    kind = HA_KINDS.get(component)
    if config.get("entity_category") in ("config", "diagnostic"):
        # A device's settings and housekeeping (Zigbee2MQTT announces link
        # quality, power-on behaviour, ...): not a device to talk to.
        return None
    if kind is None:
        # Said once per component, not per entity: a home has hundreds of
        # buttons, numbers and selects.
        problems.append(
            _problem(
                f"homeassistant component {component!r}",
                "not a kind of device edged drives; its discovery configs are skipped",
            )
        )
        return None
    name, area = _ha_name(config, object_id)
    unique = config.get("unique_id") if isinstance(config.get("unique_id"), str) else None
    device: Mapping[str, Any] = config.get("device") or {}
    if not isinstance(device, dict):
        device = {}
    ids = device.get("identifiers")
    ident = [ids] if isinstance(ids, str) else [i for i in ids or () if isinstance(i, str)]
    lookup = tuple(x for x in (name, unique, *ident) if x)
    fields: dict[str, Any] = {"id": _ident(name), "name": name, "area": area, "kind": kind}
    dev_class = config.get("device_class")
    if isinstance(dev_class, str) and re.fullmatch(r"[a-z0-9_]+", dev_class):
        fields["device_class"] = dev_class
    state_topic = next(
        (
            t
            for key in ("state_topic", "temperature_state_topic", "mode_state_topic")
            if (t := _text(config, key)) is not None
        ),
        None,
    )
    built = _HA_BUILDERS[kind](config, fields)
    if isinstance(built, str):
        problems.append(_problem(topic, f"{name}: {built}; skipped"))
        return None
    built.update(_ha_state_fields(kind, config, built["protocol"]))
    if kind == "sensor" and not (built.get("state_topic") or built.get("state_topics")):
        problems.append(_problem(topic, f"{name}: a value_template edged cannot read; skipped"))
        return None
    _mark_gates(built)
    dc = _device(built, f"{topic} ({name})", problems)
    if dc is None:
        return None
    return Imported("homeassistant", origin, dc, lookup, state_topic=state_topic)


_VALUE_JSON_RE = re.compile(r"\{\{\s*value_json((?:\.[A-Za-z_]\w*|\[\d+\])+)\s*\}\}")


def _state_path(template: Any) -> str | bool | None:
    """A value template as a state_path: None without one, the path for the
    plain `{{ value_json.a.b }}`, False for any other Jinja (not read)."""
    if template is None:
        return None
    m = _VALUE_JSON_RE.fullmatch(template.strip()) if isinstance(template, str) else None
    if m is None:
        return False
    return re.sub(r"\[(\d+)\]", r".\1", m.group(1)).lstrip(".")


def _ha_state_fields(kind: str, config: Mapping[str, Any], protocol: str) -> dict[str, Any]:
    """Where the device reports its state (edged.home.state reads it), as
    far as the discovery config says so plainly: a value template other
    than `{{ value_json.x }}` leaves that topic out."""
    out: dict[str, Any] = {}
    main, template = "state_topic", config.get("value_template", config.get("state_value_template"))
    if kind == "climate":
        main, template = "mode_state_topic", config.get("mode_state_template")
    topic, path = _text(config, main), _state_path(template)
    if topic is not None and path is not False:
        out["state_topic"] = topic
        if path is not None:
            out["state_path"] = path
    if protocol == "homeassistant":  # only its preset reads one topic per value
        groups = {}
        for group, key, tpl in (
            ("position", "position_topic", "position_template"),
            ("temperature", "temperature_state_topic", "temperature_state_template"),
            ("current_temperature", "current_temperature_topic", "current_temperature_template"),
        ):
            t = _text(config, key)
            if t is not None and not config.get(tpl):
                groups[group] = t
        if groups:
            out["state_topics"] = groups
    return out


def _tpl(topic: str | None, payload: str) -> dict[str, str] | None:
    return None if topic is None else {"topic": topic, "payload": payload}


def _templated(
    fields: dict[str, Any], ops: Mapping[str, dict[str, str] | None]
) -> dict[str, Any] | str:
    template = {op: spec for op, spec in ops.items() if spec is not None}
    if not template:
        return "no command topic edged can use (or only Jinja command templates)"
    return {**fields, "protocol": "template", "template": template}


def _no_template(config: Mapping[str, Any], key: str) -> bool:
    # A Jinja command template edged cannot render: the op is left out.
    return not config.get(key)


def _ha_light(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    schema = config.get("schema", "default")
    cmd = _text(config, "command_topic")
    if cmd is None:
        return "no command_topic"
    modes = config.get("supported_color_modes")
    modes = set(modes) if isinstance(modes, list) else None
    if schema == "json":
        scale = config.get("brightness_scale", 255)
        if modes is not None:
            dimmable = bool(modes - {"onoff"})
            color = "rgb" in modes
            ct = "color_temp" in modes
        else:
            dimmable = bool(config.get("brightness", False))
            color = bool(config.get("rgb", False))
            ct = bool(config.get("color_temp", False))
        # edged's JSON payload carries mireds and {"r","g","b"} colours.
        ct = ct and not config.get("color_temp_kelvin", False)
        opts: dict[str, Any] = {"dimmable": dimmable, "color": color, "color_temp": ct}
        if isinstance(scale, int) and not isinstance(scale, bool) and 1 <= scale <= 65535:
            opts["brightness_scale"] = scale
        else:
            opts["dimmable"] = False
        _mireds(config, opts)
        return {
            **fields,
            "protocol": "homeassistant",
            "command_topics": {"command": cmd},
            "options": opts,
        }
    if schema not in ("default", "basic"):
        return f"light schema {schema!r} is not supported (default and json are)"
    on, off = _text(config, "payload_on", "ON"), _text(config, "payload_off", "OFF")
    ops: dict[str, dict[str, str] | None] = {
        "on": _tpl(cmd, on) if on is not None else None,
        "off": _tpl(cmd, off) if off is not None else None,
    }
    scale = config.get("brightness_scale", 255)
    placeholder = {255: "{brightness_255}", 254: "{brightness_254}", 100: "{brightness}"}.get(
        scale if isinstance(scale, int) else -1
    )
    if placeholder and _no_template(config, "brightness_command_template"):
        ops["brightness"] = _tpl(_text(config, "brightness_command_topic"), placeholder)
    if _no_template(config, "color_temp_command_template"):
        unit = "{kelvin}" if config.get("color_temp_kelvin") else "{mired}"
        ops["color_temp"] = _tpl(_text(config, "color_temp_command_topic"), unit)
    if _no_template(config, "rgb_command_template"):
        ops["color"] = _tpl(_text(config, "rgb_command_topic"), "{r},{g},{b}")
    out = _templated(fields, ops)
    if isinstance(out, dict):
        opts = {}
        _mireds(config, opts)
        out["options"] = opts
    return out


def _mireds(config: Mapping[str, Any], opts: dict[str, Any]) -> None:
    lo, hi = config.get("min_mireds"), config.get("max_mireds")
    if isinstance(lo, int) and isinstance(hi, int) and 50 <= lo <= hi <= 1000:
        opts.update(min_mired=lo, max_mired=hi)


def _ha_payloads(
    config: Mapping[str, Any], fields: dict[str, Any], payloads: Mapping[str, tuple[str, str]]
) -> dict[str, Any] | str:
    """A device driven by fixed payloads on its command topic: op -> (config key, default)."""
    cmd = _text(config, "command_topic") if _no_template(config, "command_template") else None
    return _templated(
        fields,
        {
            op: _tpl(cmd, _text(config, key, default) or default)
            for op, (key, default) in payloads.items()
        },
    )


def _ha_switch(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    return _ha_payloads(config, fields, {"on": ("payload_on", "ON"), "off": ("payload_off", "OFF")})


def _ha_cover(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    cmd = _text(config, "command_topic")
    ops: dict[str, dict[str, str] | None] = {}
    for op, key, default in (
        ("open", "payload_open", "OPEN"),
        ("close", "payload_close", "CLOSE"),
        ("stop", "payload_stop", "STOP"),
    ):
        # A payload set to null in the config means the cover has no such command.
        payload = _text(config, key, default)
        ops[op] = _tpl(cmd, payload) if payload is not None else None
    scaled = config.get("position_open", 100) != 100 or config.get("position_closed", 0) != 0
    if not scaled and _no_template(config, "set_position_template"):
        ops["position"] = _tpl(_text(config, "set_position_topic"), "{position}")
    out = _templated(fields, ops)
    if isinstance(out, dict):
        out["options"] = {"position": "position" in out["template"]}
    return out


def _ha_lock(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    return _ha_payloads(
        config, fields, {"lock": ("payload_lock", "LOCK"), "unlock": ("payload_unlock", "UNLOCK")}
    )


def _ha_climate(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    ops: dict[str, dict[str, str] | None] = {}
    if _no_template(config, "temperature_command_template"):
        ops["temperature"] = _tpl(_text(config, "temperature_command_topic"), "{temperature}")
    modes = config.get("modes", ["auto", "off", "cool", "heat", "dry", "fan_only"])
    if (
        isinstance(modes, list)
        and {"heat", "off"} <= set(modes)
        and _no_template(config, "mode_command_template")
    ):
        mode_topic = _text(config, "mode_command_topic")
        ops.update(on=_tpl(mode_topic, "heat"), off=_tpl(mode_topic, "off"))
    out = _templated(fields, ops)
    if isinstance(out, dict):
        lo, hi = config.get("min_temp"), config.get("max_temp")
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo <= hi:
            out["options"] = {"min_temp": float(lo), "max_temp": float(hi)}
    return out


def _ha_fan(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    cmd = _text(config, "command_topic") if _no_template(config, "command_template") else None
    ops = {
        "on": _tpl(cmd, _text(config, "payload_on", "ON") or "ON"),
        "off": _tpl(cmd, _text(config, "payload_off", "OFF") or "OFF"),
    }
    if (
        config.get("speed_range_min", 1) == 1
        and config.get("speed_range_max", 100) == 100
        and _no_template(config, "percentage_command_template")
    ):
        ops["speed"] = _tpl(_text(config, "percentage_command_topic"), "{percentage}")
    return _templated(fields, ops)


def _ha_alarm(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    cmd = _text(config, "command_topic") if _no_template(config, "command_template") else None
    return _templated(
        fields,
        {
            "arm": _tpl(cmd, _text(config, "payload_arm_away", "ARM_AWAY") or "ARM_AWAY"),
            "disarm": _tpl(cmd, _text(config, "payload_disarm", "DISARM") or "DISARM"),
        },
    )


def _ha_sensor(config: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
    if _text(config, "state_topic") is None:
        return "no state_topic"
    # Reports only: known by name, no command (see DeviceConfig).
    return {**fields, "protocol": "homeassistant"}


_HA_BUILDERS: Mapping[str, Any] = MappingProxyType(
    {
        "light": _ha_light,
        "switch": _ha_switch,
        "cover": _ha_cover,
        "lock": _ha_lock,
        "climate": _ha_climate,
        "fan": _ha_fan,
        "alarm": _ha_alarm,
        "sensor": _ha_sensor,
    }
)


# --- folding messages into what is known ----------------------------------------


@dataclass(frozen=True, slots=True)
class ImportState:
    """What the broker has said so far: the last `bridge/devices`, and each
    discovery topic's devices (a rename or removal replaces its entry)."""

    zigbee2mqtt: tuple[Imported, ...] = ()
    homeassistant: Mapping[str, tuple[Imported, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def devices(self) -> list[Imported]:
        ha = [d for t in sorted(self.homeassistant) for d in self.homeassistant[t]]
        return [*self.zigbee2mqtt, *ha]


def is_import_topic(cfg: ImportConfig, topic: str) -> bool:
    z2m, ha = cfg.zigbee2mqtt, cfg.homeassistant
    if z2m is not None and topic == f"{z2m.base_topic}/bridge/devices":
        return True
    return ha is not None and discovery_topic_parts(topic, ha.prefix) is not None


def apply_message(
    state: ImportState, cfg: ImportConfig, topic: str, payload: bytes
) -> tuple[ImportState, list[str]]:
    """The state after one message on an import topic, and its problems. A
    message that cannot be read, or says what was known already, returns
    `state` itself."""
    z2m, ha = cfg.zigbee2mqtt, cfg.homeassistant
    if z2m is not None and topic == f"{z2m.base_topic}/bridge/devices":
        devices, problems = parse_bridge_devices(payload, z2m.base_topic)
        if devices is None or tuple(devices) == state.zigbee2mqtt:
            # Unreadable, or the same list again: the state object itself is
            # returned, so the caller sees nothing changed.
            return state, problems
        return ImportState(tuple(devices), state.homeassistant), problems
    if ha is not None:
        found, problems = parse_discovery(topic, payload, ha.prefix)
        if found is None:
            return state, problems
        devices = found
        if tuple(devices) == state.homeassistant.get(topic, ()):
            return state, problems  # announced again, unchanged
        by_topic = dict(state.homeassistant)
        if devices:
            by_topic[topic] = tuple(devices)
        else:
            by_topic.pop(topic, None)
        return ImportState(state.zigbee2mqtt, MappingProxyType(by_topic)), problems
    return state, [_problem(topic, "not an import topic; ignored")]


# --- the YAML and the imports together --------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    """One row of `edged devices`."""

    id: str
    name: str
    kind: str
    area: str | None
    source: Source
    protocol: str
    topics: tuple[str, ...]
    state_topic: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "area": self.area,
            "source": self.source,
            "protocol": self.protocol,
            "topics": list(self.topics),
            "state_topic": self.state_topic,
        }


@dataclass(frozen=True, slots=True)
class MergedHome:
    config: Config
    listing: tuple[Listed, ...]
    # Imported devices a hand-written one replaced: (origin, yaml id).
    overridden: tuple[tuple[str, str], ...] = ()
    # Imported devices refused, and why (worth a log line each).
    refused: tuple[str, ...] = ()


def command_topics(d: DeviceConfig) -> tuple[str, ...]:
    """Where a device's commands go (what `edged devices` prints)."""
    if d.protocol == "zigbee2mqtt":
        return (f"{d.topic}/set",)
    if d.protocol == "tasmota":
        return (f"cmnd/{d.topic}/",)
    if d.protocol == "homeassistant":
        return tuple(dict.fromkeys(d.command_topics.values()))
    return tuple(dict.fromkeys(t.topic for t in d.template.values()))


def reserved_filters(cfg: Config) -> list[str]:
    """edged's own topics: an imported device that would publish to one of
    them (its utterances, results, status, Hermes, the import topics) is
    refused, so a discovery message cannot make edged talk to itself."""
    t = cfg.topics
    out = [*t.utterance, t.result, t.status, "hermes/#", cfg.discovery.state_topic]
    out.append(cfg.discovery.birth_topic)
    if cfg.import_.zigbee2mqtt is not None:
        out.append(f"{cfg.import_.zigbee2mqtt.base_topic}/bridge/#")
    if cfg.import_.homeassistant is not None:
        prefix = cfg.import_.homeassistant.prefix
        out += [f"{prefix}/+/+/config", f"{prefix}/+/+/+/config"]
    return out


def _publishes_to(d: DeviceConfig) -> tuple[str, ...]:
    if d.protocol == "zigbee2mqtt":
        return (f"{d.topic}/set", f"{d.topic}/get")
    return command_topics(d)


def _topic_keys(d: DeviceConfig) -> set[str]:
    """Topics that make two devices the same one: `zigbee2mqtt/x` and
    `zigbee2mqtt/x/set` (the preset's base topic and a discovered command topic)."""
    keys: set[str] = set()
    raw = [d.topic] if d.topic else []
    raw += list(d.command_topics.values()) + [t.topic for t in d.template.values()]
    for t in raw:
        if t is None:
            continue
        keys.add(t)
        keys.add(t.removesuffix("/set"))
    return keys


def _named_area(item: Imported, mapping: Mapping[str, str]) -> str | None:
    """The area an imported device is given: `import.areas` (by friendly
    name, IEEE address or unique_id), else its source's own suggestion."""
    for key in item.lookup:
        ref = mapping.get(key)
        if ref is None:
            ref = next((v for k, v in mapping.items() if name_key(k) == name_key(key)), None)
        if ref is not None:
            return ref
    return item.device.area or None


def _area_in_name(name: str, known: list[tuple[str, str]]) -> str | None:
    """A known area whose name starts the device's ("Kitchen Ceiling" ->
    kitchen); `known` is longest first, so "living room" wins over "living"."""
    words = name_key(name)
    for phrase, area_id in known:
        if words == phrase or words.startswith(phrase + " "):
            return area_id
    return None


def merge_home(cfg: Config, imported: Iterable[Imported]) -> MergedHome:
    """The config a Home is built from: the hand-written devices, then the
    imported ones no hand-written device replaces (same id or topic), with
    their areas resolved (created when new) and ids made unique."""
    layout = cfg.layout()
    areas = list(layout.areas)
    index: dict[str, str] = {
        name_key(w): a.id for a in areas for w in (a.id, a.display_name, *a.aliases)
    }
    yaml_ids = {d.id for d in cfg.devices}
    yaml_topics: dict[str, str] = {}
    for d in cfg.devices:
        for t in _topic_keys(d):
            yaml_topics.setdefault(t, d.id)
    listing = [
        Listed(
            d.id,
            d.name,
            d.kind,
            layout.device_area[d.id],
            "yaml",
            d.protocol,
            command_topics(d),
        )
        for d in cfg.devices
    ]
    taken = set(yaml_ids)
    z2m_topics: set[str] = set()
    devices = list(cfg.devices)
    overridden: list[tuple[str, str]] = []
    mapping = cfg.import_.areas
    reserved = reserved_filters(cfg)
    refused: list[str] = []
    kept: list[tuple[Imported, str, str | None]] = []
    for item in imported:
        d = item.device
        clash = next(
            (t for t in _publishes_to(d) if any(matches(f, t) for f in reserved)),
            None,
        )
        if clash is not None:
            refused.append(
                f"{item.origin}: {d.name}: {clash} is one of edged's own topics; skipped"
            )
            continue
        keys = _topic_keys(d)
        replaced_by = (
            d.id
            if d.id in yaml_ids
            else next((yaml_topics[t] for t in keys if t in yaml_topics), None)
        )
        if replaced_by is not None:
            overridden.append((item.origin, replaced_by))
            continue
        if item.source == "homeassistant" and keys & z2m_topics:
            # The same device from both sources (Zigbee2MQTT also announces
            # its devices to Home Assistant): Zigbee2MQTT's own entry stays.
            continue
        if item.source == "zigbee2mqtt":
            z2m_topics |= keys
        ident = d.id
        n = 2
        while ident in taken:
            ident, n = f"{d.id}_{n}", n + 1
        taken.add(ident)
        area_id = None
        ref = _named_area(item, mapping)
        if ref is not None:
            area_id = index.get(name_key(ref))
            if area_id is None and slugify(ref):
                area_id = slugify(ref)
                areas.append(AreaConfig(id=area_id, name=" ".join(ref.split())))
                index[name_key(ref)] = index[name_key(area_id)] = area_id
        kept.append((item, ident, area_id))
    # Then the rest by name, against every area now known (configured, or
    # named by another device: "Hallway Plug" joins the hallway a Home
    # Assistant device suggested).
    known = sorted(index.items(), key=lambda kv: -len(kv[0]))
    for item, ident, area_id in kept:
        d = item.device
        if area_id is None:
            area_id = _area_in_name(d.name, known)
        devices.append(d.model_copy(update={"id": ident, "area": area_id}))
        listing.append(
            Listed(
                ident,
                d.name,
                d.kind,
                area_id,
                item.source,
                d.protocol,
                command_topics(d),
                item.state_topic,
            )
        )
    merged = cfg.model_copy(
        update={"devices": devices, "areas": areas, "floors": list(layout.floors)}
    )
    return MergedHome(merged, tuple(listing), tuple(overridden), tuple(refused))


def build_home(cfg: Config, imported: Iterable[Imported]) -> tuple[MergedHome, Home]:
    """`merge_home`, and the Home the engine serves from it."""
    merged = merge_home(cfg, imported)
    return merged, Home.from_config(merged.config)


__all__ = [
    "ImportState",
    "Imported",
    "Listed",
    "MergedHome",
    "apply_message",
    "build_home",
    "command_topics",
    "expand",
    "is_import_topic",
    "merge_home",
    "parse_bridge_devices",
    "parse_discovery",
]
