"""What crosses MQTT: inbound utterances and outbound result events.

Inbound, on an utterance topic: plain UTF-8 text, or JSON
`{"text", "id", "site", "ts", "reply_to"}`. Everything from the wire is
untrusted: size, depth, encoding and control characters are checked here, and
a payload that fails becomes an `InboundError` that still gets a result event.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edged.reply_to import ReplyRules, reply_to_problem
from edged.topics import matches

# MQTT topic names may not hold these; reply_to must be a plain topic.
_TOPIC_FORBIDDEN = set("+#\x00")
# A request id is echoed in results, logs and the journal: printable and short.
MAX_ID_CHARS = 256
# Python refuses int() of longer digit strings (a ValueError json.loads does
# not turn into a JSONDecodeError); such a number is kept as its digits.
_MAX_INT_DIGITS = 4000


class InboundJson(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(max_length=100_000)
    # Checked by `clean_id` before the model sees the payload.
    id: Any = None
    site: str | None = Field(default=None, max_length=64)
    # Seconds since the epoch, when the words were spoken; NaN or infinity
    # would make an utterance never stale.
    ts: float | None = Field(default=None, allow_inf_nan=False)
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
    # What a transport may ask of the engine besides "act on it" (Hermes'
    # intentFilter and act: false; Wyoming's intent program): only these
    # intents count, and only recognise, never resolve or act.
    intents: tuple[str, ...] | None = field(default=None, kw_only=True)
    recognise_only: bool = field(default=False, kw_only=True)

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
    max_clock_skew_s: float = 5.0


@dataclass(frozen=True)
class HugeInt:
    """A JSON integer too long for int(): kept as its digits, never a number."""

    digits: str

    def __str__(self) -> str:
        return self.digits


def _parse_int(digits: str) -> int | HugeInt:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else HugeInt(digits)


def _scrub(obj: Any) -> Any:
    """Lone surrogates (JSON's "\\udfff") replaced by U+FFFD: a str holding one
    cannot be encoded as UTF-8, so the result or the journal would fail."""
    if isinstance(obj, str):
        if obj.isascii():
            return obj
        return obj.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(obj, dict):
        return {_scrub(k): _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def clean_id(raw: Any) -> tuple[str | None, str | None]:
    """(the id as text, None), (None, None) when there is none, or (None, why
    it cannot be used). Integers of any size are ids; bool, float and
    containers are not."""
    if raw is None:
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, str | int | HugeInt):
        return None, f"id must be a string or an integer, not {type(raw).__name__}"
    text = str(raw)
    if not text:
        return None, None
    if len(text) > MAX_ID_CHARS:
        return None, f"id is {len(text)} characters long (limit {MAX_ID_CHARS})"
    if not text.isprintable() or "\ufffd" in text:
        return None, "id holds control or unencodable characters"
    return text, None


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
        return _scrub(json.loads(raw, parse_int=_parse_int)), None
    except json.JSONDecodeError as e:
        return None, f"broken JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except (ValueError, RecursionError) as e:  # pragma: no cover - json's other refusals
        return None, f"unreadable JSON: {e}"


def site_from_topic(topic: str, patterns: list[str]) -> str | None:
    """The level the `+` of the first subscription pattern `topic` matches
    stands for (`edged/<site>/utterance`); None for a pattern without one, an
    empty level or no match. The one topic matcher (edged.topics), MQTT's own
    rules (`#` also matches its parent level; `$` topics only match `$` patterns)."""
    for pattern in patterns:
        if matches(pattern, topic):
            levels = pattern.split("/")
            if "+" not in levels:  # config allows at most one '+', the site
                return None
            return topic.split("/")[levels.index("+")] or None
    return None


def decode_inbound(
    topic: str,
    payload: bytes,
    limits: Limits,
    patterns: list[str],
    now: float | None = None,
    reply_rules: ReplyRules | None = None,
) -> Utterance | InboundError:
    """Bytes from the broker -> an utterance, or an error that names the problem.

    The topic's site wins: a payload `site` that names another is refused
    (a "yes" sent to the kitchen must not confirm the hallway's unlock). A
    `ts` in the future beyond `max_clock_skew_s` is refused too, as is a
    `reply_to` outside `reply_rules` (the default: under `edged/reply/`)."""
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
        id_str, id_problem = clean_id(obj.get("id"))
        if id_problem is not None:
            new_id = uuid.uuid4().hex
            return fail(f"invalid id: {id_problem}; answered as {new_id}, not acted on", new_id)
        try:
            msg = InboundJson.model_validate(obj)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            # reply_to is not trusted from an invalid payload: the answer goes
            # to the configured result topic.
            return fail(f"invalid field {where}: {first['msg']}", id_str)
        text = msg.text
        if id_str is not None:
            fallback_id = id_str
            own_id = True
        if msg.site is not None and site is not None and msg.site != site:
            return fail(
                f"site {msg.site!r} in the payload differs from {site!r} in the topic {topic}",
                id_str,
                text=text,
            )
        site = site or msg.site
        ts, reply_to = msg.ts, msg.reply_to
        if reply_to is not None:
            rules = reply_rules or ReplyRules(("edged/reply/",), ())
            problem = reply_to_problem(reply_to, rules)
            if problem is not None:
                return fail(problem, id_str, text=text)
        if ts is not None and ts - now > limits.max_clock_skew_s:
            return fail(
                f"ts is {ts - now:.0f}s in the future (clock skew allowed: "
                f"{limits.max_clock_skew_s:g}s): refused, not treated as fresh",
                id_str,
                reply_to,
                text,
            )
        if ts is not None and not math.isfinite(ts):  # pragma: no cover - the model refuses
            return fail("ts must be a finite number", id_str, reply_to, text)
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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionOut:
        return cls(
            str(d.get("device", "")),
            str(d.get("op", "")),
            dict(d.get("params") or {}),
            str(d.get("topic", "")),
            str(d.get("payload", "")),
        )

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
    # What to say back (edged.home.replies): a sentence, and Home Assistant's
    # response type: action_done | query_answer | error. `error` keeps the
    # machine-readable reason.
    speech: str = ""
    response_type: str = ""
    # Further keys, only when they apply: "duplicate", "original".
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultEvent:
        """A result as `to_dict` wrote it (read back from the journal)."""
        known = {
            "id", "text", "site", "status", "intent", "confidence", "slots", "actions",
            "error", "latency_ms", "stages_ms", "state", "states", "speech", "response_type",
        }  # fmt: skip
        return cls(
            id=str(d.get("id", "")),
            text=str(d.get("text", "")),
            site=d.get("site"),
            status=str(d.get("status", "error")),
            intent=d.get("intent"),
            confidence=d.get("confidence"),
            slots=list(d.get("slots") or []),
            actions=[ActionOut.from_dict(a) for a in d.get("actions") or []],
            error=d.get("error"),
            latency_ms=d.get("latency_ms"),
            stages_ms=dict(d.get("stages_ms") or {}),
            state=d.get("state"),
            states=list(d.get("states") or []),
            speech=str(d.get("speech") or ""),
            response_type=str(d.get("response_type") or ""),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            **self.extra,
            "id": self.id,
            "text": self.text,
            "site": self.site,
            "status": self.status,
            "intent": self.intent,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "slots": self.slots,
            "actions": [a.to_dict() for a in self.actions],
            "error": self.error,
            "speech": self.speech,
            "response_type": self.response_type,
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
