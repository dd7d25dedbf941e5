"""The Hermes protocol (Rhasspy 2.5, Snips): edged as the NLU service, and
with `topics.hermes.act` as the intent handler too.

In: `hermes/nlu/query` `{"input", "siteId", "id", "sessionId", "intentFilter", ...}`.
Out: `hermes/nlu/intentParsed` and `hermes/intent/<intentName>` (both, in that
order, as Rhasspy's own NLU service publishes them), or
`hermes/nlu/intentNotRecognized`; `hermes/error/nlu` when a query cannot be
read. With `act: true`, `hermes/dialogueManager/endSession` with the sentence,
or `continueSession` with the question of a confirmation. Field names and
shapes are those of the `rhasspy-hermes` message classes (`rhasspyhermes.nlu`,
`rhasspyhermes.dialogue`), which the tests use to read every payload back.

A transport that rides on the MQTT connection (edged.transports.mqtt):
`HermesTransport.route` is the query topic's route there: decoded with
`decode_query`, each outcome turned into its messages by `hermes_messages`,
and the result event still goes out on `edged/result`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edged.config import Config
from edged.engine import Outcome, restrict_to_filter
from edged.messages import InboundError, Limits, Utterance, clean_id, decode_text, load_json
from edged.nlu.model import clean_text
from edged.nlu.types import Parse, Slot
from edged.pipeline import Answer
from edged.transports.mqtt import Route

QUERY_TOPIC = "hermes/nlu/query"
# Rhasspy's dialogue manager, told by the intent handler (edged with act: true)
# what to say and whether the session goes on.
END_SESSION_TOPIC = "hermes/dialogueManager/endSession"
CONTINUE_SESSION_TOPIC = "hermes/dialogueManager/continueSession"
INTENT_PARSED_TOPIC = "hermes/nlu/intentParsed"
NOT_RECOGNIZED_TOPIC = "hermes/nlu/intentNotRecognized"
ERROR_TOPIC = "hermes/error/nlu"
DEFAULT_SITE = "default"  # what rhasspy-hermes assumes when a message names no site
_CONTEXT_CHARS = 256  # how much of a bad payload an error message quotes back


def intent_topic(intent_name: str) -> str:
    return f"hermes/intent/{intent_name}"


# --- inbound ------------------------------------------------------------------------


class _QueryIn(BaseModel):
    """`NluQuery` as it arrives. Unknown keys are ignored: Snips and Rhasspy
    versions add fields, and none of them changes what the query means."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(max_length=100_000)
    site_id: str = Field(default=DEFAULT_SITE, alias="siteId", max_length=256)
    id: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, alias="sessionId", max_length=256)
    intent_filter: list[str] | None = Field(default=None, alias="intentFilter", max_length=1000)
    custom_data: str | None = Field(default=None, alias="customData", max_length=16_384)
    lang: str | None = Field(default=None, max_length=64)
    wakeword_id: str | None = Field(default=None, alias="wakewordId", max_length=256)
    asr_confidence: float | None = Field(default=None, alias="asrConfidence", ge=0.0, le=1.0)

    @field_validator("site_id", mode="before")
    @classmethod
    def _site(cls, v: Any) -> Any:
        # Snips clients send null or leave it out; rhasspy-hermes means "default".
        return DEFAULT_SITE if v is None or v == "" else v

    @field_validator("id", "session_id", mode="before")
    @classmethod
    def _ident(cls, v: Any) -> Any:
        # Node-RED flows often number their requests; the echo is a string.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("custom_data", mode="before")
    @classmethod
    def _custom(cls, v: Any) -> Any:
        # The protocol says string, flows send objects; echo them as JSON text
        # so the answer still fits the protocol.
        if isinstance(v, dict | list):
            return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        return v


@dataclass(frozen=True, slots=True)
class HermesRequest:
    """What an answer echoes back, and what limits it."""

    raw_input: str
    site_id: str = DEFAULT_SITE
    id: str | None = None
    session_id: str | None = None
    intent_filter: tuple[str, ...] | None = None
    custom_data: str | None = None
    lang: str | None = None
    wakeword_id: str | None = None
    asr_confidence: float | None = None


@dataclass(frozen=True, kw_only=True)
class HermesUtterance(Utterance):
    """An utterance that came as a Hermes query and is answered in Hermes."""

    request: HermesRequest

    @property
    def dedupe_key(self) -> str:
        # Hermes requests without an id are never de-duplicated by content:
        # Rhasspy sends the same words again whenever a person repeats them,
        # and a dialogue manager that gets no answer waits for its timeout.
        return f"hermes:{self.id}"


