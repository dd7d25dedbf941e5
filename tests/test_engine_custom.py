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
        self.bio = bio_labels()
        self.intents = INTENTS_X

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        logits = np.full(
            (1, len(self.intents)),
            np.log((1 - self.confidence) / (len(self.intents) - 1)),
            dtype=np.float32,
        )
        logits[0, self.intents.index(self.intent)] = np.log(self.confidence)
        bio = self.bio
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


SCENE_CONFIG = """
custom_intents:
  RunScene:
    required_slots: [scene]
    actions:
      - {topic: home/scene/set, payload: '{"scene": "{scene}", "delay_min": "{minutes}"}'}
"""


@pytest.fixture
def scene_engine(tmp_path: Path) -> tuple[Engine, Scripted]:
    """A model trained on a sentence file with its own lists: labels.json
    says what their words stand for (edged.training.data.own_slot_values)."""
    shutil.copyfile(default_model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    slots = ["scene", "minutes"]
    bio = ["O"] + [f"{p}-{s}" for s in slots for p in ("B", "I")]
    (tmp_path / "labels.json").write_text(
        json.dumps(
            {
                "intents": ["OutOfScope", "RunScene"],
                "slots": slots,
                "bio": bio,
                "max_tokens": 48,
                "slot_values": {
                    "scene": {
                        "values": {
                            "movie night": "movie_night",
                            "dinner": "dinner",
                            "dinner time": "dinner",
                        }
                    },
                    "minutes": {"number": True},
                },
            }
        )
    )
    backend = Scripted()
    backend.bio, backend.intents = bio, ["OutOfScope", "RunScene"]
    model = NluModel(tmp_path, backend=backend, confidence_floor=0.5)
    return Engine.from_config(parse_config(SCENE_CONFIG), model), backend


@pytest.mark.parametrize(
    ("text", "tags", "scene", "minutes"),
    [
        # the list's out value, not the words
        ("start movie night", ["O", "B-scene", "I-scene"], "movie_night", ""),
        # another spelling of the same value
        ("it is dinner time", ["O", "O", "B-scene", "I-scene"], "dinner", ""),
        # what a speech recogniser hands over, close to a value
        ("start the movie nite scene", ["O", "O", "B-scene", "I-scene", "O"], "movie_night", ""),
        # a range list's words read as a number
        (
            "wait twenty five minutes then start dinner",
            ["O", "B-minutes", "I-minutes", "O", "O", "O", "B-scene"],
            "dinner",
            "25",
        ),
        # words far from every value are passed on as heard, not dropped
        ("start karaoke", ["O", "B-scene"], "karaoke", ""),
    ],
)
def test_own_list_slots_fill_payloads_with_the_lists_values(
    scene_engine, text: str, tags: list[str], scene: str, minutes: str
) -> None:  # type: ignore[no-untyped-def]
    e, b = scene_engine
    out = say(e, b, text, "RunScene", tags)
    assert out.result.status == "executed", out.result
    (cmd,) = out.commands
    assert json.loads(cmd.payload) == {"scene": scene, "delay_min": minutes}


def test_a_required_own_slot_not_heard_is_an_error(scene_engine) -> None:  # type: ignore[no-untyped-def]
    e, b = scene_engine
    out = say(e, b, "start the scene", "RunScene", ["O", "O", "O"])
    assert out.result.status == "error" and "needs scene" in (out.result.error or "")
    assert out.commands == []


def test_config_problems_the_model_cannot_serve_are_named(scene_engine) -> None:  # type: ignore[no-untyped-def]
    from edged.engine import custom_intent_problems

    e, _ = scene_engine
    assert custom_intent_problems(e.cfg, e.model) == []  # scene and minutes: both trained
    cfg = parse_config(
        """
custom_intents:
  RunScene:
    required_slots: [scene]
    actions: [{topic: home/scene/set, payload: '{"scene": "{scnee}", "site": "{site}"}'}]
  FeedFsh:
    actions: [{topic: cmnd/fish_feeder/POWER, payload: "ON"}]
"""
    )
    problems = custom_intent_problems(cfg, e.model)
    assert len(problems) == 2, problems
    assert problems[0].startswith("custom_intents.RunScene: slot {scnee} is never filled")
    assert "trained with scene, minutes" in problems[0]
    assert problems[1].startswith("custom_intents.FeedFsh: the model in ")
    assert "has no intent 'FeedFsh'" in problems[1]
