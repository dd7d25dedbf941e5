"""Training examples: templates -> sentences with spans -> noisy variants.

Sources, all from this project and PyPI packages:
  * home-assistant-intents' templates of the language (via hassil),
    relabelled to edged's schema; the intents edged does not act on (timers,
    weather, shopping lists, music search, ...) become `OutOfScope` negatives;
  * edged's own templates in `templates/` (English) or `templates/<code>/`
    (another language): colloquial commands and hard out-of-scope sentences.
Names, areas, numbers and noise come in the same language
(edged/training/lang/<code>.yaml, edged.lang). Deterministic for a seed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hassil.expression import Group
from hassil.intents import Intents, RangeSlotList, RangeType, TextSlotList

from edged.nlu.schema import INTENTS, OUT_OF_SCOPE
from edged.training.augment import add_asr_noise, noise_for, vary_surface
from edged.training.sampler import (
    Example,
    TemplateSampler,
    parse_templates,
    sampler_words,
    schema_slot,
    tag_domain_words,
)

# Home Assistant intent -> edged intent. None: relabelled by slot value below.
HA_INTENTS: dict[str, str | None] = {
    "HassTurnOn": "HassTurnOn",
    "HassTurnOff": "HassTurnOff",
    "HassLightSet": "HassLightSet",
    "HassClimateSetTemperature": "HassClimateSetTemperature",
    "HassClimateGetTemperature": "HassClimateGetTemperature",
    "HassSetPosition": "HassSetPosition",
    "HassGetState": "HassGetState",
    "HassMediaPause": "HassMediaPause",
    "HassMediaUnpause": "HassMediaUnpause",
    "HassMediaNext": "HassMediaNext",
    "HassMediaPrevious": "HassMediaPrevious",
    "HassSetVolume": "HassSetVolume",
    "HassSetVolumeRelative": None,
    "HassVacuumStart": "HassVacuumStart",
    "HassVacuumCleanArea": "HassVacuumStart",
    "HassVacuumReturnToBase": "HassVacuumReturnToBase",
    "HassFanSetSpeed": "HassFanSetSpeed",
    "HassNevermind": "HassNevermind",
    "HassMediaPlayerMute": "HassMediaPlayerMute",
    "HassMediaPlayerUnmute": "HassMediaPlayerUnmute",
}

# Home Assistant intents edged does not act on: negatives.
HA_OUT_OF_SCOPE = (
    "HassBroadcast",
    "HassCancelAllTimers",
    "HassCancelTimer",
    "HassDecreaseTimer",
    "HassGetCurrentDate",
    "HassGetCurrentTime",
    "HassGetWeather",
    "HassIncreaseTimer",
    "HassListAddItem",
    "HassListCompleteItem",
    "HassListRemoveItem",
    "HassPauseTimer",
    "HassRespond",
    "HassShoppingListAddItem",
    "HassShoppingListCompleteItem",
    "HassStartTimer",
    "HassTimerStatus",
    "HassUnpauseTimer",
    "HassMediaSearchAndPlay",
)

# Examples per intent before de-duplication (templates of HA + ours together).
DEFAULT_COUNTS: dict[str, int] = {
    "HassTurnOn": 2200,
    "HassTurnOff": 2200,
    "HassLightSet": 1500,
    "HassGetState": 2400,
    OUT_OF_SCOPE: 7000,
}
DEFAULT_PER_INTENT = 850
# Other languages: more state questions. Their Home Assistant templates ask
# about binary sensors in words edged's own commands use too ("ist etwas
# kalt im Büro?" against "es ist kalt im Büro"), and the German model
# trained on 2,400 read a tenth of them as a heating command.
LANGUAGE_COUNTS: dict[str, int] = {"HassGetState": 3400}

# Lists our own templates use that Home Assistant's do not define (or defines
# differently: its `volume_step` is the words "up"/"down").
_OWN_LISTS = {
    "brightness_step": RangeSlotList(
        name="brightness_step", start=5, stop=50, step=5, type=RangeType.PERCENTAGE
    ),
    "volume_step": RangeSlotList(
        name="volume_step", start=1, stop=30, step=1, type=RangeType.PERCENTAGE
    ),
}


@dataclass(frozen=True)
class _Source:
    intents: Intents
    intent: str  # name inside `intents`
    label: str | None  # edged intent (None: decided per sample)
    tag: str
    # Lists a user's sentence file defines: each is a slot (TemplateSampler).
    own_lists: frozenset[str] = frozenset()


def _templates_dir(language: str = "en") -> Path:
    """edged's own templates: templates/ for English, templates/<code>/ for
    another language."""
    base = Path(str(resources.files("edged.training") / "templates"))
    return base if language == "en" else base / language


def load_own_templates(
    paths: Iterable[Path] | None = None, language: str = "en"
) -> list[dict[str, Any]]:
    if paths is None:
        folder = _templates_dir(language)
        if not folder.is_dir():
            raise ValueError(f"no training templates for language {language!r} ({folder})")
        paths = sorted(folder.glob("*.yaml"))
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]


def _merge(base: Intents, own: dict[str, Any]) -> Intents:
    """Own templates parsed with Home Assistant's rules and lists available."""
    intents = Intents.from_dict(own)
    intents.expansion_rules = {**base.expansion_rules, **intents.expansion_rules}
    intents.slot_lists = {**base.slot_lists, **_OWN_LISTS, **intents.slot_lists}
    return intents


