"""The engine with devices' reported state: questions answered from it,
relative heating, volume steps, mute and media commands naming no player,
each driven by a fixed parse (the intents a retrained model will emit) down
to the exact MQTT messages, with no broker."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from edged.config import parse_config
from edged.engine import Engine, Outcome
from edged.messages import InboundError, Utterance
from edged.nlu.model import NluModel, default_model_dir
from edged.nlu.schema import bio_labels
from edged.nlu.types import Parse, Slot
from tests.test_engine_custom import INTENTS_X, Scripted

CONFIG = """
areas:
  - {id: living_room, name: Living Room}
  - {id: bedroom, name: Bedroom}
  - {id: garage, name: Garage}
  - {id: garden, name: Garden}
  - {id: hall, name: Hall}
devices:
  - {id: front_door, name: Front Door, area: hall, kind: lock, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Front, confirm: false}
  - {id: trv, name: Bedroom Thermostat, area: bedroom, kind: climate, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/TRV}
  - id: garage_door
    name: Garage Door
    area: garage
    kind: cover
    device_class: garage
    protocol: homeassistant
    command_topics: {command: home/garage/set}
    state_topic: home/garage/state
  - {id: outdoor, name: Outdoor Temperature, area: garden, kind: sensor,
     device_class: temperature, protocol: template, state_topic: weather/now, state_path: t}
  - id: tv
    name: TV
    area: living_room
    kind: media_player
    protocol: homeassistant
    command_topics: {command: home/tv/cmd, volume: home/tv/volume}
    state_topic: home/tv/state
  - id: speaker
    name: Living Room Speaker
    area: living_room
    kind: media_player
    protocol: template
    state_topic: snap/speaker/status
    state_path: status
    template: {topic: "snap/speaker/control", payload: '{"op": "{op}", "step": "{step}"}'}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    # The NLU is not run: each test hands the engine its parse.
    shutil.copyfile(default_model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "labels.json").write_text(
        json.dumps({"intents": INTENTS_X, "slots": [], "bio": bio_labels(), "max_tokens": 48})
    )
    model = NluModel(tmp_path, backend=Scripted(), confidence_floor=0.5)
    return Engine.from_config(parse_config(CONFIG), model)


def report(engine: Engine, topic: str, payload: Any, age_s: float = 0.0) -> None:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    problems = engine.state.feed(
        topic, raw.encode(), mono=time.monotonic() - age_s, wall=time.time() - age_s
    )
    assert problems == []


def handle(
    engine: Engine, intent: str, text: str, site: str | None = None, **slots: Any
) -> Outcome:
    built = []
    for name, (spoken, value) in slots.items():
        start = text.index(spoken)
        built.append(Slot(name, spoken, start, start + len(spoken), value))
    parse = Parse(text, intent, 0.98, tuple(built))
    now = time.time()
    return engine.handle(Utterance(text, "r1", site, None, None, "t", now), now, parse=parse)


def sent(out: Outcome) -> list[tuple[str, str]]:
    return [(c.topic, c.payload) for c in out.commands]


def test_a_question_is_answered_from_state(engine: Engine) -> None:
    report(engine, "home/garage/state", "open", age_s=30)
    out = handle(
        engine, "HassGetState", "is the garage door open", device_class=("garage door", "garage")
    )
    assert out.result.status == "executed" and out.result.error is None
    assert sent(out) == []  # nothing asked of the device
    state = out.result.to_dict()["state"]
    assert state["device"] == "garage_door" and state["value"] == "open" and state["unit"] is None
    assert 29 <= state["age_s"] <= 32
    assert out.result.speech == "The Garage Door is open."
    assert out.result.response_type == "query_answer"


def test_the_outdoor_temperature(engine: Engine) -> None:
    report(engine, "weather/now", {"t": 4.5, "wind": 3})
    out = handle(
        engine,
        "HassClimateGetTemperature",
        "what is the outdoor temperature",
        area=("outdoor", "outdoor"),
    )
    assert out.result.status == "executed"
    state = out.result.state
    assert state is not None and state["age_s"] < 5
    assert state == {"device": "outdoor", "value": 4.5, "unit": "°C", "age_s": state["age_s"]}
    assert out.result.speech == "The Outdoor Temperature is 4.5 °C."


def test_no_state_known_says_so_and_guesses_nothing(engine: Engine) -> None:
    out = handle(
        engine, "HassGetState", "is the garage door open", device_class=("garage door", "garage")
    )
    assert out.result.status == "error"
    assert (
        out.result.error == "I don't know the state of the Garage Door: it hasn't reported it yet"
    )
    assert out.result.state == {"device": "garage_door", "value": None, "unit": None, "age_s": None}
    # The reason stays in `error`; the sentence says it without guessing.
    assert out.result.speech == (
        "Sorry, I don't know the state of the Garage Door: it hasn't reported it yet."
    )
    assert out.result.response_type == "error"
    assert sent(out) == []  # homeassistant has no state request: nothing unanswered goes out
    # zigbee2mqtt is asked to report; its answer lands in the state for next time.
    out = handle(
        engine,
        "HassClimateGetTemperature",
        "what is the temperature in the bedroom",
        area=("bedroom", "bedroom"),
    )
    assert out.result.status == "error" and out.result.state is not None
    assert sent(out) == [
        ("zigbee2mqtt/TRV/get", '{"current_heating_setpoint":"","local_temperature":""}')
    ]
    report(engine, "zigbee2mqtt/TRV", {"local_temperature": 18.5, "current_heating_setpoint": 20})
    out = handle(
        engine,
        "HassClimateGetTemperature",
        "what is the temperature in the bedroom",
        area=("bedroom", "bedroom"),
    )
    assert out.result.status == "executed" and sent(out) == []
    assert out.result.state is not None and out.result.state["value"] == 18.5


