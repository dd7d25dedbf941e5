"""Hermes round trips through a real Mosquitto, judged by rhasspy-hermes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Broker, Probe, Received, running_broker
from tests.integration.conftest import (
    DaemonProcess,
    base_config,
    result_for,
    start_online,
    wait_quiet,
)
from tests.rhasspy_hermes import Judge, ensure_env

NOT_RECOGNIZED = "hermes/nlu/intentNotRecognized"
PARSED = "hermes/nlu/intentParsed"
DEVICE_PREFIXES = ("zigbee2mqtt/", "cmnd/", "home/")


def rid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def judge() -> Judge:
    try:
        return Judge(ensure_env())
    except RuntimeError as e:  # pragma: no cover - only without a route to PyPI
        pytest.fail(str(e))


def _start(port: int, workdir: Path, act: bool, name: str) -> DaemonProcess:
    cfg = base_config(
        port,
        topics={"hermes": {"enabled": True, "act": act}},
        state_dir=str(workdir / "state"),
    )
    cfg["mqtt"]["client_id"] = f"edged-{name}-{port}"
    return start_online(port, cfg, workdir, name=name)


@pytest.fixture(scope="module")
def nlu_only(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """edged as Rhasspy's NLU service: topics.hermes {enabled: true, act: false}."""
    d = _start(broker.port, tmp_path_factory.mktemp("hermes"), act=False, name="hermes")
    yield d
    d.stop()


def _answer(probe: Probe, request_id: str, topic_prefix: str, timeout: float = 10.0) -> Received:
    def match(m: Received) -> bool:
        if not m.topic.startswith(topic_prefix):
            return False
        try:
            return bool(json.loads(m.payload).get("id") == request_id)
        except ValueError:
            return False

    return probe.wait_for(match, timeout)[0]


def _ask(probe: Probe, judge: Judge, **query: Any) -> str:
    """Publish an NluQuery exactly as rhasspy-hermes builds it."""
    q = judge.query(**query)
    probe.publish(q["topic"], q["payload"])
    return str(query.get("id"))


def test_query_is_answered_with_intent_and_intent_parsed(
    nlu_only: DaemonProcess, probe: Probe, judge: Judge
) -> None:
    i = _ask(
        probe,
        judge,
        input="turn on the kitchen ceiling light",
        site_id="kitchen",
        id=rid(),
        session_id="session-1",
    )
    intent_msg = _answer(probe, i, "hermes/intent/")
    parsed_msg = _answer(probe, i, PARSED)
    assert intent_msg.topic == "hermes/intent/HassTurnOn"
    intent, parsed = json.loads(intent_msg.payload), json.loads(parsed_msg.payload)
    assert (intent["id"], intent["siteId"], intent["sessionId"]) == (i, "kitchen", "session-1")
    assert intent["input"] == "turn on the kitchen ceiling light"
    assert 0.5 < intent["intent"]["confidenceScore"] <= 1.0
    assert parsed["intent"] == intent["intent"] and parsed["slots"] == intent["slots"]
    assert intent["slots"], intent
    for slot in intent["slots"]:
        r = slot["range"]
        assert intent["input"][r["start"] : r["end"]] == slot["rawValue"]
        assert 0.0 < slot["confidence"] <= 1.0
    verdicts = judge.check(
        [
            ("NluIntent", intent_msg.topic, intent),
            ("NluIntentParsed", parsed_msg.topic, parsed),
        ]
    )
    assert all(v["ok"] for v in verdicts), verdicts
    assert verdicts[0]["intent_from_topic"] == "HassTurnOn"
    # Parse only: no device was told anything.
    result = result_for(probe, i)
    assert result["status"] == "parsed" and result["actions"] == []
    wait_quiet()
    assert not [m for m in probe.messages if m.topic.startswith(DEVICE_PREFIXES)]


def test_confidences_are_the_models_not_constants(
    nlu_only: DaemonProcess, probe: Probe, judge: Judge
) -> None:
    scores = set()
    for text in (
        "turn on the kitchen ceiling light",
        "switch on the coffee maker",
        "please turn on the reading lamp in the lounge",
    ):
        i = _ask(probe, judge, input=text, site_id="kitchen", id=rid())
        intent = json.loads(_answer(probe, i, "hermes/intent/").payload)
        scores.add(intent["intent"]["confidenceScore"])
        scores.update(s["confidence"] for s in intent["slots"])
    assert len(scores) > 3, scores


