"""Engine.replace_home: a new home between utterances, and what it does to
a confirmation still waiting (no broker; a scripted model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edged.config import parse_config
from edged.engine import Engine
from edged.home import Home
from edged.nlu.model import NluModel, default_model_dir
from edged.nlu.schema import INTENTS, bio_labels
from tests.test_engine_custom import Scripted, say

HOME = """
devices:
  - {id: front_door, name: Front Door, kind: lock, protocol: zigbee2mqtt, topic: zigbee2mqtt/Front Door, area: hall}
  - {id: lamp, name: Lamp, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/Lamp, area: hall}
"""
UNLOCK = ["O", "O", "B-name", "I-name"]  # "unlock the front door"


@pytest.fixture
def engine(tmp_path: Path) -> tuple[Engine, Scripted]:
    shutil.copyfile(default_model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "labels.json").write_text(
        json.dumps({"intents": INTENTS, "slots": [], "bio": bio_labels(), "max_tokens": 48})
    )
    backend = Scripted()
    backend.intents = list(INTENTS)
    model = NluModel(tmp_path, backend=backend, confidence_floor=0.5)
    return Engine.from_config(parse_config(HOME), model), backend


def _swap(engine: Engine, text: str) -> None:
    cfg = parse_config(text)
    engine.replace_home(cfg, Home.from_config(cfg))


def test_the_next_utterance_uses_the_new_home(engine) -> None:  # type: ignore[no-untyped-def]
    eng, backend = engine
    _swap(eng, HOME.replace("zigbee2mqtt/Lamp", "zigbee2mqtt/Hall Lamp"))
    out = say(
        eng, backend, "turn on the lamp", "HassTurnOn", ["O", "O", "O", "B-name"], site="hall"
    )
    assert out.result.status == "executed"
    assert [c.topic for c in out.commands] == ["zigbee2mqtt/Hall Lamp/set"]


def test_a_waiting_confirmation_survives_an_unrelated_change(engine) -> None:  # type: ignore[no-untyped-def]
    eng, backend = engine
    asked = say(eng, backend, "unlock the front door", "HassTurnOff", UNLOCK, site="hall")
    assert asked.result.status == "needs_confirmation"
    _swap(eng, HOME.replace("name: Lamp", "name: Reading Lamp"))
    yes = say(eng, backend, "yes", "HassTurnOn", site="hall")
    assert yes.result.status == "executed"
    assert [(c.topic, c.payload) for c in yes.commands] == [
        ("zigbee2mqtt/Front Door/set", '{"state":"UNLOCK"}')
    ]


def test_a_confirmation_for_a_device_that_changed_is_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    eng, backend = engine
    asked = say(eng, backend, "unlock the front door", "HassTurnOff", UNLOCK, site="hall")
    assert asked.result.status == "needs_confirmation"
    assert len(eng.pending) == 1
    # The lock now answers on another topic: the "yes" was asked about the old one.
    _swap(eng, HOME.replace("zigbee2mqtt/Front Door", "zigbee2mqtt/Back Door"))
    assert len(eng.pending) == 0


def test_a_confirmation_for_a_removed_device_is_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    eng, backend = engine
    say(eng, backend, "unlock the front door", "HassTurnOff", UNLOCK, site="hall")
    assert len(eng.pending) == 1
    _swap(eng, HOME.replace("id: front_door", "id: back_door"))
    assert len(eng.pending) == 0
    no_answer = say(eng, backend, "yes", "HassTurnOn", site="hall")
    assert no_answer.commands == []