def test_relative_heating_moves_the_setpoint_by_the_step(engine: Engine) -> None:
    out = handle(engine, "EdgedTemperatureUp", "warm up the bedroom", area=("bedroom", "bedroom"))
    assert out.result.status == "error" and sent(out) == []
    assert out.result.error == "I don't know what the Bedroom Thermostat is set to"
    report(engine, "zigbee2mqtt/TRV", {"current_heating_setpoint": 20})
    out = handle(engine, "EdgedTemperatureUp", "warm up the bedroom", area=("bedroom", "bedroom"))
    assert out.result.status == "executed"
    assert sent(out) == [("zigbee2mqtt/TRV/set", '{"current_heating_setpoint":21}')]
    out = handle(
        engine,
        "EdgedTemperatureDown",
        "bedroom heating down by 2 degrees",
        name=("bedroom heating", "bedroom heating"),
        temperature=("2 degrees", 2.0),
    )
    assert sent(out) == [("zigbee2mqtt/TRV/set", '{"current_heating_setpoint":18}')]


def test_volume_without_a_number_and_mute_act_on_the_playing_player_only(engine: Engine) -> None:
    report(engine, "home/tv/state", {"state": "idle", "volume": 30})
    report(engine, "snap/speaker/status", {"status": "playing"})
    out = handle(
        engine, "EdgedVolumeUp", "crank up the volume", "living_room", volume_step=("up", None)
    )
    assert out.result.status == "executed", out.result.error
    assert sent(out) == [("snap/speaker/control", '{"op": "volume", "step": "10"}')]
    out = handle(engine, "HassMediaPlayerMute", "mute", "living_room")
    assert sent(out) == [("snap/speaker/control", '{"op": "mute", "step": ""}')]
    out = handle(engine, "HassMediaPause", "pause the song", "living_room")
    assert sent(out) == [("snap/speaker/control", '{"op": "pause", "step": ""}')]


def test_the_tv_volume_is_made_absolute_from_its_state(engine: Engine) -> None:
    report(engine, "home/tv/state", {"state": "playing", "volume": 30})
    out = handle(engine, "EdgedVolumeDown", "turn the tv down", domain=("tv", "media_player"))
    assert sent(out) == [("home/tv/volume", "20")]
    out = handle(engine, "HassMediaPlayerUnmute", "unmute the tv", domain=("tv", "media_player"))
    assert sent(out) == [("home/tv/cmd", "UNMUTE")]


def test_every_status_says_something_with_a_response_type(engine: Engine) -> None:
    seen: dict[str, tuple[str, str]] = {}

    def said(out: Outcome) -> None:
        r = out.result
        assert r.speech.strip() and r.response_type in ("action_done", "query_answer", "error")
        assert r.to_dict()["speech"] == r.speech
        seen[r.status + ("" if r.status != "executed" else f":{len(r.actions)}")] = (
            r.speech,
            r.response_type,
        )

    said(handle(engine, "HassTurnOff", "turn off the tv", domain=("tv", "media_player")))
    assert seen["executed:1"] == ("Turned off the TV.", "action_done")
    said(handle(engine, "HassTurnOn", "open the garage door", "garage",
                device_class=("garage door", "garage")))  # fmt: skip
    assert seen["needs_confirmation"] == (
        "Do you want to open the Garage Door? Say yes to confirm.",
        "query_answer",
    )
    said(handle(engine, "HassTurnOn", "yes", "garage"))
    assert seen["executed:1"] == ("Opened the Garage Door.", "action_done")
    said(handle(engine, "HassNevermind", "never mind"))
    assert seen["executed:0"] == ("Okay, cancelled.", "action_done")
    said(handle(engine, "HassTurnOff", "unlock the front door", name=("front door", "Front Door")))
    assert seen["refused"] == (
        "Sorry, I'm not allowed to unlock the Front Door by voice.",
        "error",
    )
    said(handle(engine, None, "blah blah"))  # type: ignore[arg-type]
    assert seen["not_recognized"] == ("Sorry, I couldn't understand that.", "error")
    now = time.time()
    said(
        engine.handle(InboundError("broken JSON: x at line 1 column 2", "t", "e1", None, now), now)
    )
    assert seen["error"] == ("Sorry, I couldn't read that request.", "error")
    said(engine.overloaded(Utterance("hi", "o1", None, None, None, "t", now), now))
    assert seen["error"] == ("Sorry, I'm busy right now. Please say it again.", "error")
    assert {k.split(":")[0] for k in seen} == {
        "executed", "needs_confirmation", "refused", "not_recognized", "error"
    }  # fmt: skip


def test_a_result_turned_into_an_error_after_the_engine_stops_claiming_success(
    engine: Engine,
) -> None:
    from edged.delivery import settle

    out = handle(engine, "HassTurnOff", "turn off the tv", domain=("tv", "media_player"))
    assert out.result.response_type == "action_done"
    refused = engine.reword(settle(out.result, out.commands, [0x87] * len(out.commands)))
    assert refused.status == "error" and refused.error and "refused" in refused.error
    assert (refused.speech, refused.response_type) == (
        "Sorry, that may not have been done; the command did not get through.",
        "error",
    )
    fine = engine.reword(settle(out.result, out.commands, [0] * len(out.commands)))
    assert fine.speech == "Turned off the TV." and fine.response_type == "action_done"
