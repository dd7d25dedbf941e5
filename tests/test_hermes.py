"""Hermes (Rhasspy/Snips) payloads: decoded, answered, and judged by rhasspy-hermes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.config import parse_config
from edged.engine import Engine, Outcome
from edged.messages import ActionOut, InboundError, Limits, ResultEvent, Utterance
from edged.nlu.model import NluModel, clean_text, default_model_dir
from edged.nlu.schema import INTENTS, bio_labels
from edged.nlu.types import Parse, Slot
from edged.pipeline import Answer
from edged.transports.hermes import (
    CONTINUE_SESSION_TOPIC,
    END_SESSION_TOPIC,
    ERROR_TOPIC,
    INTENT_PARSED_TOPIC,
    NOT_RECOGNIZED_TOPIC,
    HermesInboundError,
    HermesRequest,
    HermesTransport,
    HermesUtterance,
    answer_messages,
    decode_query,
    error_message,
    restrict_to_filter,
    slot_value,
)
from tests.rhasspy_hermes import Judge, ensure_env

LIMITS = Limits()
TEXT = "set the kitchen light to 40 percent red"
PARSE = Parse(
    text=TEXT,
    intent="HassLightSet",
    confidence=0.8731,
    slots=(
        Slot("area", "kitchen", 8, 15, "kitchen", 0.9412),
        Slot("domain", "light", 16, 21, "light", 0.8813),
        Slot("brightness", "40 percent", 25, 35, 40, 0.7705),
        Slot("color", "red", 36, 39, {"name": "red", "rgb": [255, 0, 0]}, 0.6657),
    ),
)
REQUEST = HermesRequest(
    raw_input=TEXT,
    site_id="kitchen-satellite",
    id="req-1",
    session_id="sess-9",
    custom_data="from-test",
    lang="en",
    wakeword_id="porcupine",
    asr_confidence=0.91,
)


@pytest.fixture(scope="module")
def judge() -> Judge:
    try:
        return Judge(ensure_env())
    except RuntimeError as e:  # pragma: no cover - only without a route to PyPI
        pytest.fail(str(e))


def _decoded(messages: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    return {topic: json.loads(payload) for topic, payload in messages}


# --- outbound -----------------------------------------------------------------------


def test_recognised_parse_is_answered_with_intent_parsed_then_intent() -> None:
    messages = answer_messages(PARSE, REQUEST)
    assert [t for t, _ in messages] == [INTENT_PARSED_TOPIC, "hermes/intent/HassLightSet"]
    intent = json.loads(messages[1][1])
    assert intent["intent"] == {"intentName": "HassLightSet", "confidenceScore": 0.8731}
    assert (intent["id"], intent["siteId"], intent["sessionId"]) == (
        "req-1",
        "kitchen-satellite",
        "sess-9",
    )
    assert (intent["customData"], intent["lang"], intent["wakewordId"]) == (
        "from-test",
        "en",
        "porcupine",
    )
    assert intent["input"] == TEXT and intent["rawInput"] == TEXT
    assert intent["asrConfidence"] == 0.91
    by_name = {s["slotName"]: s for s in intent["slots"]}
    assert by_name["brightness"]["value"] == {"kind": "Number", "value": 40}
    assert by_name["color"]["value"] == {"kind": "Custom", "value": "red"}
    assert by_name["area"] == {
        "entity": "area",
        "slotName": "area",
        "rawValue": "kitchen",
        "value": {"kind": "Custom", "value": "kitchen"},
        "range": {"start": 8, "end": 15, "rawStart": 8, "rawEnd": 15},
        "confidence": 0.9412,
    }
    for s in intent["slots"]:
        assert TEXT[s["range"]["start"] : s["range"]["end"]] == s["rawValue"]
    # The per-slot confidences are the model's, each its own.
    assert [s["confidence"] for s in intent["slots"]] == [0.9412, 0.8813, 0.7705, 0.6657]
    parsed = json.loads(messages[0][1])
    assert parsed["intent"] == intent["intent"] and parsed["slots"] == intent["slots"]
    tokens = intent["asrTokens"][0]
    assert [t["value"] for t in tokens] == TEXT.split()
    assert all(TEXT[t["rangeStart"] : t["rangeEnd"]] == t["value"] for t in tokens)


def test_raw_ranges_index_the_original_input() -> None:
    raw = "  set the\tkitchen   light to 40\npercent red "
    parse = dataclasses.replace(PARSE, text=clean_text(raw))
    assert parse.text == TEXT
    intent = json.loads(answer_messages(parse, dataclasses.replace(REQUEST, raw_input=raw))[1][1])
    assert intent["rawInput"] == raw and intent["input"] == TEXT
    for s in intent["slots"]:
        r = s["range"]
        assert TEXT[r["start"] : r["end"]] == s["rawValue"]
        assert clean_text(raw[r["rawStart"] : r["rawEnd"]]) == s["rawValue"]
    brightness = next(s for s in intent["slots"] if s["slotName"] == "brightness")
    assert raw[brightness["range"]["rawStart"] : brightness["range"]["rawEnd"]] == "40\npercent"


def test_unrecognised_parse_is_answered_with_intent_not_recognized() -> None:
    parse = Parse(text="what is the meaning of life", intent=None, confidence=0.97)
    ((topic, payload),) = answer_messages(parse, REQUEST)
    assert topic == NOT_RECOGNIZED_TOPIC
    assert json.loads(payload) == {
        "input": "what is the meaning of life",
        "siteId": "kitchen-satellite",
        "id": "req-1",
        "customData": "from-test",
        "sessionId": "sess-9",
    }


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (21.5, "twenty one and a half", {"kind": "Number", "value": 21.5}),
        (50, "half", {"kind": "Number", "value": 50}),
        (
            {"name": "warm white", "kelvin": 2700},
            "warm white",
            {"kind": "Custom", "value": "warm white"},
        ),
        ("light", "lamps", {"kind": "Custom", "value": "light"}),
        (None, "some words", {"kind": "Custom", "value": "some words"}),
    ],
)
def test_slot_value_kinds(value: Any, text: str, expected: dict[str, Any]) -> None:
    assert slot_value(Slot("x", text, 0, len(text), value, 0.5)) == expected


def test_intent_filter() -> None:
    assert restrict_to_filter(PARSE, None) is PARSE
    assert restrict_to_filter(PARSE, ("HassLightSet", "HassTurnOn")) is PARSE
    out = restrict_to_filter(PARSE, ("HassTurnOn",))
    assert out.intent is None and out.slots == () and out.best_guess == "HassLightSet"
    assert [t for t, _ in answer_messages(out, REQUEST)] == [NOT_RECOGNIZED_TOPIC]


def test_error_message_shape() -> None:
    topic, payload = error_message("broken JSON", None, "s1", "{nope")
    assert topic == ERROR_TOPIC
    assert json.loads(payload) == {
        "error": "broken JSON",
        "siteId": "default",
        "context": "{nope",
        "sessionId": "s1",
    }


# --- inbound ------------------------------------------------------------------------


def test_decode_a_query_as_rhasspy_builds_it(judge: Judge) -> None:
    q = judge.query(
        input="  turn on the\tkitchen light ",
        site_id="kitchen",
        id="abc",
        session_id="s-1",
        intent_filter=["HassTurnOn", "HassTurnOff"],
        asr_confidence=0.88,
    )
    assert q["topic"] == "hermes/nlu/query"
    item = decode_query(q["topic"], q["payload"].encode(), LIMITS, now=100.0)
    assert isinstance(item, HermesUtterance)
    assert item.text == "turn on the kitchen light" and item.site == "kitchen"
    assert item.id == "abc" and item.received_at == 100.0
    r = item.request
    assert r.session_id == "s-1" and r.intent_filter == ("HassTurnOn", "HassTurnOff")
    assert r.raw_input == "  turn on the\tkitchen light " and r.asr_confidence == 0.88
    # Keyed apart from edged's own ids, and never by content.
    assert item.dedupe_key == "hermes:abc"


def test_decode_snips_style_query() -> None:
    item = decode_query(
        "hermes/nlu/query",
        json.dumps(
            {"input": "lights off", "siteId": None, "id": 7, "customData": {"a": 1}}
        ).encode(),
        LIMITS,
    )
    assert isinstance(item, HermesUtterance)
    assert item.site == "default" and item.id == "7"
    assert item.request.custom_data == '{"a":1}'
    assert item.request.intent_filter is None and item.request.session_id is None


def test_queries_without_id_are_never_deduplicated_by_content() -> None:
    raw = json.dumps({"input": "turn on the light"}).encode()
    a, b = (decode_query("hermes/nlu/query", raw, LIMITS) for _ in range(2))
    assert isinstance(a, HermesUtterance) and isinstance(b, HermesUtterance)
    assert a.request.id is None and a.dedupe_key != b.dedupe_key


def test_empty_input_is_a_query_not_an_error() -> None:
    item = decode_query("hermes/nlu/query", b'{"input": "  ", "siteId": "x"}', LIMITS)
    assert isinstance(item, HermesUtterance) and item.text == ""


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"turn on the light", "broken JSON"),
        (b'{"input": "x"', "broken JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"siteId": "hall", "sessionId": "s2", "id": "r2"}', "input"),
        (b'{"input": 5, "siteId": "hall", "sessionId": "s2", "id": "r2"}', "input"),
        (b'{"input": "x", "intentFilter": "HassTurnOn", "siteId": "hall"}', "intentFilter"),
        (b'{"input": "x", "asrConfidence": 7, "siteId": "hall"}', "asrConfidence"),
        (b'{"input": "' + b"word " * 200 + b'", "siteId": "hall"}', "too long"),
        (b"[" * 40 + b"]" * 40, "nested"),
        (b"x" * 20_000, "too large"),
    ],
)
def test_bad_queries_become_hermes_errors(payload: bytes, words: str) -> None:
    item = decode_query("hermes/nlu/query", payload, LIMITS)
    assert isinstance(item, HermesInboundError), item
    assert words.lower() in item.error.lower()
    if b'"hall"' in payload:
        # What could be read is echoed, so the error reaches the right site.
        assert item.site == "hall"
    if b'"s2"' in payload:
        assert item.session_id == "s2" and item.id == "r2"
    assert item.context is not None and len(item.context) <= 256


# --- judged by rhasspy-hermes -------------------------------------------------------


def test_payloads_load_into_rhasspy_hermes_classes(judge: Judge) -> None:
    parsed, intent = answer_messages(PARSE, REQUEST)
    (not_recognized,) = answer_messages(
        Parse(text="blah", intent=None, confidence=0.4), HermesRequest(raw_input="blah")
    )
    minimal = answer_messages(
        Parse(text="lights on", intent="HassTurnOn", confidence=0.66), HermesRequest("lights on")
    )
    error = error_message("broken JSON: Expecting value", "hall", None, "{oops")
    verdicts = judge.check(
        [
            ("NluIntentParsed", parsed[0], json.loads(parsed[1])),
            ("NluIntent", intent[0], json.loads(intent[1])),
            ("NluIntentNotRecognized", not_recognized[0], json.loads(not_recognized[1])),
            ("NluIntent", minimal[1][0], json.loads(minimal[1][1])),
            ("NluError", error[0], json.loads(error[1])),
        ]
    )
    for v in verdicts:
        assert v["ok"], v
    intent_verdict = verdicts[1]
    assert intent_verdict["intent_from_topic"] == "HassLightSet"
    # What a Rhasspy intent handler (e.g. Home Assistant's) reads from it.
    rh = intent_verdict["rhasspy"]
    assert rh["intent"] == {"name": "HassLightSet", "confidence": 0.8731}
    assert rh["slots"] == {"area": "kitchen", "domain": "light", "brightness": 40, "color": "red"}
    assert verdicts[3]["back"]["siteId"] == "default" and verdicts[3]["back"]["slots"] == []


def test_the_judge_is_strict(judge: Judge) -> None:
    """The checks would catch a wrong payload: a snake_case field, a string
    confidence, a missing intent."""
    _, intent = answer_messages(PARSE, REQUEST)
    good = json.loads(intent[1])
    bad_key = {**good, "site_id": good["siteId"]}
    bad_type = {**good, "intent": {"intentName": "X", "confidenceScore": "high"}}
    missing = {k: v for k, v in good.items() if k != "intent"}
    verdicts = judge.check(
        [
            ("NluIntent", intent[0], bad_key),
            ("NluIntent", intent[0], bad_type),
            ("NluIntent", intent[0], missing),
            ("NluIntent", "hermes/nlu/intentParsed", good),
        ]
    )
    assert [v["ok"] for v in verdicts] == [False, False, False, False]


# --- through the engine (a scripted model: real softmax, no ONNX file) ---------------

HOME = """
topics:
  hermes: {enabled: true, act: %s}
