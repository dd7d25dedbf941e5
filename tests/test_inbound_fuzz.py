"""Property-based fuzzing of the inbound path: bytes off the wire -> decode ->
engine (NLU, resolve, policy, render). No payload may crash it; each gets a
result or an error; no command ever goes to a topic the config does not name."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edged.config import load_config
from edged.engine import Engine
from edged.messages import Limits, decode_inbound
from edged.nlu.model import NluModel, default_model_dir
from edged.transports.mqtt import result_topic

HOME = Path(__file__).parent / "integration" / "home.yaml"
STATUSES = {"executed", "not_recognized", "needs_confirmation", "refused", "error"}
PATTERNS = ["edged/utterance", "edged/+/utterance"]
WORDS = [
    "turn",
    "on",
    "off",
    "of",
    "the",
    "kitchen",
    "lights",
    "reading",
    "lamp",
    "it",
    "them",
    "set",
    "to",
    "twenty",
    "one",
    "degrees",
    "percent",
    "unlock",
    "front",
    "door",
    "yes",
    "no",
    "fan",
    "bedroom",
    "coffee",
    "maker",
    "blue",
    "dim",
    "brighter",
    "{",
    "}",
    "#",
    "+",
    "/",
    "$SYS",
    "zigbee2mqtt/evil/set",
    "cmnd/evil/POWER",
    "\u202e",
    "\x00",
    "ü",
    "🙂",
]

utterance_text = st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join) | st.text(max_size=120)
json_payloads = st.fixed_dictionaries(
    {"text": utterance_text},
    optional={
        "id": st.one_of(st.text(max_size=20), st.integers(), st.none(), st.floats()),
        "site": st.one_of(
            st.sampled_from(["kitchen", "bedroom", "hallway", "a/b", "+", ""]),
            st.text(max_size=10),
            st.integers(),
        ),
        "ts": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=5)),
        "reply_to": st.one_of(
            st.sampled_from(["hub/answers", "#", "a/+/b", "$SYS/x", ""]), st.text(max_size=10)
        ),
        "extra": st.recursive(
            st.none() | st.booleans() | st.integers(),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
            max_leaves=20,
        ),
    },
).map(lambda d: json.dumps(d).encode())
payloads = st.one_of(
    st.binary(max_size=300),
    utterance_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_payloads,
    st.recursive(
        st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
        max_leaves=40,
    ).map(lambda o: json.dumps(o).encode()),
    st.just(b"[" * 5000),
    st.just(b"x" * 40000),
)
topics = st.sampled_from(
    ["edged/utterance", "edged/kitchen/utterance", "edged/bedroom/utterance", "edged/x/y/utterance"]
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    if not (default_model_dir() / "model.onnx").is_file():
        pytest.fail("the shipped model is missing")
    cfg = load_config(HOME)
    return Engine.from_config(
        cfg, NluModel(cfg.nlu.model_dir, confidence_floor=cfg.nlu.confidence_floor)
    )


# Tasmota's commands as its docs name them, written out here rather than taken
# from the renderer, so a wrong command (or a slot's text in a topic) fails.
TASMOTA_COMMANDS = ("Dimmer", "Color", "CT", "FanSpeed", "STATE")
TASMOTA_SHUTTER_COMMANDS = ("ShutterOpen", "ShutterClose", "ShutterStop", "ShutterPosition")


def _expected_command_topics(engine: Engine) -> set[str]:
    """Every topic a command may go to: exactly those the config's devices name."""
    allowed: set[str] = set()
    for d in engine.cfg.devices:
        if d.protocol == "zigbee2mqtt":
            allowed |= {f"{d.topic}/set", f"{d.topic}/get"}
        elif d.protocol == "homeassistant":
            allowed |= set(d.command_topics.values())
        elif d.protocol == "tasmota":
            relay = d.options.relay or ""
            shutter = d.options.shutter
            allowed.add(f"cmnd/{d.topic}/POWER{relay}")
            allowed |= {f"cmnd/{d.topic}/{c}" for c in TASMOTA_COMMANDS}
            allowed |= {f"cmnd/{d.topic}/{c}{shutter}" for c in TASMOTA_SHUTTER_COMMANDS}
        else:
            raise AssertionError(f"the fuzz home has a {d.protocol} device: list its topics")
    return allowed


def test_the_expected_topics_are_exact(engine: Engine) -> None:
    """The allow-list names whole topics: a near miss is not in it."""
    allowed = _expected_command_topics(engine)
    assert "cmnd/reading_lamp/POWER" in allowed
    for wrong in ("cmnd/reading_lamp/POWER2", "cmnd/reading_lamp/Backlog", "cmnd/evil/POWER"):
        assert wrong not in allowed


def _one_payload(engine: Engine, topic: str, payload: bytes) -> None:
    allowed = _expected_command_topics(engine)
    item = decode_inbound(topic, payload, Limits(), PATTERNS)
    outcome = engine.handle(item, time.time())
    r = outcome.result
    assert r.status in STATUSES
    assert isinstance(json.loads(r.to_json()), dict)
    assert r.status == "error" or r.text
    for c in outcome.commands:
        assert c.topic in allowed, c.topic
    # reply_to is honoured only when it is a plain topic
    answered_on = result_topic(engine.cfg, item)
    assert not set("+#") & set(answered_on) and not answered_on.startswith("$")


_FUZZ = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# 1,000 payloads (a few seconds) in `make test`; 10,000 (~1.5 min) in `make test-all`.
@settings(max_examples=1_000, **_FUZZ)
@given(topic=topics, payload=payloads)
def test_any_payload_gets_a_result_and_commands_only_go_to_configured_topics(
    engine: Engine, topic: str, payload: bytes
) -> None:
    _one_payload(engine, topic, payload)


@pytest.mark.slow
@settings(max_examples=10_000, **_FUZZ)
@given(topic=topics, payload=payloads)
def test_ten_thousand_payloads(engine: Engine, topic: str, payload: bytes) -> None:
    _one_payload(engine, topic, payload)