@dataclass(frozen=True, kw_only=True)
class HermesInboundError(InboundError):
    """A query that could not be read; answered on `hermes/error/nlu`."""

    session_id: str | None = None
    context: str | None = None


def decode_query(
    topic: str, payload: bytes, limits: Limits, now: float | None = None, act: bool = False
) -> HermesUtterance | HermesInboundError:
    """Bytes from `hermes/nlu/query` -> an utterance, or an error naming the problem.

    An empty `input` is a valid query (ASR heard nothing useful): it parses to
    "not recognised", which is the answer a dialogue manager waits for. The
    query's intentFilter limits the parse; without `act` (edged only answers,
    as Rhasspy's NLU service) nothing is resolved or done."""
    now = time.time() if now is None else now
    request_id: str | None = None
    site: str | None = None
    session: str | None = None

    def fail(msg: str) -> HermesInboundError:
        context = payload[:_CONTEXT_CHARS].decode("utf-8", "replace")
        return HermesInboundError(
            msg,
            topic,
            request_id or uuid.uuid4().hex,
            site,
            now,
            session_id=session,
            context=context,
        )

    raw, problem = decode_text(payload, limits)
    if problem is not None:
        return fail(problem)
    obj, problem = load_json(raw, limits)
    if problem is not None:
        return fail(problem)
    if not isinstance(obj, dict):
        return fail('hermes/nlu/query must be a JSON object with an "input" field')
    # Echo what can be echoed even when the query as a whole is invalid, so
    # the error reaches the right site and session.
    if isinstance(obj.get("siteId"), str) and obj["siteId"]:
        site = obj["siteId"][:256]
    if isinstance(obj.get("sessionId"), str):
        session = obj["sessionId"][:256]
    request_id, id_problem = clean_id(obj.get("id"))
    if id_problem is not None:
        # Unprintable or too long: it would forge log lines or fail to encode.
        request_id = uuid.uuid4().hex
        return fail(f"invalid id: {id_problem}; answered as {request_id}")
    try:
        query = _QueryIn.model_validate(obj)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        return fail(f"invalid field {where}: {first['msg']}")
    # The model's own folding, so slot ranges index the `input` sent back.
    text = clean_text(query.input)
    if len(text) > limits.max_text_chars:
        return fail(f"text too long: {len(text)} characters (limit {limits.max_text_chars})")
    request = HermesRequest(
        raw_input=query.input,
        site_id=query.site_id,
        id=query.id,
        session_id=query.session_id,
        intent_filter=tuple(query.intent_filter) if query.intent_filter else None,
        custom_data=query.custom_data,
        lang=query.lang,
        wakeword_id=query.wakeword_id,
        asr_confidence=query.asr_confidence,
    )
    return HermesUtterance(
        text=text,
        id=query.id or uuid.uuid4().hex,
        site=query.site_id,
        ts=None,
        reply_to=None,
        topic=topic,
        received_at=now,
        has_own_id=True,
        intents=request.intent_filter,
        recognise_only=not act,
        request=request,
    )


# --- outbound -----------------------------------------------------------------------


class SlotValue(TypedDict):
    kind: str
    value: str | int | float


class SlotRange(TypedDict):
    start: int
    end: int
    rawStart: int | None
    rawEnd: int | None


class HermesSlot(TypedDict):
    entity: str
    slotName: str
    rawValue: str
    value: SlotValue
    range: SlotRange
    confidence: float


class HermesIntent(TypedDict):
    intentName: str
    confidenceScore: float


class AsrToken(TypedDict):
    value: str
    confidence: float
    rangeStart: int
    rangeEnd: int


class IntentParsedPayload(TypedDict):
    input: str
    intent: HermesIntent
    siteId: str
    id: str | None
    slots: list[HermesSlot]
    sessionId: str | None


class IntentPayload(IntentParsedPayload):
    customData: str | None
    asrTokens: list[list[AsrToken]]
    asrConfidence: float | None
    rawInput: str
    wakewordId: str | None
    lang: str | None


class NotRecognizedPayload(TypedDict):
    input: str
    siteId: str
    id: str | None
    customData: str | None
    sessionId: str | None


class ErrorPayload(TypedDict):
    error: str
    siteId: str
    context: NotRequired[str | None]
    sessionId: str | None