devices:
  - {id: lamp, name: Reading Lamp, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/Lamp, area: den}
  - {id: door, name: Front Door, kind: lock, protocol: zigbee2mqtt, topic: zigbee2mqtt/Door, area: hall}
"""


class Scripted:
    """A backend that answers with chosen logits, so the confidences in the
    payloads must come from the model's own softmax."""

    name = "scripted"

    def __init__(self) -> None:
        self.intent = "HassTurnOn"
        self.confidence = 0.9
        self.tags: list[str] = []
        self.word_ids: list[int | None] = []

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        rest = np.log((1 - self.confidence) / (len(INTENTS) - 1))
        logits = np.full((1, len(INTENTS)), rest, dtype=np.float32)
        logits[0, INTENTS.index(self.intent)] = np.log(self.confidence)
        bio = bio_labels()
        slots = np.full((1, input_ids.shape[1], len(bio)), -4.0, dtype=np.float32)
        for i, w in enumerate(self.word_ids):
            tag = "O" if w is None or w >= len(self.tags) else self.tags[w]
            slots[0, i, bio.index(tag)] = 4.0 + i * 0.5  # a different certainty per token
        return logits, slots


def _engine(tmp_path: Path, act: bool) -> tuple[Engine, Scripted]:
    shutil.copyfile(default_model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "labels.json").write_text(
        json.dumps({"intents": list(INTENTS), "slots": [], "bio": bio_labels(), "max_tokens": 48})
    )
    backend = Scripted()
    model = NluModel(tmp_path, backend=backend, confidence_floor=0.5)
    cfg = parse_config(HOME % ("true" if act else "false"))
    return Engine.from_config(cfg, model), backend


