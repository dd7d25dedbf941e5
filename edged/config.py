"""The configuration file: broker, topics, model, policy and the home.

pydantic models live at this boundary only; the rest of edged works on the
validated `Config` and on the plain dataclasses `edged.home.registry` builds
from it. Every model forbids unknown keys, so a typo in the YAML is an error
that names the field, never a silently ignored setting.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edged.lang import DEFAULT_LANGUAGE, SUPPORTED

# --- the vocabulary shared by config, resolve, policy and render ------------------

Kind = Literal[
    "light",
    "switch",
    "fan",
    "cover",
    "lock",
    "climate",
    "media_player",
    "vacuum",
    "sensor",
    "alarm",
]
ProtocolName = Literal["zigbee2mqtt", "tasmota", "homeassistant", "template"]
# DESIGN.md's operations, plus `speed` (fans) and `arm`/`disarm` (alarm panels),
# which the design has no word for but the intents and kinds need, and
# `mute`/`unmute` and `temperature_step` (a setpoint moved by a step, made
# absolute from the thermostat's reported setpoint: see edged.home.state).
Op = Literal[
    "on",
    "off",
    "toggle",
    "brightness",
    "brightness_step",
    "color",
    "color_temp",
    "temperature",
    "position",
    "open",
    "close",
    "stop",
    "pause",
    "resume",
    "next",
    "previous",
    "volume",
    "lock",
    "unlock",
    "vacuum_start",
    "vacuum_dock",
    "query",
    "speed",
    "arm",
    "disarm",
    "mute",
    "unmute",
    "temperature_step",
]
KINDS: tuple[str, ...] = get_args(Kind)
PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)
OPS: tuple[str, ...] = get_args(Op)

# What a kind of device can do at all; options and the protocol narrow it further
# (see edged.home.protocols.protocol_ops).
KIND_OPS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "light": frozenset(
            {"on", "off", "toggle", "brightness", "brightness_step", "color", "color_temp", "query"}
        ),
        "switch": frozenset({"on", "off", "toggle", "query"}),
        "fan": frozenset({"on", "off", "toggle", "speed", "query"}),
        "cover": frozenset({"open", "close", "stop", "position", "query"}),
        "lock": frozenset({"lock", "unlock", "query"}),
        "climate": frozenset({"on", "off", "temperature", "temperature_step", "query"}),
        "media_player": frozenset(
            {
                "on",
                "off",
                "toggle",
                "pause",
                "resume",
                "next",
                "previous",
                "volume",
                "mute",
                "unmute",
                "query",
            }
        ),
        "vacuum": frozenset({"vacuum_start", "vacuum_dock", "stop", "query"}),
        "sensor": frozenset({"query"}),
        "alarm": frozenset({"arm", "disarm", "query"}),
    }
)

# Home Assistant MQTT devices have one topic per concern, as HA's own discovery
# schema does: command_topic, set_position_topic, temperature_command_topic, ...
HA_TOPIC_GROUPS: tuple[str, ...] = (
    "command",
    "position",
    "temperature",
    "mode",
    "volume",
    "percentage",
)

# What a Home Assistant MQTT device reports on, besides its main state_topic
# (HA's discovery names: position_topic, temperature_state_topic,
# current_temperature_topic, ...). Each topic's payload is that one value.
HA_STATE_GROUPS: tuple[str, ...] = (
    "state",
    "position",
    "brightness",
    "temperature",
    "current_temperature",
    "volume",
    "mute",
)

# Placeholders a template may use. Topics get only config-derived words so a
# rendered topic is fixed per device and op; payloads also get the numbers.
TOPIC_PLACEHOLDERS: frozenset[str] = frozenset({"device_id", "name", "op"})
PAYLOAD_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "device_id",
        "name",
        "op",
        "value",
        "state",
        "brightness",
        "brightness_254",
        "brightness_255",
        "step",
        "position",
        "temperature",
        "r",
        "g",
        "b",
        "kelvin",
        "mired",
        "volume",
        "percentage",
    }
)
# `{word}` is a placeholder; any other brace (JSON's) is literal text, so users
# write '{"state": "{state}"}' without doubling braces as str.format would need.
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

DEFAULT_SENSITIVE_OPS: Mapping[str, tuple[Op, ...]] = MappingProxyType(
    {
        "lock": ("unlock",),
        # A position is as good as "open" for a garage door, so it asks too.
        "cover:garage": ("open", "position"),
        "cover:gate": ("open", "position"),
        "cover:door": ("open", "position"),
        "alarm": ("disarm",),
    }
)

ID_PATTERN = r"^[a-z0-9_]+$"
# A device id may also be a Home Assistant entity id, as users have them:
# `light.kitchen_ceiling` (domain, a dot, object id).
DEVICE_ID_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)?$"
_ID_RE = re.compile(ID_PATTERN)
_SHARE_GROUP_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def default_model_dir(language: str = DEFAULT_LANGUAGE) -> Path:
    """`EDGED_MODEL_DIR` if set, else the model shipped in the repository,
    next to the package (one rule, `edged.nlu.model.default_model_dir`); for
    another language than English, edged-nlu-<code> beside it."""
    from edged.nlu.model import default_model_dir as nlu_default

    return nlu_default(language)


class ConfigError(ValueError):
    """The configuration is unusable; the message names each field and problem."""


# --- helpers -----------------------------------------------------------------------


def name_key(text: str) -> str:
    """How area/floor references compare: case, `_`, `-` and spacing ignored."""
    return " ".join(re.sub(r"[_\-]+", " ", text).lower().split())


def id_to_name(ident: str) -> str:
    return ident.replace("_", " ")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _check_publish_topic(topic: str) -> str:
    if not topic or topic != topic.strip():
        raise ValueError("must be a non-empty topic without surrounding spaces")
    if "+" in topic or "#" in topic:
        raise ValueError(
            f"wildcards + and # are not allowed in a topic to publish to (got {topic!r})"
        )
    if "\x00" in topic:
        raise ValueError("must not contain NUL")
    return topic


def _check_filter(topic: str) -> str:
    if not topic:
        raise ValueError("must be a non-empty topic filter")
    parts = topic.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            raise ValueError(f"'#' must be a whole last level (got {topic!r})")
        if "+" in part and part != "+":
            raise ValueError(f"'+' must be a whole level (got {topic!r})")
    if parts.count("+") > 1:
        raise ValueError(f"at most one '+' level, the site (got {topic!r})")
    return topic


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER_RE.findall(text)


def _resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    # Relative paths in the file are relative to the file, not to wherever the
    # daemon happened to be started from.
    if value is None:
        return None
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value


# --- models ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _existing_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve_path(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"file not found: {v}")
        return v

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file: needs cert_file as well")
        return self


class MqttConfig(_Model):
    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(default="edged", min_length=1)
    username: str | None = None
    # Whichever of password / password_env / password_file is given ends up here.
    password: SecretStr | None = None
    password_env: str | None = None
    password_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=65535)
    session_expiry_s: int = Field(default=3600, ge=0)
    qos: Literal[0, 1, 2] = 1
    tls: TlsConfig | None = None
    tcp_nodelay: bool = True
    reconnect_min_s: float = Field(default=0.5, gt=0)
    # Capped low: after a broker restart edged is deaf for up to this long.
    reconnect_max_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _load_password(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        given = [k for k in ("password", "password_env", "password_file") if data.get(k)]
        if len(given) > 1:
            raise ValueError(f"set only one of password, password_env, password_file (got {given})")
        data = dict(data)
        env = data.get("password_env")
        if env:
            if not isinstance(env, str):
                raise ValueError("password_env: must be the name of an environment variable")
            secret = os.environ.get(env)
            if secret is None:
                raise ValueError(f"password_env: environment variable {env} is not set")
            data["password"] = secret
        path = data.get("password_file")
        if path:
            resolved = _resolve_path(Path(str(path)), info)
            assert resolved is not None
            try:
                # Files written by editors and `echo` end in a newline that is
                # not part of the password.
                data["password"] = resolved.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise ValueError(
                    f"password_file: cannot read {resolved}: {e.strerror or e}"
                ) from None
            data["password_file"] = resolved
        return data

    @model_validator(mode="after")
    def _check(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s: must not exceed reconnect_max_s")
        if self.password is not None and self.username is None:
            raise ValueError("username: required when a password is given")
        return self


class HermesConfig(_Model):
    enabled: bool = False
    # Also act on hermes/nlu/query (not just answer with an intent).
    act: bool = False


# --- Home Assistant discovery and metrics (edged.discovery, edged.metrics) ---------


class DiscoveryConfig(_Model):
    """Announce edged to Home Assistant as a device with sensors (docs/integrations.md)."""

    enabled: bool = False
    prefix: str = "homeassistant"
    # <prefix>/sensor/<node_id>/<object_id>/config; also the device identifier.
    node_id: str = "edged"
    name: str | None = None  # the device's name in Home Assistant (default: node_id)
    state_topic: str = "edged/state"
    # Home Assistant publishes "online" here when it starts: announce again.
    birth_topic: str = "homeassistant/status"
    support_url: str | None = None

    @field_validator("prefix", "state_topic", "birth_topic")
    @classmethod
    def _topics(cls, v: str) -> str:
        return _check_publish_topic(v)

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, v: str) -> str:
        # Home Assistant's rule for the node_id and object_id topic levels.
        if not re.fullmatch(r"[A-Za-z0-9_-]+", v):
            raise ValueError(f"must be letters, digits, _ or - (got {v!r})")
        return v

    @field_validator("support_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://\S+", v):
            raise ValueError(f"must be an http(s) URL (got {v!r})")
        return v


class MetricsConfig(_Model):
    """A Prometheus endpoint (needs the `metrics` extra: prometheus-client)."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9108, ge=1, le=65535)