def slot_value(slot: Slot) -> SlotValue:
    """Snips' value kinds: numbers are "Number"; everything else is "Custom"
    with a string (a colour by its name, a domain by its canonical word)."""
    v = slot.value
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"kind": "Number", "value": v}
    if isinstance(v, dict) and isinstance(v.get("name"), str):
        return {"kind": "Custom", "value": v["name"]}
    if v is None or v == "":
        # The words carried no normalised value; the words themselves are it.
        return {"kind": "Custom", "value": slot.text}
    return {"kind": "Custom", "value": str(v)}


def raw_offset(raw: str, offset: int) -> int | None:
    """Where a character offset in the cleaned text (`clean_text(raw)`) falls in
    `raw`. Cleaning only folds white space, so each word keeps its letters:
    an offset inside or at the end of the k-th word maps into the k-th word."""
    folded = "".join(c if c.isprintable() else " " for c in raw)
    clean_start = 0
    for m in re.finditer(r"\S+", folded):
        length = m.end() - m.start()
        if clean_start <= offset <= clean_start + length:
            return m.start() + offset - clean_start
        clean_start += length + 1
    return None


def hermes_slot(slot: Slot, raw_input: str | None = None) -> HermesSlot:
    """A slot as Rhasspy sends it; `rawStart`/`rawEnd` index the query's
    original `input` (`rawInput`), `start`/`end` the cleaned one."""
    return {
        "entity": slot.name,
        "slotName": slot.name,
        "rawValue": slot.text,
        "value": slot_value(slot),
        "range": {
            "start": slot.start,
            "end": slot.end,
            "rawStart": None if raw_input is None else raw_offset(raw_input, slot.start),
            "rawEnd": None if raw_input is None else raw_offset(raw_input, slot.end),
        },
        "confidence": round(slot.confidence, 4),
    }


def asr_tokens(text: str, asr_confidence: float | None) -> list[AsrToken]:
    """The words of `text` with their character ranges. edged was given text,
    not audio: a token is as certain as the ASR said the whole transcript was
    (`asrConfidence`), or taken as given (1.0) when the query did not say,
    which is what Rhasspy's own NLU service reports."""
    tokens: list[AsrToken] = []
    start = 0
    confidence = 1.0 if asr_confidence is None else asr_confidence
    for word in text.split(" ") if text else []:
        tokens.append(
            {
                "value": word,
                "confidence": confidence,
                "rangeStart": start,
                "rangeEnd": start + len(word),
            }
        )
        start += len(word) + 1
    return tokens


def intent_parsed_payload(parse: Parse, request: HermesRequest) -> IntentParsedPayload:
    if parse.intent is None:
        raise ValueError("a parse without an intent is answered with intentNotRecognized")
    return {
        "input": parse.text,
        "intent": {"intentName": parse.intent, "confidenceScore": round(parse.confidence, 4)},
        "siteId": request.site_id,
        "id": request.id,
        "slots": [hermes_slot(s, request.raw_input) for s in parse.slots],
        "sessionId": request.session_id,
    }


def intent_payload(parse: Parse, request: HermesRequest) -> IntentPayload:
    return {
        **intent_parsed_payload(parse, request),
        "customData": request.custom_data,
        "asrTokens": [asr_tokens(parse.text, request.asr_confidence)],
        "asrConfidence": request.asr_confidence,
        "rawInput": request.raw_input,
        "wakewordId": request.wakeword_id,
        "lang": request.lang,
    }


def not_recognized_payload(text: str, request: HermesRequest) -> NotRecognizedPayload:
    return {
        "input": text,
        "siteId": request.site_id,
        "id": request.id,
        "customData": request.custom_data,
        "sessionId": request.session_id,
    }


