"""Home Assistant MQTT discovery: edged shows up in Home Assistant as a device.

One device (`discovery.node_id`) with sensors for the last utterance, intent,
status, confidence and latency, and counters of utterances and errors. Each
sensor is announced the way Home Assistant's MQTT discovery documents it:

- topic `<prefix>/sensor/<node_id>/<object_id>/config`, retained, JSON;
- `unique_id` (`<node_id>_<object_id>`) and `default_entity_id`
  (`sensor.<node_id>_<object_id>`; it replaced `object_id` in Home Assistant
  2025.10, and older versions drop keys they do not know);
- `availability_topic` = edged's status topic (`online` / `offline`, retained,
  `offline` is the MQTT will), so the sensors go unavailable when edged does;
- a `device` block shared by all sensors and an `origin` block naming edged.

All sensors read one retained JSON state topic (`discovery.state_topic`) with
`value_template`s, so one publish after each utterance updates them all.
Home Assistant asks for the configs again by publishing `online` on its birth
topic; an empty retained payload on a config topic removes that entity.

Pure functions of the configuration and the state; the daemon and the CLI
publish what they return.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import edged
from edged.config import Config
from edged.messages import ResultEvent

# Home Assistant rejects longer sensor states (and logs an error for each).
HA_STATE_MAX_CHARS = 255
AVAILABLE = "online"
NOT_AVAILABLE = "offline"
_ENTITY_ID_RE = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor: its object id (also its key in the state JSON), and how
    Home Assistant should show it."""

    object_id: str
    name: str
    icon: str
    value_template: str
    unit_of_measurement: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    suggested_display_precision: int | None = None
    attributes_template: str | None = None


# A JSON null renders as "None", which Home Assistant's MQTT sensor reads as
# "unknown" (nothing heard yet, or nothing recognised).
SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec(
        "last_utterance",
        "Last utterance",
        "mdi:comment-text-outline",
        "{{ value_json.last_utterance }}",
        attributes_template=(
            "{{ {'id': value_json.last_id, 'site': value_json.last_site,"
            " 'status': value_json.last_status} | tojson }}"
        ),
    ),
    SensorSpec("last_intent", "Last intent", "mdi:target", "{{ value_json.last_intent }}"),
    SensorSpec(
        "last_status", "Last status", "mdi:check-circle-outline", "{{ value_json.last_status }}"
    ),
    SensorSpec(
        "last_confidence",
        "Last confidence",
        "mdi:gauge",
        "{{ none if value_json.last_confidence is none"
        " else (value_json.last_confidence * 100) | round(1) }}",
        unit_of_measurement="%",
        state_class="measurement",
        suggested_display_precision=1,
    ),
    SensorSpec(
        "last_latency",
        "Last latency",
        "mdi:timer-outline",
        "{{ value_json.last_latency_ms }}",
        unit_of_measurement="ms",
        device_class="duration",
        state_class="measurement",
        suggested_display_precision=1,
    ),
    SensorSpec(
        "utterances",
        "Utterances handled",
        "mdi:counter",
        "{{ value_json.utterances }}",
        state_class="total_increasing",
    ),
    SensorSpec(
        "errors",
        "Errors",
        "mdi:alert-circle-outline",
        "{{ value_json.errors }}",
        state_class="total_increasing",
    ),
)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: str
    retain: bool = True


@dataclass(frozen=True, slots=True)
class HaState:
    """What the sensors show. Counters start at zero with the process; Home
    Assistant's `total_increasing` takes a drop to zero as a restart."""

    utterances: int = 0
    errors: int = 0
    last_id: str | None = None
    last_utterance: str | None = None
    last_site: str | None = None
    last_status: str | None = None
    last_intent: str | None = None
    last_confidence: float | None = None
    last_latency_ms: float | None = None

    def record(self, result: ResultEvent) -> HaState:
        """The state after one more result event (a new value: pure)."""
        return dataclasses.replace(
            self,
            utterances=self.utterances + 1,
            errors=self.errors + (result.status == "error"),
            last_id=result.id,
            last_utterance=result.text[:HA_STATE_MAX_CHARS] if result.text else None,
            last_site=result.site,
            last_status=result.status,
            last_intent=result.intent,
            last_confidence=None if result.confidence is None else round(result.confidence, 4),
            last_latency_ms=None if result.latency_ms is None else round(result.latency_ms, 2),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, separators=(",", ":"))


def entity_slug(text: str) -> str:
    """An entity-id-safe version of a node or object id (`[a-z0-9_]`)."""
    return _ENTITY_ID_RE.sub("_", text.lower()).strip("_")


def config_topic(cfg: Config, spec: SensorSpec) -> str:
    d = cfg.discovery
    return f"{d.prefix}/sensor/{d.node_id}/{spec.object_id}/config"


def device_block(cfg: Config) -> dict[str, Any]:
    d = cfg.discovery
    return {
        "identifiers": [d.node_id],
        "name": d.name or d.node_id,
        "manufacturer": "edged",
        "model": "edged NLU daemon",
        "sw_version": edged.__version__,
    }


def origin_block(cfg: Config) -> dict[str, Any]:
    origin: dict[str, Any] = {"name": "edged", "sw_version": edged.__version__}
    # Home Assistant validates support_url as a URL, so edged never makes one up.
    if cfg.discovery.support_url:
        origin["support_url"] = cfg.discovery.support_url
    return origin


def sensor_config(cfg: Config, spec: SensorSpec) -> dict[str, Any]:
    d = cfg.discovery
    unique_id = f"{d.node_id}_{spec.object_id}"
    payload: dict[str, Any] = {
        "name": spec.name,
        "unique_id": unique_id,
        "default_entity_id": f"sensor.{entity_slug(unique_id)}",
        "state_topic": d.state_topic,
        "value_template": spec.value_template,
        "availability_topic": cfg.topics.status,
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "icon": spec.icon,
        "device": device_block(cfg),
        "origin": origin_block(cfg),
    }
    optional = {
        "unit_of_measurement": spec.unit_of_measurement,
        "device_class": spec.device_class,
        "state_class": spec.state_class,
        "suggested_display_precision": spec.suggested_display_precision,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    if spec.attributes_template is not None:
        payload["json_attributes_topic"] = d.state_topic
        payload["json_attributes_template"] = spec.attributes_template
    return payload


def announce_messages(cfg: Config) -> list[Message]:
    """The retained config of every sensor."""
    return [
        Message(config_topic(cfg, spec), json.dumps(sensor_config(cfg, spec), ensure_ascii=False))
        for spec in SENSORS
    ]


def state_message(cfg: Config, state: HaState) -> Message:
    # Retained: a Home Assistant that restarts shows the last values at once.
    return Message(cfg.discovery.state_topic, state.to_json())


def removal_messages(cfg: Config) -> list[Message]:
    """Empty retained payloads: Home Assistant deletes each entity (and the
    device with its last entity), and the broker forgets the retained state."""
    return [Message(config_topic(cfg, spec), "") for spec in SENSORS] + [
        Message(cfg.discovery.state_topic, "")
    ]


def is_birth(cfg: Config, topic: str, payload: bytes) -> bool:
    """Home Assistant (re)started and wants the discovery configs again."""
    return topic == cfg.discovery.birth_topic and payload.strip() == b"online"


__all__ = [
    "SENSORS",
    "HaState",
    "Message",
    "SensorSpec",
    "announce_messages",
    "config_topic",
    "is_birth",
    "removal_messages",
    "sensor_config",
    "state_message",
]