# --- end of discovery and metrics ----------------------------------------------------


class WyomingConfig(_Model):
    """A Wyoming TCP service for Home Assistant's Assist (edged.transports.wyoming)."""

    enabled: bool = False
    host: str = Field(default="0.0.0.0", min_length=1)
    # 10700 is also wyoming-satellite's default: change one when both run on one host.
    port: int = Field(default=10700, ge=1, le=65535)
    # What a bare Transcript gets (Home Assistant sends no SelectProgram):
    # `handle` (edged acts on its own devices and says what it did) or
    # `intent` (edged only recognises; Home Assistant acts on its entities).
    program: Literal["handle", "intent"] = "handle"
    # Languages announced in `info`; unset: the config's `language`.
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    # Advertise the service over zeroconf (`_wyoming._tcp.local.`), where
    # Home Assistant discovers it; needs the `zeroconf` package.
    zeroconf: bool = True


# --- importing devices from Zigbee2MQTT and Home Assistant discovery (edged.home.importer)


class Zigbee2mqttImport(_Model):
    """Read `<base_topic>/bridge/devices` (retained, published by Zigbee2MQTT)."""

    base_topic: str = "zigbee2mqtt"

    @field_validator("base_topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        return _check_publish_topic(v)


class HomeAssistantImport(_Model):
    """Read `<prefix>/<component>/[<node_id>/]<object_id>/config` (retained
    Home Assistant MQTT discovery configs)."""

    prefix: str = "homeassistant"

    @field_validator("prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        return _check_publish_topic(v)


class ImportConfig(_Model):
    """Devices learnt from the broker instead of typed in (docs/integrations.md).
    Off unless a source is given; `devices:` written by hand win over imported ones."""

    zigbee2mqtt: Zigbee2mqttImport | None = None
    homeassistant: HomeAssistantImport | None = None
    # An imported device's friendly name, IEEE address or unique_id -> an area
    # (id, name or alias; undeclared ones are created). Wins over the rest.
    areas: dict[str, str] = Field(default_factory=dict)
    # The retained messages are taken as complete once this long passes
    # without another one (at start-up, and in `edged devices`).
    settle_s: float = Field(default=0.5, gt=0, le=30)
    # ... but never waited for longer than this.
    settle_max_s: float = Field(default=5.0, gt=0, le=120)

    @field_validator("zigbee2mqtt", "homeassistant", mode="before")
    @classmethod
    def _empty_is_default(cls, v: Any) -> Any:
        # `zigbee2mqtt:` with nothing after it (YAML null) or `true` means "on, defaults".
        return {} if v is None or v is True else v

    @property
    def enabled(self) -> bool:
        return self.zigbee2mqtt is not None or self.homeassistant is not None

    def subscriptions(self) -> list[str]:
        topics = []
        if self.zigbee2mqtt is not None:
            topics.append(f"{self.zigbee2mqtt.base_topic}/bridge/devices")
        if self.homeassistant is not None:
            prefix = self.homeassistant.prefix
            # With and without the optional <node_id> level.
            topics += [f"{prefix}/+/+/config", f"{prefix}/+/+/+/config"]
        return topics


# --- end of importing ----------------------------------------------------------------


class TopicsConfig(_Model):
    utterance: list[Annotated[str, AfterValidator(_check_filter)]] = Field(
        default_factory=lambda: ["edged/utterance", "edged/+/utterance"], min_length=1
    )
    result: str = "edged/result"
    status: str = "edged/status"
    shared_group: str | None = None
    hermes: HermesConfig = Field(default_factory=HermesConfig)
    # A request's reply_to must start with one of these (edged.reply_to also
    # keeps it off device, utterance, status and discovery topics).
    reply_prefixes: list[str] = Field(default_factory=lambda: ["edged/reply/"])

    @field_validator("result", "status")
    @classmethod
    def _publish(cls, v: str) -> str:
        return _check_publish_topic(v)

    @field_validator("reply_prefixes")
    @classmethod
    def _reply_prefixes(cls, v: list[str]) -> list[str]:
        for prefix in v:
            _check_publish_topic(prefix)
            if prefix.startswith("$"):
                raise ValueError(f"must not be a $ topic (got {prefix!r})")
        return v

    @field_validator("shared_group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _SHARE_GROUP_RE.match(v):
            raise ValueError(f"must be letters, digits, _ or - (got {v!r})")
        return v


class NluConfig(_Model):
    model_dir: Path = Field(default_factory=default_model_dir)
    threads: int = Field(default=1, ge=1, le=64)
    backend: Literal["onnxruntime", "tflite", "edgetpu"] = "onnxruntime"
    # onnxruntime only, tried in order; a name this build lacks is a warning
    # and the CPU provider is used (see edged.nlu.backends.choose_providers).
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    confidence_floor: float = Field(default=0.6, ge=0.0, le=1.0)

    @field_validator("model_dir")
    @classmethod
    def _relative_to_file(cls, v: Path, info: ValidationInfo) -> Path:
        resolved = _resolve_path(v, info)
        assert resolved is not None
        return resolved


class PolicyConfig(_Model):
    confidence_floor: float = Field(default=0.6, ge=0.0, le=1.0)
    max_age_s: float = Field(default=30.0, gt=0)
    confirm_timeout_s: float = Field(default=20.0, gt=0)
    context_ttl_s: float = Field(default=120.0, ge=0)
    # Keys are a kind ("lock") or kind:device_class ("cover:garage"). Entries
    # given here replace the default for that key only, so protecting a new
    # kind never silently drops the lock/garage/alarm defaults; `lock: []`
    # switches one off explicitly.
    sensitive_ops: dict[str, list[Op]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_SENSITIVE_OPS.items()}
    )
    sensitive_action: Literal["confirm", "refuse"] = "confirm"
    # Sensitive devices (locks, garage doors, gates, alarms: anything with a
    # sensitive op) are only acted on when the parse is at least this sure,
    # for every op on them, locking included; and a device named only in
    # part or misheard ("coffee" for the Coffee Maker) needs it too.
    sensitive_floor: float = Field(default=0.9, ge=0.0, le=1.0)

    @field_validator("sensitive_ops")
    @classmethod
    def _merge(cls, v: dict[str, list[Op]]) -> dict[str, list[Op]]:
        for key, ops in v.items():
            kind, _, device_class = key.partition(":")
            if kind not in KINDS:
                raise ValueError(
                    f"{key!r}: key must be a kind or kind:device_class, kind one of "
                    f"{', '.join(KINDS)}"
                )
            if ":" in key and not device_class:
                raise ValueError(f"{key!r}: empty device_class after ':'")
            bad = [op for op in ops if op not in KIND_OPS[kind]]
            if bad:
                raise ValueError(f"{key!r}: a {kind} has no operation {', '.join(bad)}")
        merged = {k: list(ops) for k, ops in DEFAULT_SENSITIVE_OPS.items()}
        merged.update(v)
        return merged

    def sensitive_ops_for(self, kind: str, device_class: str | None) -> frozenset[str]:
        if device_class is not None:
            specific = self.sensitive_ops.get(f"{kind}:{device_class}")
            if specific is not None:
                return frozenset(specific)
        return frozenset(self.sensitive_ops.get(kind, ()))


class LimitsConfig(_Model):
    max_payload_bytes: int = Field(default=16384, ge=64)
    max_json_depth: int = Field(default=8, ge=1)
    max_text_chars: int = Field(default=500, ge=1)
    inbox_size: int = Field(default=256, ge=1)
    # How long the journal recognises a broker's redelivery (MQTT DUP flag)
    # of a message without an id, by its site and text. Only redeliveries are
    # matched: the same words said again are always a new request.
    dedupe_window_s: float = Field(default=300.0, ge=0)
    # An utterance's `ts` may be this far in the future (clocks differ a
    # little between the hub and edged); further is an error, not "fresh".
    max_clock_skew_s: float = Field(default=5.0, ge=0)


def _names(v: list[str]) -> list[str]:
    out = []
    for alias in v:
        alias = " ".join(alias.split())
        if not alias:
            raise ValueError("aliases must not be empty")
        out.append(alias)
    return out


class FloorConfig(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)

    check_aliases = field_validator("aliases")(_names)

    @property
    def display_name(self) -> str:
        return self.name or id_to_name(self.id)


class AreaConfig(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    floor: str | None = None  # a floor id, name or alias; undeclared floors are created

    check_aliases = field_validator("aliases")(_names)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return " ".join(v.split()) if v is not None else None

    @property
    def display_name(self) -> str:
        return self.name or id_to_name(self.id)


class DeviceOptions(_Model):
    """Per-device capabilities and protocol details; what a kind implies is the
    default, these narrow or adjust it."""

    # lights
    dimmable: bool = True
    color: bool = True
    color_temp: bool = True
    color_mode: Literal["xy", "rgb"] = "xy"  # zigbee2mqtt colour payload
    min_mired: int = Field(default=153, ge=50, le=1000)
    max_mired: int = Field(default=500, ge=50, le=1000)
    brightness_scale: int = Field(default=255, ge=1, le=65535)  # homeassistant JSON lights
    # covers
    position: bool = True
    # climate
    min_temp: float = 5.0
    max_temp: float = 35.0
    setpoint_key: str = Field(default="current_heating_setpoint", min_length=1)
    # The unit the device reports temperatures in (query answers carry it).
    temperature_unit: Literal["°C", "°F"] = "°C"
    # tasmota: POWER<relay> / Shutter*<shutter> on multi-relay devices
    relay: int | None = Field(default=None, ge=1, le=32)
    shutter: int = Field(default=1, ge=1, le=16)

    @model_validator(mode="after")
    def _ranges(self) -> DeviceOptions:
        if self.min_mired > self.max_mired:
            raise ValueError("min_mired: must not exceed max_mired")
        if self.min_temp > self.max_temp:
            raise ValueError("min_temp: must not exceed max_temp")
        return self


class TemplateSpec(_Model):
    topic: str
    payload: str = ""

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        bad = sorted(set(placeholders(v)) - TOPIC_PLACEHOLDERS)
        if bad:
            raise ValueError(
                f"unknown placeholder {{{bad[0]}}} in topic; topics may use "
                + ", ".join(f"{{{p}}}" for p in sorted(TOPIC_PLACEHOLDERS))
            )
        return _check_publish_topic(v)

    @field_validator("payload")
    @classmethod
    def _payload(cls, v: str) -> str:
        bad = sorted(set(placeholders(v)) - PAYLOAD_PLACEHOLDERS)
        if bad:
            raise ValueError(
                f"unknown placeholder {{{bad[0]}}}; payloads may use "
                + ", ".join(f"{{{p}}}" for p in sorted(PAYLOAD_PLACEHOLDERS))
            )
        return v


class DeviceConfig(_Model):
    id: str = Field(pattern=DEVICE_ID_PATTERN)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    area: str | None = None  # an area id, name or alias
    kind: Kind
    device_class: str | None = None  # garage, gate, door, blind, curtain, temperature, ...
    protocol: ProtocolName
    topic: str | None = None  # zigbee2mqtt base topic, or the tasmota device topic
    command_topics: dict[str, str] = Field(default_factory=dict)  # homeassistant
    template: dict[str, TemplateSpec] = Field(default_factory=dict)  # op or "default"
    sensitive_ops: list[Op] | None = None  # replaces policy.sensitive_ops for this device
    # Sensitive ops: true asks for confirmation, false refuses them outright.
    # None follows policy.sensitive_action. (To let an op run unasked, remove it
    # from sensitive_ops instead.)
    confirm: bool | None = None
    options: DeviceOptions = Field(default_factory=DeviceOptions)
    # climate: how far "warmer"/"turn the heating down" moves the setpoint
    # when no number was said (degrees; default 1).
    temperature_step: float | None = Field(default=None, gt=0, le=10)
    # homeassistant and template: where the device reports its state (JSON
    # or a plain value), and for JSON optionally the path to the value
    # ("state", "main.temp", "sensors.0.value"). zigbee2mqtt and tasmota
    # devices report on topics derived from `topic` (edged.home.state).
    state_topic: str | None = None
    state_path: str | None = None
    # homeassistant: one topic per further reported value (position_topic,
    # temperature_state_topic, current_temperature_topic, ...).
    state_topics: dict[str, str] = Field(default_factory=dict)

    check_aliases = field_validator("aliases")(_names)

    @field_validator("state_path")
    @classmethod
    def _state_path(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(\$\.)?[^.\s][^.]*(\.[^.\s][^.]*)*", v):
            raise ValueError(f"must be dotted keys such as main.temp (got {v!r})")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("must not be empty")
        if "+" in v or "#" in v:
            # {name} may be used in a template topic.
            raise ValueError(f"must not contain + or # (got {v!r})")
        return v

    @field_validator("device_class")
    @classmethod
    def _device_class(cls, v: str | None) -> str | None:
        if v is not None and not _ID_RE.match(v):
            raise ValueError(f"must be lower-case letters, digits and _ (got {v!r})")
        return v

    @field_validator("template", mode="before")
    @classmethod
    def _single_template(cls, v: Any) -> Any:
        # `template: {topic: ..., payload: ...}` is shorthand for a default.
        if isinstance(v, dict) and isinstance(v.get("topic"), str):
            return {"default": v}
        return v

    @model_validator(mode="after")
    def _protocol_fields(self) -> DeviceConfig:
        ops = KIND_OPS[self.kind]
        if self.protocol in ("zigbee2mqtt", "tasmota"):
            if not self.topic:
                raise ValueError(f"topic: required for protocol {self.protocol}")
            try:
                _check_publish_topic(self.topic)
            except ValueError as e:
                raise ValueError(f"topic: {e}") from None
            if self.protocol == "tasmota" and self.topic.startswith(("cmnd/", "stat/", "tele/")):
                raise ValueError(
                    f"topic: give the tasmota device topic without the prefix (got {self.topic!r})"
                )
            if self.protocol == "zigbee2mqtt" and self.topic.endswith(("/set", "/get")):
                raise ValueError(
                    f"topic: give the device's base topic, without /set (got {self.topic!r})"
                )
        elif self.topic is not None:
            raise ValueError(f"topic: not used by protocol {self.protocol}")
        reports_only = self.kind == "sensor" and bool(self.state_topic or self.state_topics)
        if self.protocol == "homeassistant":
            if not self.command_topics and not reports_only:
                raise ValueError(
                    "command_topics: required for protocol homeassistant, e.g. "
                    "{command: homeassistant/light/x/set}"
                )
            for group, topic in self.command_topics.items():
                if group not in HA_TOPIC_GROUPS:
                    raise ValueError(
                        f"command_topics.{group}: must be one of {', '.join(HA_TOPIC_GROUPS)}"
                    )
                try:
                    _check_publish_topic(topic)
                except ValueError as e:
                    raise ValueError(f"command_topics.{group}: {e}") from None
        elif self.command_topics:
            raise ValueError("command_topics: only used by protocol homeassistant")
        if self.protocol == "template":
            if not self.template and not reports_only:
                raise ValueError("template: required for protocol template")
            for key in self.template:
                if key != "default" and key not in OPS:
                    raise ValueError(
                        f"template.{key}: must be 'default' or an operation ({', '.join(OPS)})"
                    )
                if key != "default" and key not in ops:
                    raise ValueError(f"template.{key}: a {self.kind} has no operation {key}")
        elif self.template:
            raise ValueError("template: only used by protocol template")
        self._check_state_fields()
        if self.temperature_step is not None and self.kind != "climate":
            raise ValueError("temperature_step: only for kind climate")
        if self.sensitive_ops is not None:
            bad = [op for op in self.sensitive_ops if op not in ops]
            if bad:
                raise ValueError(f"sensitive_ops: a {self.kind} has no operation {', '.join(bad)}")
        return self

    def _check_state_fields(self) -> None:
        if self.state_topic is not None:
            if self.protocol not in ("homeassistant", "template"):
                raise ValueError(
                    f"state_topic: not used by protocol {self.protocol} (its state topics "
                    "come from `topic`)"
                )
            try:
                _check_publish_topic(self.state_topic)
            except ValueError as e:
                raise ValueError(f"state_topic: {e}") from None
        if self.state_path is not None and self.state_topic is None:
            raise ValueError("state_path: needs state_topic")
        if self.state_topics:
            if self.protocol != "homeassistant":
                raise ValueError("state_topics: only used by protocol homeassistant")
            for group, topic in self.state_topics.items():
                if group not in HA_STATE_GROUPS:
                    raise ValueError(
                        f"state_topics.{group}: must be one of {', '.join(HA_STATE_GROUPS)}"
                    )
                try:
                    _check_publish_topic(topic)
                except ValueError as e:
                    raise ValueError(f"state_topics.{group}: {e}") from None


# --- the root ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaLayout:
    """Areas and floors with undeclared references filled in, and each
    device's area reference turned into an area id."""

    areas: tuple[AreaConfig, ...]
    floors: tuple[FloorConfig, ...]
    device_area: Mapping[str, str | None]


class CustomPublish(_Model):
    """One MQTT message a custom intent sends. The topic is fixed here: slot
    text never becomes part of a topic. The payload may use `{slot}`
    placeholders (the slot's normalised value, escaped for a JSON string) and
    `{intent}`, `{site}`, `{text}`."""

    topic: str
    payload: str = ""
    retain: bool = False

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if PLACEHOLDER_RE.search(v):
            raise ValueError(
                "placeholders are not allowed in a topic: slot text never picks a topic"
            )
        return _check_publish_topic(v)


class CustomIntentConfig(_Model):
    """What a custom intent (trained with `edged train --sentences`) does."""

    actions: list[CustomPublish] = Field(min_length=1)
    # Ask for a spoken "yes" first (same site, policy.confirm_timeout_s).
    confirm: bool = False
    # A floor of its own, stricter or looser than policy.confidence_floor.
    confidence_floor: float | None = Field(default=None, ge=0.0, le=1.0)
    # Slots that must be present; without them the result is an error naming them.
    required_slots: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class InstanceNames:
    """What one daemon of a shared group names after itself."""

    node_id: str
    status: str
    state_topic: str


def _given(section: Any) -> dict[str, Any] | None:
    """The keys a config section sets: from YAML (a dict) or a model built in code."""
    if isinstance(section, dict):
        return section
    if isinstance(section, BaseModel):
        return section.model_dump(exclude_unset=True)
    return None


def instance_names(client_id: str) -> InstanceNames:
    """Names derived from an MQTT client id: one topic level and a Home Assistant
    node id, so only letters, digits, `_` and `-` (anything else becomes `_`)."""
    level = re.sub(r"[^A-Za-z0-9_-]+", "_", client_id).strip("_") or "edged"
    return InstanceNames(
        node_id=level, status=f"edged/{level}/status", state_topic=f"edged/{level}/state"
    )


class Config(_Model):
    # `import_=` in Python, `import:` in the file.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # The language of the utterances (edged.lang): it picks the model
    # (nlu.model_dir's default, models/edged-nlu-<code> for one other than
    # English) and every word table: numbers, colours, names, yes/no, replies.
    language: str = DEFAULT_LANGUAGE
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    nlu: NluConfig = Field(default_factory=NluConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    wyoming: WyomingConfig = Field(default_factory=WyomingConfig)
    # `import:` in the file (a Python keyword, hence the alias).
    import_: ImportConfig = Field(default_factory=ImportConfig, alias="import")
    floors: list[FloorConfig] = Field(default_factory=list)
    areas: list[AreaConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)
    # Where the de-duplication journal lives (systemd's StateDirectory wins
    # when set). None keeps it in memory only.
    state_dir: Path | None = None
    # Intent name -> the MQTT messages it sends (intents from custom sentences).
    custom_intents: dict[str, CustomIntentConfig] = Field(default_factory=dict)

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        if v not in SUPPORTED:
            raise ValueError(f"{v!r} is not a supported language ({', '.join(SUPPORTED)})")
        return v

    @model_validator(mode="before")
    @classmethod
    def _language_defaults(cls, data: Any) -> Any:
        """Defaults that follow `language`: the model directory (unless
        nlu.model_dir is given) and the languages Wyoming announces."""
        if not isinstance(data, dict):
            return data
        language = data.get("language", DEFAULT_LANGUAGE)
        if not isinstance(language, str) or language == DEFAULT_LANGUAGE:
            return data
        data = dict(data)
        nlu = _given(data.get("nlu") or {})
        if nlu is not None and "model_dir" not in nlu:
            data["nlu"] = {**nlu, "model_dir": default_model_dir(language)}
        wyoming = _given(data.get("wyoming") or {})
        if wyoming is not None and "languages" not in wyoming:
            data["wyoming"] = {**wyoming, "languages": [language]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _per_instance_names(cls, data: Any) -> Any:
        """Daemons in one shared group get their own status topic and discovery names.

        They share the utterances (and the result topic the hub reads), but each
        has its own availability and its own device in Home Assistant: with the
        defaults they would overwrite each other's retained `online`/`offline`
        and announce one device twice. So when `topics.shared_group` is set, the
        status topic, the discovery node id and the discovery state topic that
        the file leaves unset are derived from `mqtt.client_id`, which the broker
        requires to be different per daemon anyway.
        """
        if not isinstance(data, dict):
            return data
        topics = _given(data.get("topics"))
        if topics is None or not topics.get("shared_group"):
            return data
        mqtt = _given(data.get("mqtt")) or {}
        client_id = mqtt.get("client_id", "edged")
        if not isinstance(client_id, str) or not client_id:
            return data  # validation reports it
        names = instance_names(client_id)
        data = {**data, "topics": {"status": names.status, **topics}}
        discovery = _given(data.get("discovery", {}))
        if discovery is not None:
            derived = {"node_id": names.node_id, "state_topic": names.state_topic}
            data["discovery"] = {**derived, **discovery}
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        problems = list(self._duplicates())
        if problems:
            raise ValueError("; ".join(problems))
        self.layout()  # raises on a bad area or floor reference
        return self

    def _duplicates(self) -> Iterator[str]:
        ids: list[tuple[str, list[str]]] = [
            ("floors", [f.id for f in self.floors]),
            ("areas", [a.id for a in self.areas]),
            ("devices", [d.id for d in self.devices]),
        ]
        for label, idents in ids:
            seen: dict[str, int] = {}
            for i, ident in enumerate(idents):
                if ident in seen:
                    yield f"{label}[{i}].id: duplicate id {ident!r} (also {label}[{seen[ident]}])"
                seen.setdefault(ident, i)
        words: list[tuple[str, list[tuple[str, ...]]]] = [
            ("floors", [(f.id, f.display_name, *f.aliases) for f in self.floors]),
            ("areas", [(a.id, a.display_name, *a.aliases) for a in self.areas]),
        ]
        for label, phrases in words:
            owner: dict[str, int] = {}
            for i, item_phrases in enumerate(phrases):
                for word in {name_key(w) for w in item_phrases}:
                    if word in owner and owner[word] != i:
                        yield (
                            f"{label}[{i}]: name or alias {word!r} is also used by "
                            f"{label}[{owner[word]}]"
                        )
                    owner.setdefault(word, i)

    def layout(self) -> AreaLayout:
        """Resolve area and floor references (declared by id, name or alias, or
        created from an undeclared id); raises ValueError naming the field."""
        floors = list(self.floors)
        floor_index = {
            name_key(w): f.id for f in floors for w in (f.id, f.display_name, *f.aliases)
        }
        areas: list[AreaConfig] = []
        for i, area in enumerate(self.areas):
            floor = area.floor
            if floor is not None:
                fid = floor_index.get(name_key(floor))
                if fid is None:
                    fid = _new_id(floor, f"areas[{i}].floor", floor_index, "floor")
                    floors.append(FloorConfig(id=fid, name=floor if floor != fid else None))
                    floor_index[name_key(floor)] = floor_index[name_key(fid)] = fid
                floor = fid
            areas.append(area.model_copy(update={"floor": floor}))
        area_index = {name_key(w): a.id for a in areas for w in (a.id, a.display_name, *a.aliases)}
        declared = dict(area_index)
        device_area: dict[str, str | None] = {}
        for i, device in enumerate(self.devices):
            if device.area is None:
                device_area[device.id] = None
                continue
            aid = area_index.get(name_key(device.area))
            if aid is None:
                aid = _new_id(device.area, f"devices[{i}].area", declared, "area")
                areas.append(AreaConfig(id=aid, name=device.area if device.area != aid else None))
                area_index[name_key(device.area)] = area_index[name_key(aid)] = aid
            device_area[device.id] = aid
        return AreaLayout(tuple(areas), tuple(floors), MappingProxyType(device_area))


def _new_id(ref: str, where: str, declared: Mapping[str, str], what: str) -> str:
    """An id for an undeclared area/floor, unless it looks like a typo of a
    declared one (an auto-created "kitchn" would quietly split the kitchen)."""
    ident = slugify(ref)
    if not ident:
        raise ValueError(f"{where}: {ref!r} is not a usable {what} name")
    key = name_key(ref)
    close = difflib.get_close_matches(key, list(declared), n=1, cutoff=0.8)
    if close and re.sub(r"\d", "", close[0]) != re.sub(r"\d", "", key):
        raise ValueError(
            f"{where}: unknown {what} {ref!r}; did you mean {close[0]!r}? "
            f"(declare it under {what}s to create a new one)"
        )
    return ident


# --- loading -----------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; in a config that hides a mistake."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file. Raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_config(text, source=str(path), base_dir=path.resolve().parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate YAML text. Relative paths in it are taken relative to base_dir."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(f"{where}: {problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: invalid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    data = _broker_from_environment(data, os.environ, source)
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as e:
        lines = [_describe(err, root) for err in e.errors(include_url=False)]
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(lines)) from None


# `make run` points the example config at the broker it started for itself
# (its own port) without a copy of the file: the same rule for `edged run`,
# `check-config` and a reload.
BROKER_ENV = {"EDGED_MQTT_HOST": "host", "EDGED_MQTT_PORT": "port"}


def _broker_from_environment(
    data: dict[str, Any], environ: Mapping[str, str], source: str
) -> dict[str, Any]:
    """`data` with mqtt.host / mqtt.port replaced by EDGED_MQTT_HOST / EDGED_MQTT_PORT when set."""
    overrides: dict[str, Any] = {}
    for var, key in BROKER_ENV.items():
        value = environ.get(var, "").strip()
        if not value:
            continue
        if key == "port":
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise ConfigError(f"{source}: {var}: must be a port number 1-65535 (got {value!r})")
            overrides[key] = int(value)
        else:
            overrides[key] = value
    if not overrides:
        return data
    mqtt = data.get("mqtt")
    if mqtt is None:
        mqtt = {}
    if not isinstance(mqtt, dict):
        return data  # validation reports the bad section itself
    return {**data, "mqtt": {**mqtt, **overrides}}


def _all_field_names() -> set[str]:
    models: list[type[BaseModel]] = [
        Config,
        MqttConfig,
        TlsConfig,
        TopicsConfig,
        HermesConfig,
        DiscoveryConfig,
        MetricsConfig,
        ImportConfig,
        Zigbee2mqttImport,
        HomeAssistantImport,
        NluConfig,
        PolicyConfig,
        LimitsConfig,
        FloorConfig,
        AreaConfig,
        DeviceConfig,
        DeviceOptions,
        TemplateSpec,
    ]
    return {f.alias or name for m in models for name, f in m.model_fields.items()}


def format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_SUBPATH_RE = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.S)


def _describe(err: Mapping[str, Any], root: yaml.Node | None) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    msg = str(err["msg"])
    value = err.get("input")
    secret = any("password" in str(p) for p in loc)
    got = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
    if kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        choices = [c.strip().strip("'") for c in re.split(r",| or ", expected) if c.strip()]
        msg = f"must be one of {', '.join(choices)}{got}"
    elif kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), sorted(_all_field_names()), n=1)
        msg = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "string_pattern_mismatch":
        msg = f"must be lower-case letters, digits and _{got}"
        if loc[:1] == ("devices",):
            msg += " (or a Home Assistant entity id such as light.kitchen_ceiling)"
    elif kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        # Cross-field checks name the sub-field at the start of their message.
        match = _SUBPATH_RE.match(msg)
        if match and not msg.startswith(("devices[", "areas[", "floors[")):
            loc = (*loc, *_split_subpath(match.group(1)))
            msg = match.group(2)
        elif match and not loc:
            loc = tuple(_split_subpath(match.group(1)))
            msg = match.group(2)
    else:
        msg = msg + got
    path = format_loc(loc) or "config"
    line = _line_of(root, loc)
    return f"{path}: {msg}" + (f" (line {line})" if line else "")


def _split_subpath(text: str) -> list[int | str]:
    parts: list[int | str] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node along `loc`, so errors point into the file."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    nxt = value_node
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line
