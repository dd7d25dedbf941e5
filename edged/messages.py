"""What crosses MQTT: inbound utterances and outbound result events.

Inbound, on an utterance topic: plain UTF-8 text, or JSON
`{"text", "id", "site", "ts", "reply_to"}`. Everything from the wire is
untrusted: size, depth, encoding and control characters are checked here, and
a payload that fails becomes an `InboundError` that still gets a result event.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# MQTT topic names may not hold these; reply_to must be a plain topic.
_TOPIC_FORBIDDEN = set("+#\x00")


class InboundJson(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(max_length=100_000)
    id: str | int | None = None
    site: str | None = Field(default=None, max_length=64)
    ts: float | None = None  # seconds since the epoch, when the words were spoken
    reply_to: str | None = Field(default=None, max_length=256)

    @field_validator("site")
    @classmethod
    def _site(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip()
        if not v or any(c in _TOPIC_FORBIDDEN or c == "/" or not c.isprintable() for c in v):
            raise ValueError("site must be a plain name (no '/', '+', '#' or control characters)")
        return v

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if (
            not v
            or any(c in _TOPIC_FORBIDDEN or not c.isprintable() for c in v)
            or v.startswith("$")
        ):
            raise ValueError("reply_to must be a plain topic (no wildcards, not a $ topic)")
        return v


@dataclass(frozen=True)
class Utterance:
    text: str
    id: str
    site: str | None
    ts: float | None
    reply_to: str | None
    topic: str
    received_at: float
    has_own_id: bool = True

    @property
    def dedupe_key(self) -> str:
        """The request id when the sender gave one, else a hash of the content."""
        if self.has_own_id:
            return f"id:{self.id}"
        return "sha:" + hashlib.sha256(f"{self.site}\x00{self.text}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class InboundError:
    """A payload that could not become an utterance; still answered."""

    error: str
    topic: str
    id: str
    site: str | None
    received_at: float
    reply_to: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 16_384
    max_json_depth: int = 8
    max_text_chars: int = 500


def _depth(obj: Any, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    if isinstance(obj, dict):
        return max([level, *(_depth(v, limit, level + 1) for v in obj.values())])
    if isinstance(obj, list):
        return max([level, *(_depth(v, limit, level + 1) for v in obj)])
    return level


def _json_depth_ok(raw: str, limit: int) -> bool:
    """Bracket nesting counted before json.loads, so a deeply nested payload
    never reaches the recursive parser."""
    if raw.count("{") + raw.count("[") <= limit:
        return True  # no deeper than its opening brackets (the usual case: one)
    return _json_depth_scan(raw, limit)


def _json_depth_scan(raw: str, limit: int) -> bool:
    """The nesting check proper, bracket by bracket outside strings."""
    depth = 0
    in_str = esc = False
    for ch in raw:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def decode_text(payload: bytes, limits: Limits) -> tuple[str, str | None]:
    """(the payload as text, None) or ("", why not): the size limit, then UTF-8."""
    if len(payload) > limits.max_payload_bytes:
        return "", f"payload too large: {len(payload)} bytes (limit {limits.max_payload_bytes})"
    try:
        return payload.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return "", f"payload is not valid UTF-8 (byte {e.start})"


def load_json(raw: str, limits: Limits) -> tuple[Any, str | None]:
    """(the decoded JSON, None) or (None, why not): depth checked first, so a
    deeply nested payload never reaches the recursive parser."""
    if not _json_depth_ok(raw, limits.max_json_depth):
        return None, f"JSON nested deeper than {limits.max_json_depth} levels"
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as e:
        return None, f"broken JSON: {e.msg} at line {e.lineno} column {e.colno}"


def site_from_topic(topic: str, patterns: list[str]) -> str | None:
    """The segment a `+` matched in the subscription pattern: `edged/<site>/utterance`."""
    parts = topic.split("/")
    for pattern in patterns:
        pp = pattern.split("/")
        if len(pp) != len(parts):
            continue
        site = None
        for a, b in zip(pp, parts, strict=True):
            if a == "+":
                site = b
            elif a != b:
                break
        else:
            return site
    return None


def decode_inbound(
    topic: str,
    payload: bytes,
    limits: Limits,
    patterns: list[str],
    now: float | None = None,
) -> Utterance | InboundError:
    """Bytes from the broker -> an utterance, or an error that names the problem."""
    now = time.time() if now is None else now
    site = site_from_topic(topic, patterns)
    fallback_id = ""  # the sender's id, else a random one (made only when needed)

    def fail(
        msg: str, id_: str | None = None, reply_to: str | None = None, text: str = ""
    ) -> InboundError:
        return InboundError(msg, topic, id_ or uuid.uuid4().hex, site, now, reply_to, text)

    raw, problem = decode_text(payload, limits)
    if problem is not None:
        return fail(problem)
    stripped = raw.strip()
    if not stripped:
        return fail('empty payload: expected text or JSON {"text": ...}')
    own_id = False
    if stripped[0] in "{[":  # JSON (an array is an error below, not text)
        obj, problem = load_json(stripped, limits)
        if problem is not None:
            return fail(problem)
        if not isinstance(obj, dict):
            return fail('JSON payload must be an object with a "text" field')
        raw_id = obj.get("id")
        id_str = str(raw_id) if isinstance(raw_id, str | int) and str(raw_id) else None
        try:
            msg = InboundJson.model_validate(obj)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            # reply_to is not trusted from an invalid payload: the answer goes
            # to the configured result topic.
            return fail(f"invalid field {where}: {first['msg']}", id_str)
        text = msg.text
        if msg.id is not None and str(msg.id):
            fallback_id = str(msg.id)
            own_id = True
        site = msg.site or site
        ts, reply_to = msg.ts, msg.reply_to
    else:
        text, ts, reply_to = raw, None, None
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    if not text:
        return fail("no text to understand", fallback_id if own_id else None, reply_to)
    if len(text) > limits.max_text_chars:
        return fail(
            f"text too long: {len(text)} characters (limit {limits.max_text_chars})",
            fallback_id if own_id else None,
            reply_to,
        )
    return Utterance(text, fallback_id or uuid.uuid4().hex, site, ts, reply_to, topic, now, own_id)


@dataclass
class ActionOut:
    device: str
    op: str
    params: dict[str, Any]
    topic: str
    payload: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "op": self.op,
            "params": self.params,
            "topic": self.topic,
            "payload": self.payload,
        }


@dataclass
class ResultEvent:
    """The result event for the hub (DESIGN.md's contract)."""

    id: str
    text: str
    site: str | None
    status: str  # executed | not_recognized | needs_confirmation | refused | error
    intent: str | None = None
    confidence: float | None = None
    slots: list[dict[str, Any]] = field(default_factory=list)
    actions: list[ActionOut] = field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    # A question answered from reported state (edged.home.state):
    # {"device", "value", "unit", "age_s"}, value None when the device has not
    # reported it. `states` instead when the question was about several.
    state: dict[str, Any] | None = None
    states: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "text": self.text,
            "site": self.site,
            "status": self.status,
            "intent": self.intent,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "slots": self.slots,
            "actions": [a.to_dict() for a in self.actions],
            "error": self.error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "stages_ms": {k: round(v, 3) for k, v in self.stages_ms.items()},
        }
        # Only on answers to questions, so other results keep their shape.
        if self.state is not None:
            out["state"] = self.state
        if self.states:
            out["states"] = self.states
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