@dataclasses.dataclass
class Answered:
    """What `edged run` publishes for one request besides the result event:
    the engine's outcome and the Hermes transport's messages for it."""

    result: ResultEvent
    commands: list[ActionOut]
    extra_messages: list[tuple[str, str]]


def _answered(engine: Engine, item: Utterance | InboundError, outcome: Outcome) -> Answered:
    hermes = HermesTransport(engine.cfg, LIMITS)
    return Answered(outcome.result, outcome.commands, hermes.messages(item, outcome, Answer.NEW))


def _query(
    engine: Engine,
    backend: Scripted,
    body: dict[str, Any],
    intent: str,
    tags: list[str],
    conf: float,
) -> Any:
    # Decoded by the transport's route, as `edged run` does (act from the config).
    item = HermesTransport(engine.cfg, LIMITS).decode("hermes/nlu/query", json.dumps(body).encode())
    assert isinstance(item, HermesUtterance)
    backend.intent, backend.tags, backend.confidence = intent, tags, conf
    backend.word_ids = engine.model.tokenizer.encode(clean_text(item.text)).word_ids
    return _answered(engine, item, engine.handle(item, time.time()))


TURN_ON = ["O", "O", "O", "B-name", "I-name"]


def test_parse_only_answers_without_touching_devices(tmp_path: Path, judge: Judge) -> None:
    engine, backend = _engine(tmp_path, act=False)
    body = {"input": "turn on the reading lamp", "siteId": "den", "id": "q1", "sessionId": "s1"}
    out = _query(engine, backend, body, "HassTurnOn", TURN_ON, 0.83)
    assert out.commands == [] and out.result.status == "parsed"
    msgs = _decoded(out.extra_messages)
    intent = msgs["hermes/intent/HassTurnOn"]
    assert intent["intent"]["confidenceScore"] == pytest.approx(0.83, abs=1e-3)
    (slot,) = intent["slots"]
    assert slot["slotName"] == "name" and slot["rawValue"] == "reading lamp"
    assert 0.5 < slot["confidence"] < 1.0
    # Another confidence from the model, another confidence in the payload.
    out2 = _query(engine, backend, {**body, "id": "q2"}, "HassTurnOn", TURN_ON, 0.71)
    intent2 = _decoded(out2.extra_messages)["hermes/intent/HassTurnOn"]
    assert intent2["intent"]["confidenceScore"] == pytest.approx(0.71, abs=1e-3)
    verdicts = judge.check(
        [
            ("NluIntentParsed", INTENT_PARSED_TOPIC, msgs[INTENT_PARSED_TOPIC]),
            ("NluIntent", "hermes/intent/HassTurnOn", intent),
        ]
    )
    assert all(v["ok"] for v in verdicts), verdicts