@functools.cache
def ha_intents(language: str = "en") -> Intents:
    """Home Assistant's templates for `language` (home-assistant-intents)."""
    from home_assistant_intents import get_intents

    data = get_intents(language)
    if data is None:
        raise ValueError(f"home-assistant-intents has no templates for language {language!r}")
    return Intents.from_dict(data)


def _sources(
    own: list[dict[str, Any]],
    extra: list[dict[str, Any]],
    builtin: bool = True,
    language: str = "en",
) -> list[_Source]:
    """Where sentences come from. Without `builtin`, only `own` and `extra`
    (which may still use Home Assistant's lists and rules)."""
    ha = ha_intents(language)
    sources = []
    if builtin:
        sources += [_Source(ha, name, label, "ha") for name, label in HA_INTENTS.items()]
        sources += [_Source(ha, name, OUT_OF_SCOPE, "ha-oos") for name in HA_OUT_OF_SCOPE]
    for k, doc in enumerate(own + extra):
        merged = _merge(ha, doc)
        # A file carrying Home Assistant's own templates says so and is drawn as one.
        tag = str(doc.get("edged_source", "own"))
        lists = defined_lists(doc) if k >= len(own) else frozenset()
        for name in merged.intents:
            sources.append(_Source(merged, name, name, tag, lists))
    return [s for s in sources if s.intent in s.intents.intents]


def defined_lists(doc: dict[str, Any]) -> frozenset[str]:
    """The lists a sentence file defines itself, at the top or in a block."""
    names = set((doc.get("lists") or {}).keys())
    for body in (doc.get("intents") or {}).values():
        for block in (body or {}).get("data", []) or []:
            names |= set((block.get("lists") or {}).keys())
    return frozenset(names)


# Spellings of one list value kept for labels.json ("(dinner|dinner time)"
# is two); the rest of a combinatorial value still reaches it by fuzzy match.
MAX_VALUE_SPELLINGS = 200


def _add_list_values(entry: dict[str, Any], slot_list: Any, intents: Intents) -> None:
    """One list's part of `own_slot_values`: a range list is a number; a
    text list's values map each of their spellings (tidied) to `out`."""
    from hassil.sample import sample_expression

    from edged.nlu.values import tidy

    if isinstance(slot_list, RangeSlotList):
        entry["number"] = True
    elif isinstance(slot_list, TextSlotList):
        values = entry.setdefault("values", {})
        for value in slot_list.values:
            spellings = sample_expression(
                value.text_in, intents.slot_lists, intents.expansion_rules
            )
            # A value's own alternatives; capped, as they multiply.
            for words in map(tidy, itertools.islice(spellings, MAX_VALUE_SPELLINGS)):
                if words:
                    values.setdefault(words, value.value_out)


def own_slot_values(
    docs: Iterable[dict[str, Any]], language: str = "en"
) -> dict[str, dict[str, Any]]:
    """What each slot of a user's own lists stands for, for labels.json
    `slot_values`: the words of each value ("dinner time", tidied) -> its
    `out` value ("dinner"), as hassil would fill it; for a range list
    {"number": true}, read as a number. Wildcard lists are free text and
    have no entry, nor does a list that fills one of the schema's slots (a
    file's own {area} list is still an area, for the resolver). A slot is
    named as in the templates: {scene} is `scene`, {scene:where} is `where`."""
    out: dict[str, dict[str, Any]] = {}
    ha = ha_intents(language)
    for doc in docs:
        own = defined_lists(doc)
        intents = _merge(ha, doc)
        for data in (d for intent in intents.intents.values() for d in intent.data):
            rules = {**intents.expansion_rules, **data.expansion_rules}
            lists = {**intents.slot_lists, **data.slot_lists}
            for sentence in data.sentences:
                assert isinstance(sentence.expression, Group)  # as hassil parses them
                for ref in sentence.expression.list_references(rules):
                    # Only the user's lists, and not those filling a schema slot.
                    if ref.list_name in own and not schema_slot(ref):
                        _add_list_values(
                            out.setdefault(ref.slot_name, {}), lists.get(ref.list_name), intents
                        )
    return {k: v for k, v in out.items() if v}


# How often each kind of source is drawn for a label: Home Assistant's
# templates and ours alike for commands; for negatives, our hard ones twice as
# often as Home Assistant's other intents.
# "appliance": templates/appliances.yaml, plain commands to bare appliance
# nouns, about a sixth of on/off examples.
_TAG_WEIGHTS = {"ha": 1.0, "own": 1.0, "ha-oos": 0.5, "appliance": 0.4}


# Home Assistant's state questions cover sensor classes ours do not.
_LABEL_TAG_WEIGHTS = {"HassGetState": {"ha": 2.5}}


