"""Crowd-sourced corpora as training examples in edged's schema.

Two sources of real phrasing may be trained on (issue 21): HWU64's train
file (`../shared/train-data/hwu64/train.jsonl`) and SLURP's devel split
(`../shared/bench-data/slurp/devel.jsonl`). Both label rows
`<scenario>_<action>` with their own slots; SLURP's test split was drawn from
the same collection as HWU64, so figures on it are optimistic once these are
trained on. SLURP test, Home Assistant's tests and SNIPS stay evaluation only:
`read_corpus` refuses a path that looks like one of them.

How a row is mapped (`map_row`):

* **Device rows.** The IoT intents as `edged eval --map slurp-iot` scores
  them (`INTENT_MAPS["slurp-iot"]`: lights on/off/dim/up/colour, smart plugs,
  coffee, cleaning), and the audio ones: `audio_volume_up/down` ->
  `EdgedVolumeUp/Down`, `audio_volume_mute` -> `HassMediaPlayerMute` (or
  `HassMediaPlayerUnmute` when the words say "unmute").
* **Slots.** `house_place` -> `area`; `device_type` -> `domain` when it is
  only a kind word ("lights", "vacuum cleaner"), else `name` ("rice cooker
  socket"); `color_type` -> `color` when edged reads it as a colour; the drink
  of a coffee request ("a cup of *coffee*") -> `name`, as edged's own
  coffee templates tag it; a number said as "to N percent" for lights or
  volume makes the row an absolute set (`HassLightSet` brightness,
  `HassSetVolume` volume_level). Free-standing kind words are tagged `domain`
  as in the generated data (`tag_domain_words`). Other slots (time, person,
  coffee_type...) are not edged's and are dropped.
* **Rows dropped, not taught either way**: device requests for later
  (a `time`, `date`, `timeofday` or `general_frequency` slot: edged has no
  scheduler, and acting now would be wrong), relative changes with an amount
  edged cannot read ("to level seven", "to low"), and rows whose words
  contradict their label (an "on" row saying "off"/"out" and the reverse).
* **Everything else is `OutOfScope`**, except rows of other scenarios whose
  words are a media or cancel command edged has ("skip to the next song",
  "cancel it", "stop") or have the shape of a device command ("turn on the
  radio", "switch on radio", "turn off the alarm", "turn on console", "music
  on", "shut off"): those are dropped, since labelling them out of scope
  would teach against edged's own intents, and homes have devices called
  Radio, Alarm or Console. Taught as out of scope, these rows made a
  retrained model read "turn off the computer" and "turn on the printer" as
  chatter.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edged.eval import INTENT_MAPS
from edged.nlu.schema import OUT_OF_SCOPE
from edged.nlu.values import DOMAIN_WORDS, normalise_value, tidy
from edged.training.sampler import Example, tag_domain_words

# The IoT intents as `edged eval --map slurp-iot` scores them, plus audio.
DEVICE_INTENTS: dict[str, str] = {
    **INTENT_MAPS["slurp-iot"],
    "audio_volume_up": "EdgedVolumeUp",
    "audio_volume_down": "EdgedVolumeDown",
    "audio_volume_mute": "HassMediaPlayerMute",
}

# Slots of a request for later: edged acts now or not at all.
_LATER_SLOTS = frozenset({"time", "date", "timeofday", "general_frequency"})

# Words of a media or cancel command edged has, in a row of another scenario.
_MEDIA_WORDS = re.compile(
    r"\b(pause|resume|unpause|continue|skip|next|previous|stop|cancel|never ?mind|forget it|"
    r"mute|unmute|louder|quieter|volume)\b"
)
# "turn on the radio", "put the radio on", "shut off", "radio on": a device
# command's shape, whatever the scenario says it is.
_DEVICE_SHAPE = re.compile(
    r"\b(turn|turns|switch|power|put|start|activate|deactivate)\b"
    r"(?:\s+\S+){0,5}?\s*\b(on|off|up|down)\b"
    r"|\bshut\s+(off|down)\b|^(?:\S+\s+){0,2}(on|off)$"
)
_ON_WORDS = re.compile(r"\b(on|start|activate|up)\b")
_OFF_WORDS = re.compile(r"\b(off|out|stop|deactivate|shut)\b")
_DRINKS = re.compile(
    r"\b(coffee|espresso|latte|cappuccino|americano|macchiato|mocha|flat white|tea)\b"
)
# "to fifty percent", "to 30 %": an absolute level.
_ABSOLUTE = re.compile(r"^to\s+(?:level\s+)?(.+?)\s*(?:%|percent|per cent)$")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
        start=0,
    )
} | {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "a hundred": 100,
    "one hundred": 100,
}


def _number(words: str) -> int | None:
    w = tidy(words)
    if w.isdigit():
        return int(w)
    return _NUMBER_WORDS.get(w)


def _device_slot(value: str) -> str:
    """A kind word alone is a domain; anything more names a device."""
    return "domain" if tidy(value) in DOMAIN_WORDS else "name"


def _contradicts(intent: str, text: str) -> bool:
    t = tidy(text)
    if intent == "HassTurnOn":
        return bool(_OFF_WORDS.search(t)) and not _ON_WORDS.search(t)
    if intent == "HassTurnOff":
        return bool(_ON_WORDS.search(t)) and not _OFF_WORDS.search(t)
    return False


def map_row(row: dict[str, Any]) -> Example | None:
    """One corpus row as an edged example, or None when it is dropped."""
    text: str = row["text"]
    source = str(row.get("source") or "corpus")
    slots = [s for s in row.get("slots", []) if s.get("start") is not None]
    intent = DEVICE_INTENTS.get(row["intent"])
    if intent is None:
        if _MEDIA_WORDS.search(tidy(text)) or _DEVICE_SHAPE.search(tidy(text)):
            return None
        return Example(text, OUT_OF_SCOPE, [], source)
    if any(s["name"] in _LATER_SLOTS for s in slots) or _contradicts(intent, text):
        return None
    if intent == "HassMediaPlayerMute" and re.search(r"\bun-?mute", tidy(text)):
        intent = "HassMediaPlayerUnmute"
    spans: list[tuple[int, int, str]] = []
    for s in slots:
        start, end, name, value = s["start"], s["end"], s["name"], s["value"]
        if name == "house_place":
            spans.append((start, end, "area"))
        elif name == "device_type":
            spans.append((start, end, _device_slot(value)))
        elif name == "color_type" and isinstance(normalise_value("color", value), dict):
            spans.append((start, end, "color"))
        elif name == "change_amount":
            absolute = _ABSOLUTE.match(tidy(value))
            level = _number(absolute.group(1)) if absolute else None
            if level is None:
                if tidy(value).startswith("to "):
                    return None  # "to level seven", "to low": not a step edged reads
                continue
            # The number's own words inside the span: "to [fifty] percent".
            number = absolute.group(1) if absolute else ""
            at = text.lower().find(number.lower(), start, end)
            if intent in ("EdgedLightDim", "EdgedLightBrighten", "HassLightSet"):
                intent = "HassLightSet"
                spans.append((at, end, "brightness"))
            elif intent in ("EdgedVolumeUp", "EdgedVolumeDown"):
                intent = "HassSetVolume"
                spans.append((at, end, "volume_level"))
            else:
                return None
    if row["intent"] == "iot_coffee" and not any(n == "name" for _, _, n in spans):
        m = _DRINKS.search(text.lower())
        if m and not any(s <= m.start() < e for s, e, _ in spans):
            spans.append((m.start(), m.end(), "name"))
    return Example(text, intent, tag_domain_words(text, sorted(spans)), source)


# Files that are evaluation only, by their place in bench-data.
_EVAL_ONLY = ("slurp/test", "slurp/iot_test", "ha-intents", "snips/")


def read_corpus(path: Path) -> Iterator[Example]:
    """A corpus file's rows in edged's schema (see `map_row`)."""
    where = path.resolve().as_posix()
    if any(part in where for part in _EVAL_ONLY):
        raise ValueError(f"{path} is an evaluation set, never trained on")
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                ex = map_row(json.loads(line))
                if ex is not None:
                    yield ex


def corpus_examples(
    paths: Iterable[Path], seen: set[str] | None = None, max_out_of_scope: int | None = None
) -> list[Example]:
    """Every mapped row of the corpora, without texts already in `seen` (the
    generated examples) or repeated across files. With `max_out_of_scope`,
    at most that many out-of-scope rows, evenly spread over the files'
    order, so real chatter does not outweigh the commands the generated
    data teaches."""
    seen = set() if seen is None else set(seen)
    out: list[Example] = []
    for path in paths:
        for ex in read_corpus(path):
            key = ex.text.lower()
            if key not in seen:
                seen.add(key)
                out.append(ex)
    if max_out_of_scope is not None:
        oos = [e for e in out if e.intent == OUT_OF_SCOPE]
        if len(oos) > max_out_of_scope:
            step = len(oos) / max_out_of_scope
            keep = {id(oos[int(i * step)]) for i in range(max_out_of_scope)}
            out = [e for e in out if e.intent != OUT_OF_SCOPE or id(e) in keep]
    return out


def summary(examples: Iterable[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.intent for e in examples).items()))
