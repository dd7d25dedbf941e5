"""Random sentences with slot spans from hassil templates.

`hassil.sample_intents` enumerates texts but keeps no spans and no randomness.
This sampler walks a template's expression tree, picks one branch at random at
every alternative, fills lists from generated vocabularies, and records which
characters came from which slot, so every sentence comes out with exact
character spans.
"""

from __future__ import annotations

import functools
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

from edged.lang import Language, get_language
from edged.nlu.values import number_to_words
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


@dataclass(frozen=True)
class SamplerWords:
    """A language's words for filling templates: wildcards, numbers' halves
    and units, the domain words tagged outside slots. English's are this
    module's; another language's the `sampler` section of
    edged/training/lang/<code>.yaml."""

    wildcard: tuple[str, ...]
    zones: tuple[str, ...]
    halves: tuple[str, ...] = (" point five", " and a half")
    percent: tuple[str, ...] = ("%", " percent", " percent", "")
    percent_word: str = " percent"
    degrees: tuple[str, ...] = ("", "", " degrees", " degrees", "°")
    # Regular expressions (case-insensitive for other languages than English).
    domain_tag: str = ""
    repeated_unit: str = ""
    # Digits with a decimal comma ("21,5") as often as with a point.
    decimal_comma: bool = False


def _number_text(
    rng: random.Random,
    value: float,
    rtype: RangeType | None,
    sw: SamplerWords | None = None,
    to_words: Any = number_to_words,
) -> str:
    sw = sw or english_sampler_words()
    whole = int(value)
    frac = value - whole
    if rng.random() < 0.55:
        text = str(whole) if frac == 0 else f"{value:g}"
        if frac and sw.decimal_comma and rng.random() < 0.5:
            text = text.replace(".", ",")
    else:
        text = to_words(whole)
        if frac:
            text += rng.choice(sw.halves)
    if rtype == RangeType.PERCENTAGE:
        text += rng.choice(sw.percent)
        if text.endswith("%") and not text[0].isdigit():
            text = text[:-1] + sw.percent_word
    elif rtype == RangeType.TEMPERATURE:
        text += rng.choice(sw.degrees)
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
        self,
        intents: Intents,
        rng: random.Random,
        own_lists: frozenset[str] = frozenset(),
        language: str = "en",
    ) -> None:
        self.intents = intents
        self.rng = rng
        self.own_lists = own_lists
        # Names, numbers and colours in the templates' language.
        self.lang: Language = get_language(language)
        self.words = vocab.words_for(language)
        self.sw = sampler_words(language)

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
            text = rng.choice(list(self.lang.colors_rgb) + list(self.lang.color_temps_k))
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
            w.emit(_number_text(rng, value, slot_list.type, self.sw, self.lang.number_words), label)
            w.values[ref.slot_name] = value * (slot_list.multiplier or 1)
        elif isinstance(slot_list, WildcardSlotList) or slot_list is None:
            pool = self.sw.zones if ref.list_name == "zone" else self.sw.wildcard
            text = rng.choice(pool)
            w.emit(text, label)
            w.values[ref.slot_name] = text
        else:  # pragma: no cover
            raise TypeError(f"unknown slot list {type(slot_list).__name__}")

    def _vocab_value(self, list_name: str, data: IntentData) -> str:
        rng = self.rng
        if list_name == "area":
            return vocab.make_area(rng, self.words)
        if list_name == "floor":
            return vocab.make_floor(rng, self.words)
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
            self.words,
        )

    # -- public ------------------------------------------------------------
    def sample(
        self, sentence: Sentence, data: IntentData
    ) -> tuple[str, list[tuple[int, int, str]], dict[str, Any]]:
        """One random expansion: (text, [(start, end, slot)], template slot values)."""
        w = _Walk()
        self._walk(sentence.expression, w, data, -1)
        return _collapse(w, self.sw)


def _collapse(
    w: _Walk, sw: SamplerWords | None = None
) -> tuple[str, list[tuple[int, int, str]], dict[str, Any]]:
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
    _drop_repeated_units(out_chars, out_labels, _unit_re(sw))
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


def _unit_re(sw: SamplerWords | None) -> re.Pattern[str]:
    if sw is None or not sw.repeated_unit:
        return _REPEATED_UNIT
    return _compiled(sw.repeated_unit)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _drop_repeated_units(
    chars: list[str], labels: list[int], pattern: re.Pattern[str] = _REPEATED_UNIT
) -> None:
    """ "40 percent percent": a template's unit after a number that has one."""
    while True:
        m = pattern.search("".join(chars))
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


def tag_domain_words(
    text: str, spans: list[tuple[int, int, str]], sw: SamplerWords | None = None
) -> list[tuple[int, int, str]]:
    """Label free-standing domain words ("the kitchen *lights*") as `domain`
    (`sw`'s language's; English's by default).

    Words inside another span (a device name that ends in "lamp") stay part of
    that span.
    """
    pattern = _DOMAIN_TAG if sw is None or not sw.domain_tag else _compiled(sw.domain_tag)
    taken = [(s, e) for s, e, _ in spans]
    added = list(spans)
    for m in pattern.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        added.append((m.start(), m.end(), "domain"))
    return sorted(added)


# Places a person can be: Home Assistant's {zone} wildcard ("is Ada at home").
_ZONES = ("home", "work", "school", "the office", "the gym", "grandma's", "the shops", "uni")


@functools.cache
def english_sampler_words() -> SamplerWords:
    return SamplerWords(tuple(_FILLER_WILDCARD), _ZONES)


@functools.cache
def sampler_words(language: str = "en") -> SamplerWords:
    """The `sampler` words of `language` (edged/training/lang/<code>.yaml)."""
    if language == "en":
        return english_sampler_words()
    raw = vocab.checked(vocab.lang_file(language)["sampler"], SamplerWords, f"{language}.yaml")
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return SamplerWords(**fields)