def test_nonsense_is_not_recognized(nlu_only: DaemonProcess, probe: Probe, judge: Judge) -> None:
    i = _ask(
        probe,
        judge,
        input="what's the weather like tomorrow in paris",
        site_id="bedroom",
        id=rid(),
        session_id="session-2",
        custom_data="ctx-42",
    )
    msg = _answer(probe, i, NOT_RECOGNIZED)
    body = json.loads(msg.payload)
    assert (body["id"], body["siteId"], body["sessionId"], body["customData"]) == (
        i,
        "bedroom",
        "session-2",
        "ctx-42",
    )
    (verdict,) = judge.check([("NluIntentNotRecognized", msg.topic, body)])
    assert verdict["ok"], verdict
    assert not [m for m in probe.messages if m.topic.startswith("hermes/intent/")]


def test_intent_filter(nlu_only: DaemonProcess, probe: Probe, judge: Judge) -> None:
    i = _ask(
        probe,
        judge,
        input="turn on the kitchen ceiling light",
        id=rid(),
        intent_filter=["HassTurnOff", "HassLightSet"],
    )
    body = json.loads(_answer(probe, i, NOT_RECOGNIZED).payload)
    assert body["siteId"] == "default"
    j = _ask(
        probe,
        judge,
        input="turn on the kitchen ceiling light",
        id=rid(),
        intent_filter=["HassTurnOn"],
    )
    assert _answer(probe, j, "hermes/intent/").topic == "hermes/intent/HassTurnOn"


def test_bad_query_is_answered_on_hermes_error(
    nlu_only: DaemonProcess, probe: Probe, judge: Judge
) -> None:
    probe.publish("hermes/nlu/query", b'{"siteId": "hall", "sessionId": "s-bad", "id": "x1"}')
    msg = probe.wait_for(lambda m: m.topic == "hermes/error/nlu")[0]
    body = json.loads(msg.payload)
    assert body["siteId"] == "hall" and body["sessionId"] == "s-bad" and "input" in body["error"]
    probe.publish("hermes/nlu/query", b"turn on the light")
    second = probe.wait_for(lambda m: m.topic == "hermes/error/nlu", count=2)[1]
    assert "JSON" in json.loads(second.payload)["error"]
    verdicts = judge.check([("NluError", msg.topic, body)])
    assert verdicts[0]["ok"], verdicts
    # Still serving.
    i = _ask(probe, judge, input="turn off the reading lamp", id=rid())
    assert _answer(probe, i, "hermes/intent/").topic == "hermes/intent/HassTurnOff"


def test_act_true_also_drives_the_devices(tmp_path: Path, judge: Judge) -> None:
    with running_broker(tmp_path) as broker:
        d = _start(broker.port, tmp_path, act=True, name="hermes-act")
        probe = Probe(broker.port).connect()
        try:
            i = _ask(
                probe,
                judge,
                input="switch on the coffee maker",
                site_id="kitchen",
                id=rid(),
                session_id="act-1",
            )
            assert _answer(probe, i, "hermes/intent/").topic == "hermes/intent/HassTurnOn"
            assert probe.wait_for(lambda m: m.topic == "cmnd/coffee/POWER")[0].payload == b"ON"
            r = result_for(probe, i)
            assert r["status"] == "executed"
            assert (
                r["speech"] == "Turned on the Coffee Maker." and r["response_type"] == "action_done"
            )
            # edged acted, so it ends Rhasspy's session, saying what it did.
            end = probe.wait_for(lambda m: m.topic == "hermes/dialogueManager/endSession")[0]
            body = json.loads(end.payload)
            assert body["sessionId"] == "act-1" and body["text"] == "Turned on the Coffee Maker."
            verdicts = judge.check([("DialogueEndSession", end.topic, body)])
            assert verdicts[0]["ok"], verdicts
            # Unlocking waits for a "yes": the session continues with the
            # question, and no hermes/intent/... goes out for it.
            u = _ask(
                probe,
                judge,
                input="unlock the front door",
                site_id="hallway",
                id=rid(),
                session_id="act-2",
            )
            assert result_for(probe, u)["status"] == "needs_confirmation"
            cont = probe.wait_for(lambda m: m.topic == "hermes/dialogueManager/continueSession")
            body = json.loads(cont[0].payload)
            assert body["sessionId"] == "act-2" and body["text"].startswith("Do you want to unlock")
            with probe.cond:
                intents = [
                    json.loads(m.payload)
                    for m in probe.messages
                    if m.topic.startswith("hermes/intent/")
                ]
            assert [m["id"] for m in intents] == [i]  # only the coffee maker's
        finally:
            probe.close()
            d.stop()