def _dump(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def answer_messages(parse: Parse, request: HermesRequest) -> list[tuple[str, str]]:
    """The (topic, payload) pairs that answer one query, in publishing order."""
    if parse.intent is None:
        return [(NOT_RECOGNIZED_TOPIC, _dump(not_recognized_payload(parse.text, request)))]
    return [
        (INTENT_PARSED_TOPIC, _dump(intent_parsed_payload(parse, request))),
        (intent_topic(parse.intent), _dump(intent_payload(parse, request))),
    ]


def dialogue_messages(
    session_id: str | None, custom_data: str | None, status: str, speech: str
) -> list[tuple[str, str]]:
    """With `act: true` edged is the intent handler, so it closes the
    dialogue manager's session: `continueSession` with the question when it
    waits for a "yes" (intent-not-recognised is sent on to edged, since a
    bare "yes" is not an intent), else `endSession` with the sentence.
    Without a session there is nothing to end."""
    if session_id is None:
        return []
    if status == "needs_confirmation":
        return [
            (
                CONTINUE_SESSION_TOPIC,
                _dump(
                    {
                        "sessionId": session_id,
                        "customData": custom_data,
                        "text": speech,
                        "intentFilter": None,
                        "sendIntentNotRecognized": True,
                    }
                ),
            )
        ]
    payload = {"sessionId": session_id, "text": speech, "customData": custom_data}
    return [(END_SESSION_TOPIC, _dump(payload))]


def error_message(
    error: str,
    site_id: str | None,
    session_id: str | None = None,
    context: str | None = None,
) -> tuple[str, str]:
    payload: ErrorPayload = {
        "error": error,
        "siteId": site_id or DEFAULT_SITE,
        "context": context,
        "sessionId": session_id,
    }
    return ERROR_TOPIC, _dump(payload)


def error_for(item: Utterance | InboundError, error: str) -> tuple[str, str] | None:
    """The `hermes/error/nlu` message for a Hermes item that failed, else None."""
    if isinstance(item, HermesInboundError):
        return error_message(error, item.site, item.session_id, item.context)
    if isinstance(item, HermesUtterance):
        return error_message(error, item.request.site_id, item.request.session_id, item.text)
    return None


def hermes_messages(
    item: Utterance | InboundError, outcome: Outcome, act: bool, how: Answer = Answer.NEW
) -> list[tuple[str, str]]:
    """The Hermes messages that answer one query, in publishing order (the
    result event goes after them); none for what did not come as a query.

    A query that failed before it was parsed (unreadable, overload, an
    internal error) is answered on `hermes/error/nlu`; a parsed one with its
    intent (`answer_messages`). With `act` edged is the intent handler, so it
    also ends the session with the sentence, or continues it with the
    question of a confirmation; an action held for that "yes" is not
    announced on hermes/intent/...: an intent handler listening there would
    carry it out unconfirmed. A repeated query id gets its result event only."""
    if how is Answer.DUPLICATE:
        return []
    result = outcome.result
    if isinstance(item, HermesInboundError):
        failed = [error_message(result.error or "", item.site, item.session_id, item.context)]
        if act:
            failed += dialogue_messages(item.session_id, None, "error", result.speech)
        return failed
    if not isinstance(item, HermesUtterance):
        return []
    request = item.request
    if outcome.parse is None:
        failed = [error_message(result.error or "", request.site_id, request.session_id, item.text)]
        if act:
            failed += dialogue_messages(
                request.session_id, request.custom_data, "error", result.speech
            )
        return failed
    answers = answer_messages(outcome.parse, request)
    if item.recognise_only:
        return answers
    if result.status == "needs_confirmation":
        answers = [m for m in answers if not m[0].startswith("hermes/intent/")]
    return answers + dialogue_messages(
        request.session_id, request.custom_data, result.status, result.speech
    )


class HermesTransport:
    """Rhasspy's queries on the MQTT connection: a route for
    `hermes/nlu/query` (shared like the utterance topics) whose requests go
    through the same pipeline and are answered in Hermes."""

    def __init__(self, cfg: Config, limits: Limits) -> None:
        self.act = cfg.topics.hermes.act
        self.limits = limits

    def decode(self, topic: str, payload: bytes) -> HermesUtterance | HermesInboundError:
        return decode_query(topic, payload, self.limits, act=self.act)

    def messages(
        self, item: Utterance | InboundError, outcome: Outcome, how: Answer
    ) -> list[tuple[str, str]]:
        return hermes_messages(item, outcome, self.act, how)

    def route(self) -> Route:
        """Where the MQTT transport takes this transport's requests."""
        return Route((QUERY_TOPIC,), self.decode, self.messages)


__all__ = [
    "CONTINUE_SESSION_TOPIC",
    "END_SESSION_TOPIC",
    "ERROR_TOPIC",
    "INTENT_PARSED_TOPIC",
    "NOT_RECOGNIZED_TOPIC",
    "QUERY_TOPIC",
    "HermesInboundError",
    "HermesRequest",
    "HermesTransport",
    "HermesUtterance",
    "answer_messages",
    "decode_query",
    "dialogue_messages",
    "error_for",
    "error_message",
    "hermes_messages",
    "intent_topic",
    "restrict_to_filter",
]
