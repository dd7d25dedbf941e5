"""Random sentences with slot spans from hassil templates.

`hassil.sample_intents` enumerates texts but keeps no spans and no randomness.
This sampler walks a template's expression tree, picks one branch at random at
every alternative, fills lists from generated vocabularies, and records which
characters came from which slot, so every sentence comes out with exact
character spans.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from hassil.expression import (
    Alternative,
    Expression,
    ListReference,
    Permutation,
    RuleReference,
    Sentence,
    Sequence,
    TextChunk,
)
from hassil.intents import (
    IntentData,
    Intents,
    RangeSlotList,
    RangeType,
    SlotList,
    TextSlotList,
    WildcardSlotList,
)
from hassil.parse_expression import parse_sentence

from edged.nlu.values import COLOR_TEMPS_K, COLORS_RGB, number_to_words
from edged.training import vocab

# Template slot names -> edged slot names. Anything else is left unlabelled.
SLOT_MAP: dict[str, str] = {
    "name": "name",
    "area": "area",
    "floor": "floor",
    "brightness": "brightness",
    "brightness_step": "brightness",
    "color": "color",
    "color_temp": "color",
    "temperature": "temperature",
    "position": "position",
    "volume": "volume_level",
    "volume_level": "volume_level",
    "volume_step": "volume_step",
    "fan_speed": "percentage",
    "percentage": "percentage",
    "device_class": "device_class",
    "state": "state",
}

# Some lists mean something else than their slot name says: in HassLightSet
# `{color_temperature:temperature}` is a white, not a thermostat setting.
LIST_SLOT_MAP: dict[str, str] = {
    "color_temperature": "color",
    "color_temperature_names": "color",
    "brightness_level": "brightness",
    "fan_speed": "percentage",
    "cover_classes": "device_class",
    "on_off_states": "state",
    "lock_states": "state",
    "cover_states": "state",
    "bs_open_states": "state",
    "bs_occupancy_states": "state",
}

# Lists the sampler supplies itself (Home Assistant leaves them empty).
_VOCAB_LISTS = frozenset({"name", "area", "floor"})

_FILLER_WILDCARD = [
    "dinner is ready",
    "pasta",
    "milk",
    "eggs",
    "pizza",
    "the laundry",
    "call mom",
    "homework",
    "tea",
    "bread",
    "kitchen",
    "oven",
    "workout",
    "the news",
    "jazz",
    "the beatles",
    "some music",
    "my playlist",
    "taylor swift",
    "podcast",
    "coffee",
    "bananas",
    "apples",
]


@dataclass
class Example:
    text: str
    intent: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "slots": [
                {"name": n, "value": self.text[s:e], "start": s, "end": e} for s, e, n in self.spans
            ],
            "source": self.source,
        }


@dataclass
class _Walk:
    """Characters produced so far, each with the slot span it belongs to."""

    chars: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # index into spans, -1 = none
    spans: list[str] = field(default_factory=list)  # slot name per span id
    values: dict[str, Any] = field(default_factory=dict)  # template slot -> value_out

    def emit(self, text: str, label: int) -> None:
        self.chars.extend(text)
        self.labels.extend([label] * len(text))


def _number_text(rng: random.Random, value: float, rtype: RangeType | None) -> str:
    whole = int(value)
    frac = value - whole
    if rng.random() < 0.55:
        text = str(whole) if frac == 0 else f"{value:g}"
    else:
        text = number_to_words(whole)
        if frac:
            text += rng.choice((" point five", " and a half"))
    if rtype == RangeType.PERCENTAGE:
        text += rng.choice(("%", " percent", " percent", ""))
        if text.endswith("%") and not text[0].isdigit():
            text = text[:-1] + " percent"
    elif rtype == RangeType.TEMPERATURE:
        text += rng.choice(("", "", " degrees", " degrees", "°"))
    return text


def schema_slot(ref: ListReference) -> str | None:
    """The schema slot a list fills ({brightness_level} -> brightness), if any."""
    return LIST_SLOT_MAP.get(ref.list_name) or SLOT_MAP.get(ref.slot_name)


class TemplateSampler:
    """Samples (text, spans) from hassil intents with generated names and areas.

    `own_lists`: lists a user's sentence file defines; each becomes a slot of
    its template name ("{scene}" -> slot `scene`), so "start {scene}" teaches
    the model to read the scene. Home Assistant's other lists stay unlabelled
    words, as before, unless the schema maps them."""

    def __init__(
        self, intents: Intents, rng: random.Random, own_lists: frozenset[str] = frozenset()
    ) -> None:
        self.intents = intents
        self.rng = rng
        self.own_lists = own_lists

    # -- the walk ----------------------------------------------------------
    def _walk(self, expr: Expression, w: _Walk, data: IntentData, label: int) -> None:
        rng = self.rng
        if isinstance(expr, TextChunk):
            w.emit(expr.text, label)
        elif isinstance(expr, Alternative):
            if expr.is_optional and rng.random() < 0.5:
                return
            items = [i for i in expr.items if not (isinstance(i, TextChunk) and i.is_empty)]
            if items:
                self._walk(rng.choice(items), w, data, label)
        elif isinstance(expr, Permutation):
            items = list(expr.items)
            rng.shuffle(items)
            for item in items:
                w.emit(" ", label)
                self._walk(item, w, data, label)
            w.emit(" ", label)
        elif isinstance(expr, Sequence):
            for item in expr.items:
                self._walk(item, w, data, label)
        elif isinstance(expr, RuleReference):
            rule = data.expansion_rules.get(expr.rule_name) or self.intents.expansion_rules.get(
                expr.rule_name
            )
            if rule is None:
                raise KeyError(f"undefined expansion rule <{expr.rule_name}>")
            self._walk(rule.expression, w, data, label)
        elif isinstance(expr, ListReference):
            self._fill_list(expr, w, data, label)
        else:  # pragma: no cover - hassil grew a new expression type
            raise TypeError(f"unknown expression {type(expr).__name__}")

    def _slot_list(self, name: str, data: IntentData) -> SlotList | None:
        return data.slot_lists.get(name) or self.intents.slot_lists.get(name)

    def _fill_list(self, ref: ListReference, w: _Walk, data: IntentData, label: int) -> None:
        rng = self.rng
        slot = schema_slot(ref) or (ref.slot_name if ref.list_name in self.own_lists else None)
        if label < 0 and slot is not None:
            w.spans.append(slot)
            label = len(w.spans) - 1
        if ref.list_name in _VOCAB_LISTS:
            text = self._vocab_value(ref.list_name, data)
            w.emit(text, label)
            w.values[ref.slot_name] = text
            return
        if ref.list_name == "color" and rng.random() < 0.35:
            # Home Assistant's colour list is short; people name more.
            text = rng.choice(list(COLORS_RGB) + list(COLOR_TEMPS_K))
            w.emit(text, label)
            w.values[ref.slot_name] = text
            return
        slot_list = self._slot_list(ref.list_name, data)
        if isinstance(slot_list, TextSlotList):
            choice = rng.choice(slot_list.values)
            self._walk(choice.text_in, w, data, label)
            w.values[ref.slot_name] = choice.value_out
        elif isinstance(slot_list, RangeSlotList):
            numbers = range(slot_list.start, slot_list.stop + 1, slot_list.step)
            value: float = rng.choice(numbers)
            if slot_list.fraction_type is not None and rng.random() < 0.15:
                value += 0.5
            if slot_list.type == RangeType.TEMPERATURE and rng.random() < 0.85:
                value = rng.randint(15, 30) + (0.5 if rng.random() < 0.15 else 0)
            w.emit(_number_text(rng, value, slot_list.type), label)
            w.values[ref.slot_name] = value * (slot_list.multiplier or 1)
        elif isinstance(slot_list, WildcardSlotList) or slot_list is None:
            pool = _ZONES if ref.list_name == "zone" else _FILLER_WILDCARD
            text = rng.choice(pool)
            w.emit(text, label)
            w.values[ref.slot_name] = text
        else:  # pragma: no cover
            raise TypeError(f"unknown slot list {type(slot_list).__name__}")

    def _vocab_value(self, list_name: str, data: IntentData) -> str:
        rng = self.rng
        if list_name == "area":
            return vocab.make_area(rng)
        if list_name == "floor":
            return vocab.make_floor(rng)
        domain = data.requires_context.get("domain")
        if isinstance(domain, list):
            domain = rng.choice(domain)
        if domain is None:
            domain = data.slots.get("domain")
        device_class = data.requires_context.get("device_class") or data.slots.get("device_class")
        if isinstance(device_class, list):
            device_class = rng.choice(device_class)
        return vocab.make_name(
            rng,
            domain if isinstance(domain, str) else None,
            device_class if isinstance(device_class, str) else None,
        )

    # -- public ------------------------------------------------------------
    def sample(
        self, sentence: Sentence, data: IntentData
    ) -> tuple[str, list[tuple[int, int, str]], dict[str, Any]]:
        """One random expansion: (text, [(start, end, slot)], template slot values)."""
        w = _Walk()
        self._walk(sentence.expression, w, data, -1)
        return _collapse(w)


def _collapse(w: _Walk) -> tuple[str, list[tuple[int, int, str]], dict[str, Any]]:
    """Fold runs of white space and turn per-character labels into spans."""
    out_chars: list[str] = []
    out_labels: list[int] = []
    for ch, lab in zip(w.chars, w.labels, strict=True):
        if ch.isspace():
            if not out_chars or out_chars[-1] == " ":
                continue
            ch = " "
        out_chars.append(ch)
        out_labels.append(lab)
    while out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_labels.pop()
    _drop_repeated_units(out_chars, out_labels)
    text = "".join(out_chars)
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(text):
        lab = out_labels[i]
        if lab < 0 or text[i] == " ":
            i += 1
            continue
        j = i
        while j < len(text) and out_labels[j] == lab:
            j += 1
        end = j
        while end > i and text[end - 1] == " ":
            end -= 1
        spans.append((i, end, w.spans[lab]))
        i = j
    return text, spans, w.values


_REPEATED_UNIT = re.compile(r"(%| percent| degrees|°)( ?%| percent| degrees| ?°)+")


def _drop_repeated_units(chars: list[str], labels: list[int]) -> None:
    """ "40 percent percent": a template's unit after a number that has one."""
    while True:
        m = _REPEATED_UNIT.search("".join(chars))
        if m is None:
            return
        del chars[m.end(1) : m.end()]
        del labels[m.end(1) : m.end()]