def _pick_source(
    rng: random.Random, groups: list[tuple[_Source, list[Any]]]
) -> tuple[_Source, list[Any]]:
    tags = sorted({src.tag for src, _ in groups})
    weights = {**_TAG_WEIGHTS, **_LABEL_TAG_WEIGHTS.get(groups[0][0].label or "", {})}
    tag = rng.choices(tags, weights=[weights.get(t, 1.0) for t in tags])[0]
    same = [g for g in groups if g[0].tag == tag]
    # Within a kind of source, a file with more templates is drawn more often,
    # but sub-linearly, so a short file of special cases is not drowned out.
    sizes = [math.sqrt(sum(len(sentences) for _, sentences in g[1])) for g in same]
    return rng.choices(same, weights=sizes)[0]


def _relabel(src: _Source, values: dict[str, Any], fixed: dict[str, Any] | None = None) -> str:
    if src.label is not None:
        return src.label
    # HassSetVolumeRelative: "up"/"down" words or a signed step, from a list
    # or fixed by the template's block (French, Spanish: `slots: {volume_step: down}`).
    step = values.get("volume_step", (fixed or {}).get("volume_step", "up"))
    if isinstance(step, str):
        return "EdgedVolumeDown" if step == "down" else "EdgedVolumeUp"
    return "EdgedVolumeDown" if step < 0 else "EdgedVolumeUp"


def generate_examples(
    seed: int = 13,
    counts: dict[str, int] | None = None,
    per_intent: int = DEFAULT_PER_INTENT,
    extra_templates: list[dict[str, Any]] | None = None,
    own_templates: list[dict[str, Any]] | None = None,
    noise: float = 0.45,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    builtin: bool = True,
    language: str = "en",
) -> list[Example]:
    """Sentences for every intent, deduplicated, in a seed-determined order.

    `noise` is the share of examples that get speech-recogniser noise.
    Without `builtin`, Home Assistant's intents are left out: only the
    intents of `own_templates` and `extra_templates`. `language`: Home
    Assistant's templates, edged's own, names, numbers and noise of that
    language.
    """
    rng = random.Random(seed)
    counts = {
        **DEFAULT_COUNTS,
        **(LANGUAGE_COUNTS if language != "en" else {}),
        **(counts or {}),
    }
    own = load_own_templates(language=language) if own_templates is None else own_templates
    sources = _sources(own, extra_templates or [], builtin, language)
    sw = sampler_words(language)
    noise_words = noise_for(language)
    by_label: dict[str, list[tuple[_Source, list[Any]]]] = {}
    for src in sources:
        blocks = parse_templates(src.intents, src.intent)
        key = src.label or "EdgedVolume"
        by_label.setdefault(key, []).append((src, blocks))

    labels = sorted(by_label)
    iterator: Iterable[str] = progress(labels) if progress else labels
    seen: set[str] = set()
    out: list[Example] = []
    for key in iterator:
        groups = by_label[key]
        target = counts.get(key, per_intent) * (2 if key == "EdgedVolume" else 1)
        sampler_cache = {
            id(src.intents): TemplateSampler(src.intents, rng, src.own_lists, language)
            for src, _ in groups
        }
        made = 0
        for _ in range(target * 4):
            if made >= target:
                break
            src, blocks = _pick_source(rng, groups)
            data, sentences = rng.choice(blocks)
            sentence = rng.choice(sentences)
            text, spans, values = sampler_cache[id(src.intents)].sample(sentence, data)
            label = _relabel(src, values, data.slots)
            spans = [] if label == OUT_OF_SCOPE else tag_domain_words(text, spans, sw)
            ex = Example(text, label, spans, src.tag)
            if rng.random() < noise:
                ex = add_asr_noise(ex, rng, noise=noise_words)
            ex = vary_surface(ex, rng)
            if not ex.text or ex.text.lower() in seen:
                continue
            seen.add(ex.text.lower())
            out.append(ex)
            made += 1
    rng.shuffle(out)
    unknown = {e.intent for e in out} - set(INTENTS)
    if unknown and extra_templates is None:
        raise ValueError(f"templates name intents outside the schema: {sorted(unknown)}")
    return out


def split_examples(
    examples: list[Example], valid_share: float = 0.08
) -> tuple[list[Example], list[Example]]:
    """Held-out split by a hash of the text, stable across runs."""
    train: list[Example] = []
    valid: list[Example] = []
    for ex in examples:
        h = int(hashlib.sha1(ex.text.lower().encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (valid if h < valid_share else train).append(ex)
    return train, valid


def write_jsonl(examples: Iterable[Example], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> Iterator[Example]:
    """Examples from the bench-data JSONL format; slots without offsets are skipped."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            spans = [
                (s["start"], s["end"], s["name"])
                for s in row.get("slots", [])
                if s.get("start") is not None
            ]
            yield Example(row["text"], row["intent"], sorted(spans), row.get("source", ""))


def summarise(examples: list[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.intent for e in examples).items()))
