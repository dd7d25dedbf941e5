"""Custom intents mapped to MQTT messages, through the engine (no broker)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from edged.config import parse_config
from edged.engine import Engine
from edged.messages import Utterance
from edged.nlu.model import NluModel, clean_text, default_model_dir
from edged.nlu.schema import INTENTS, bio_labels

INTENTS_X = [*INTENTS, "FeedFish", "GoodNight"]
CONFIG = """
policy: {confirm_timeout_s: 20}
devices:
  - {id: lamp, name: Lamp, kind: light, protocol: zigbee2mqtt, topic: zigbee2mqtt/Lamp, area: den}
custom_intents:
  FeedFish:
    actions:
      - {topic: cmnd/fish_feeder/POWER, payload: "ON"}
  GoodNight:
    confirm: true
    confidence_floor: 0.9
    actions:
      - {topic: home/scene/set, payload: '{"scene": "good_night", "area": "{area}", "said": "{text}"}'}
"""


class Scripted:
    name = "scripted"

    def __init__(self) -> None:
        self.intent = "FeedFish"
        self.confidence = 0.97
        self.tags: list[str] = []
        self.word_ids: list[int | None] = []

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        logits = np.full(
            (1, len(INTENTS_X)),
            np.log((1 - self.confidence) / (len(INTENTS_X) - 1)),
            dtype=np.float32,
        )
        logits[0, INTENTS_X.index(self.intent)] = np.log(self.confidence)
        bio = bio_labels()
        slots = np.full((1, input_ids.shape[1], len(bio)), -8.0, dtype=np.float32)
        for i, w in enumerate(self.word_ids):
            tag = "O" if w is None or w >= len(self.tags) else self.tags[w]
            slots[0, i, bio.index(tag)] = 8.0
        return logits, slots


@pytest.fixture
def engine(tmp_path: Path) -> tuple[Engine, Scripted]:
    shutil.copyfile(default_model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "labels.json").write_text(
        json.dumps({"intents": INTENTS_X, "slots": [], "bio": bio_labels(), "max_tokens": 48})
    )
    backend = Scripted()
    model = NluModel(tmp_path, backend=backend, confidence_floor=0.5)
    return Engine.from_config(parse_config(CONFIG), model), backend


def say(
    engine: Engine,
    backend: Scripted,
    text: str,
    intent: str,
    tags: list[str] | None = None,
    site: str = "den",
    confidence: float = 0.97,
):  # type: ignore[no-untyped-def]
    backend.intent, backend.tags, backend.confidence = intent, tags or [], confidence
    backend.word_ids = engine.model.tokenizer.encode(clean_text(text)).word_ids
    now = time.time()
    return engine.handle(Utterance(text, "x", site, None, None, "t", now), now)


def test_custom_intent_publishes_its_configured_message(engine) -> None:  # type: ignore[no-untyped-def]
    e, b = engine
    out = say(e, b, "feed the fish", "FeedFish")
    assert out.result.status == "executed"
    assert [(c.topic, c.payload) for c in out.commands] == [("cmnd/fish_feeder/POWER", "ON")]


def test_custom_intent_with_confirmation_and_slot_placeholders(engine) -> None:  # type: ignore[no-untyped-def]
    e, b = engine
    out = say(
        e, b, 'good night in the "den"', "GoodNight", ["O", "O", "O", "O", "O", "B-area", "O"]
    )
    assert out.result.status == "needs_confirmation" and out.commands == []
    yes = say(e, b, "yes", "OutOfScope")
    assert yes.result.status == "executed"
    (cmd,) = yes.commands
    assert cmd.topic == "home/scene/set"
    body = json.loads(cmd.payload)  # the quote in the text did not break the JSON
    assert body["scene"] == "good_night" and body["said"] == 'good night in the "den"'


def test_custom_floor_is_its_own(engine) -> None:  # type: ignore[no-untyped-def]
    e, b = engine
    out = say(e, b, "good night", "GoodNight", confidence=0.8)
    assert out.result.status == "not_recognized" and out.commands == []
    out = say(e, b, "feed the fish", "FeedFish", confidence=0.8)
    assert out.result.status == "executed"


def test_topics_cannot_take_placeholders() -> None:
    with pytest.raises(ValueError, match="placeholders are not allowed in a topic"):
        parse_config("custom_intents:\n  X:\n    actions: [{topic: 'a/{name}/b'}]\n")
