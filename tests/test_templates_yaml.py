"""The hassil training templates parse, name only known intents, and expand."""

from __future__ import annotations

import re
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest
import yaml
from hassil import Intents
from hassil.intents import TextSlotList
from hassil.sample import sample_intents

from edged.nlu.schema import INTENTS, OUT_OF_SCOPE

TEMPLATES = Path(__file__).resolve().parents[1] / "edged" / "training" / "templates"
FILES = ("colloquial.yaml", "out_of_scope.yaml", "phrasing.yaml")

# Lists the training sampler supplies at sampling time (never defined in the YAML).
SAMPLER_LISTS: dict[str, str] = {
    "name": "reading lamp",
    "area": "kitchen",
    "floor": "upstairs",
    "brightness": "40%",
    "brightness_step": "20 percent",
    "color": "blue",
    "temperature": "21",
    "position": "30%",
    "volume": "50%",
    "volume_step": "10",
    "fan_speed": "60%",
    "cover_classes": "blinds",
}

# {list} or {list:slot}; the list name is the part before the colon.
LIST_REF = re.compile(r"\{([^{}:]+)(?::[^{}]*)?\}")
RULE_REF = re.compile(r"<([^<>]+)>")


def _load(file_name: str) -> tuple[dict, Intents]:
    data = yaml.safe_load((TEMPLATES / file_name).read_text(encoding="utf-8"))
    return data, Intents.from_dict(data)


def _template_texts(data: dict) -> list[str]:
    """Every template string: sentences, expansion rules and list values."""
    texts: list[str] = []
    for intent in data["intents"].values():
        for block in intent["data"]:
            texts.extend(block["sentences"])
            texts.extend(block.get("expansion_rules", {}).values())
    texts.extend(data.get("expansion_rules", {}).values())
    for slot_list in data.get("lists", {}).values():
        for value in slot_list.get("values", []):
            texts.append(value["in"] if isinstance(value, dict) else str(value))
    return texts


@pytest.mark.parametrize("file_name", FILES)
def test_parses_and_intents_known(file_name: str) -> None:
    data, intents = _load(file_name)
    assert data["language"] == "en"
    assert set(intents.intents) <= set(INTENTS)
    for intent in intents.intents.values():
        for block in intent.data:
            # IntentData parses sentence templates lazily: force it here.
            assert block.sentences
            assert not block.wildcard_list_names


def test_colloquial_covers_every_intent_but_out_of_scope() -> None:
    _, intents = _load("colloquial.yaml")
    assert set(intents.intents) == set(INTENTS) - {OUT_OF_SCOPE}


def test_out_of_scope_is_one_big_intent() -> None:
    data, intents = _load("out_of_scope.yaml")
    assert set(intents.intents) == {OUT_OF_SCOPE}
    n = sum(len(b["sentences"]) for b in data["intents"][OUT_OF_SCOPE]["data"])
    assert n >= 300


@pytest.mark.parametrize("file_name", FILES)
def test_list_and_rule_references_resolve(file_name: str) -> None:
    data, _ = _load(file_name)
    defined_lists = set(data.get("lists", {}))
    assert not defined_lists & set(SAMPLER_LISTS), "sampler lists must not be redefined"
    defined_rules = set(data.get("expansion_rules", {}))
    for text in _template_texts(data):
        for list_name in LIST_REF.findall(text):
            assert list_name in defined_lists or list_name in SAMPLER_LISTS, (list_name, text)
        for rule_name in RULE_REF.findall(text):
            assert rule_name in defined_rules, (rule_name, text)


@pytest.mark.parametrize("file_name", FILES)
def test_templates_expand(file_name: str) -> None:
    _, intents = _load(file_name)
    dummy = {k: TextSlotList.from_strings([v]) for k, v in SAMPLER_LISTS.items()}
    counts: Counter[str] = Counter()
    for intent_name, text in islice(
        sample_intents(intents, slot_lists=dummy, max_sentences_per_intent=200), 5000
    ):
        assert text.strip()
        assert not LIST_REF.search(text) and not RULE_REF.search(text), text
        counts[intent_name] += 1
    assert set(counts) == set(intents.intents)