def test_act_true_also_executes(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=True)
    body = {"input": "turn on the reading lamp", "siteId": "den", "id": "q1"}
    out = _query(engine, backend, body, "HassTurnOn", TURN_ON, 0.9)
    assert out.result.status == "executed"
    assert [(c.topic, json.loads(c.payload)) for c in out.commands] == [
        ("zigbee2mqtt/Lamp/set", {"state": "ON"})
    ]
    assert "hermes/intent/HassTurnOn" in _decoded(out.extra_messages)


def test_intent_filter_stops_the_action_too(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=True)
    body = {"input": "turn on the reading lamp", "id": "q3", "intentFilter": ["HassTurnOff"]}
    out = _query(engine, backend, body, "HassTurnOn", TURN_ON, 0.9)
    assert out.commands == [] and out.result.status == "not_recognized"
    assert list(_decoded(out.extra_messages)) == [NOT_RECOGNIZED_TOPIC]


def test_out_of_scope_is_not_recognized(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=False)
    body = {"input": "what's the weather like", "siteId": "den", "id": "q4"}
    out = _query(engine, backend, body, "OutOfScope", [], 0.95)
    assert out.result.status == "not_recognized"
    msgs = _decoded(out.extra_messages)
    assert msgs[NOT_RECOGNIZED_TOPIC]["id"] == "q4"