def parse_templates(intents: Intents, intent_name: str) -> list[tuple[IntentData, list[Sentence]]]:
    """The parsed sentences of each data block of an intent."""
    blocks = []
    for data in intents.intents[intent_name].data:
        sentences = [parse_sentence(t, keep_text=True) for t in data.sentence_texts]
        blocks.append((data, sentences))
    return blocks


_DOMAIN_TAG = re.compile(
    # "switch" alone is left out: it is mostly the verb ("switch it off").
    r"\b(lights?|lighting|lamps?|bulbs?|fans?|switches|plugs?|outlets?|sockets?|locks?|"
    r"thermostat|heating|heater|radiators?|ac|aircon|tv|television|speakers?|vacuum|hoover|robot|roomba|"
    r"robovac|sensors?)\b"
)


def tag_domain_words(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Label free-standing domain words ("the kitchen *lights*") as `domain`.

    Words inside another span (a device name that ends in "lamp") stay part of
    that span.
    """
    taken = [(s, e) for s, e, _ in spans]
    added = list(spans)
    for m in _DOMAIN_TAG.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        added.append((m.start(), m.end(), "domain"))
    return sorted(added)


# Places a person can be: Home Assistant's {zone} wildcard ("is Ada at home").
_ZONES = ("home", "work", "school", "the office", "the gym", "grandma's", "the shops", "uni")