def test_bad_query_and_overload_answer_on_hermes_error(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path, act=False)
    bad = decode_query("hermes/nlu/query", b'{"siteId": "den", "sessionId": "s5"}', LIMITS)
    out = _answered(engine, bad, engine.handle(bad, time.time()))
    assert out.result.status == "error"
    err = _decoded(out.extra_messages)[ERROR_TOPIC]
    assert err["siteId"] == "den" and err["sessionId"] == "s5" and "input" in err["error"]
    ok = decode_query("hermes/nlu/query", b'{"input": "lights on", "siteId": "den"}', LIMITS)
    over = _answered(engine, ok, engine.overloaded(ok, time.time()))
    assert "overloaded" in _decoded(over.extra_messages)[ERROR_TOPIC]["error"]


def test_edged_utterances_get_no_hermes_messages(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=False)
    backend.intent, backend.tags, backend.confidence = "HassTurnOn", TURN_ON, 0.9
    backend.word_ids = engine.model.tokenizer.encode("turn on the reading lamp").word_ids
    now = time.time()
    said = Utterance("turn on the reading lamp", "u1", "den", None, None, "t", now)
    out = _answered(engine, said, engine.handle(said, now))
    assert out.result.status == "executed" and out.extra_messages == []


# --- act: true, the dialogue: every session is ended or continued -------------------


def test_act_true_ends_the_session_with_the_sentence(tmp_path: Path, judge: Judge) -> None:
    engine, backend = _engine(tmp_path, act=True)
    body = {"input": "turn on the reading lamp", "siteId": "den", "sessionId": "s1",
            "customData": "from-rhasspy"}  # fmt: skip
    out = _query(engine, backend, body, "HassTurnOn", TURN_ON, 0.9)
    assert out.result.status == "executed"
    topics = [t for t, _ in out.extra_messages]
    assert topics == [INTENT_PARSED_TOPIC, "hermes/intent/HassTurnOn", END_SESSION_TOPIC]
    end = _decoded(out.extra_messages)[END_SESSION_TOPIC]
    assert end == {"sessionId": "s1", "text": "Turned on the Reading Lamp.",
                   "customData": "from-rhasspy"}  # fmt: skip
    verdicts = judge.check([("DialogueEndSession", END_SESSION_TOPIC, end)])
    assert all(v["ok"] for v in verdicts), verdicts


def test_act_true_continues_for_a_confirmation_and_announces_no_intent(
    tmp_path: Path, judge: Judge
) -> None:
    engine, backend = _engine(tmp_path, act=True)
    body = {"input": "unlock the front door", "siteId": "hall", "sessionId": "s2"}
    out = _query(engine, backend, body, "HassTurnOff", ["O", "O", "B-name", "I-name"], 0.97)
    assert out.result.status == "needs_confirmation" and out.commands == []
    msgs = _decoded(out.extra_messages)
    # An intent handler on hermes/intent/# must not act on what waits for a "yes".
    assert not [t for t in msgs if t.startswith("hermes/intent/")]
    cont = msgs[CONTINUE_SESSION_TOPIC]
    assert cont["sessionId"] == "s2" and cont["sendIntentNotRecognized"] is True
    assert cont["text"] == "Do you want to unlock the Front Door? Say yes to confirm."
    assert END_SESSION_TOPIC not in msgs
    verdicts = judge.check([("DialogueContinueSession", CONTINUE_SESSION_TOPIC, cont)])
    assert all(v["ok"] for v in verdicts), verdicts
    # The "yes" comes in the same session: done, and the session ends saying so.
    yes = {"input": "yes", "siteId": "hall", "sessionId": "s2"}
    out = _query(engine, backend, yes, "OutOfScope", [], 0.9)
    assert out.result.status == "executed"
    assert [c.topic for c in out.commands] == ["zigbee2mqtt/Door/set"]
    end = _decoded(out.extra_messages)[END_SESSION_TOPIC]
    assert end["sessionId"] == "s2" and end["text"] == "Unlocked the Front Door."


def test_act_true_ends_not_recognised_and_failed_sessions(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=True)
    body = {"input": "what's the weather like", "siteId": "den", "sessionId": "s3"}
    out = _query(engine, backend, body, "OutOfScope", [], 0.95)
    end = _decoded(out.extra_messages)[END_SESSION_TOPIC]
    assert end["text"] == "Sorry, I couldn't understand that."
    bad = decode_query("hermes/nlu/query", b'{"siteId": "den", "sessionId": "s4"}', LIMITS)
    msgs = _decoded(_answered(engine, bad, engine.handle(bad, time.time())).extra_messages)
    assert ERROR_TOPIC in msgs and msgs[END_SESSION_TOPIC]["sessionId"] == "s4"
    assert msgs[END_SESSION_TOPIC]["text"].startswith("Sorry")


def test_parse_only_leaves_the_dialogue_to_rhasspy(tmp_path: Path) -> None:
    engine, backend = _engine(tmp_path, act=False)
    body = {"input": "turn on the reading lamp", "siteId": "den", "sessionId": "s5"}
    out = _query(engine, backend, body, "HassTurnOn", TURN_ON, 0.9)
    topics = [t for t, _ in out.extra_messages]
    assert END_SESSION_TOPIC not in topics and CONTINUE_SESSION_TOPIC not in topics
