"""Slot values: from the words people say to values a device understands.

"twenty two point five" -> 22.5, "half" -> 50, "warm white" -> 2700 K,
"lights" -> domain "light". Pure functions over small tables, shared by the
runtime decoder and the training-data generator so both agree on what a word
means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rapidfuzz import fuzz, process
from text_to_num import alpha2digit

from edged.lang import Language
from edged.lang import en as _english

ENGLISH = _english.LANGUAGE

# Percent-like slots: 0-100.
PERCENT_SLOTS = frozenset({"brightness", "position", "volume_level", "volume_step", "percentage"})

# The English tables, under the names they always had here; every function
# takes a `lang` (edged.lang) and reads its words from it.
LEVEL_WORDS = ENGLISH.level_words
# sRGB values for colour names; the renderer converts to xy where needed.
COLORS_RGB = ENGLISH.colors_rgb
# Whites are colour temperatures, not colours.
COLOR_TEMPS_K = ENGLISH.color_temps_k
# Words that name a kind of device -> Home Assistant domain. Longest first
# matters to the tagger, so callers use `domain_for`.
DOMAIN_WORDS = ENGLISH.domain_words
DEVICE_CLASS_WORDS = ENGLISH.device_class_words

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


def _words(text: str, lang: Language = ENGLISH) -> str:
    """Lower-case, punctuation and fillers out; decimal points between digits stay."""
    t = re.sub(r"(?<=\d)[.,](?=\d)", "\x00", text.lower())
    t = re.sub(r"[^\w\s'%\x00-]", " ", t).replace("\x00", ".")
    return " ".join(w for w in t.split() if w not in lang.fillers)


def tidy(text: str, lang: Language = ENGLISH) -> str:
    """Lower-case, drop punctuation, fillers and leading articles."""
    return lang.articles.sub("", _words(text, lang)).strip()


def _singular(word: str, lang: Language = ENGLISH) -> str:
    if lang is not ENGLISH:
        return lang.singular(word)
    if word.endswith("es") and (word[:-2] in DEVICE_CLASS_WORDS or word[:-2] in DOMAIN_WORDS):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _to_digits(text: str, lang: Language, threshold: float = 0) -> str:
    """Number words as digits, by text2num for the language (when it has one)."""
    if lang.text2num is None:
        return text
    return alpha2digit(text, lang.text2num, threshold=threshold)


def parse_number(text: str, lang: Language = ENGLISH) -> float | None:
    """The first number in `text`, digits or words: "twenty two point five" -> 22.5."""
    t = _words(text, lang).replace("-", " ")
    if not t:
        return None
    if t in lang.level_words:
        return float(lang.level_words[t])
    half = bool(lang.half is not None and lang.half.search(t))
    if lang.half is not None:
        t = lang.half.sub("", t)
    for pattern, replacement in lang.number_rewrites:
        t = pattern.sub(replacement, t)
    digits = _to_digits(t, lang)
    m = _NUMBER.search(digits)
    if m is None:
        for phrase, level in lang.level_words.items():
            if re.search(rf"\b{re.escape(phrase)}\b", t):
                return float(level)
        return None
    value = float(m.group().replace(",", "."))
    return value + 0.5 if half else value


def parse_percent(text: str, lang: Language = ENGLISH) -> int | None:
    value = parse_number(text, lang)
    if value is None:
        return None
    return max(0, min(100, round(value)))


def _compound_head(word: str, table: Mapping[str, str]) -> str | None:
    """The table's entry a compound ends in: "deckenlampe" -> "lampe"."""
    best = None
    for head in table:
        if (
            len(head) >= 4
            and " " not in head
            and len(word) > len(head)
            and word.endswith(head)
            and (best is None or len(head) > len(best))
        ):
            best = head
    return None if best is None else table[best]


def _head_word(tidied: str, table: Mapping[str, str], lang: Language) -> str | None:
    words = tidied.split()
    # The head noun is last: "kitchen ceiling lights" -> light.
    for n in (2, 1):
        if len(words) >= n:
            tail = " ".join(words[-n:])
            for cand in (tail, _singular(tail, lang)):
                if cand in table:
                    return table[cand]
    if lang.head_first:
        # "lampe du salon", "luz de la cocina": the kind word comes first.
        for n in (2, 1):
            if len(words) > n:
                head = " ".join(words[:n])
                for cand in (head, _singular(head, lang)):
                    if cand in table:
                        return table[cand]
    if lang.compound_heads and words:
        last = words[-1]
        return _compound_head(last, table) or _compound_head(_singular(last, lang), table)
    return None


def domain_for(text: str, lang: Language = ENGLISH) -> str | None:
    t = tidy(text, lang)
    if t in lang.domain_words:
        return lang.domain_words[t]
    return _head_word(t, lang.domain_words, lang)


def device_class_for(text: str, lang: Language = ENGLISH) -> str | None:
    return _head_word(tidy(text, lang), lang.device_class_words, lang)


def parse_color(text: str, lang: Language = ENGLISH) -> dict[str, Any] | None:
    """{"name", "rgb"} for a colour, {"name", "kelvin"} for a white."""
    t = tidy(text, lang)
    for phrase in sorted(lang.color_temps_k, key=len, reverse=True):
        if re.search(rf"\b{re.escape(phrase)}\b", t):
            return {"name": phrase, "kelvin": lang.color_temps_k[phrase]}
    m = re.search(rf"(\d{{4,5}})\s*(?:{lang.kelvin_words})\b", _to_digits(t, lang, threshold=3))
    if m:
        return {"name": f"{m.group(1)} kelvin", "kelvin": int(m.group(1))}
    number = parse_number(t, lang)
    if number is not None and 1000 <= number <= 10000:
        return {"name": f"{number:g} kelvin", "kelvin": int(number)}
    for word in reversed(t.split()):
        if word in lang.colors_rgb:
            return {"name": word, "rgb": list(lang.colors_rgb[word])}
    return None


# How close heard words must be to a list value's words to count as it
# ("movie nite" for "movie night"), rapidfuzz's 0-100 ratio.
LIST_MATCH_CUTOFF = 80.0


def list_value(text: str, spec: dict[str, Any], lang: Language = ENGLISH) -> Any:
    """The value of a slot of a user's own list (labels.json `slot_values`):
    a range list's number; a text list's `out` value for the words heard,
    or for the closest value's words if close enough (a speech recogniser's
    "movie nite"); else the words heard, tidied, so nothing said is lost."""
    if spec.get("number"):
        number = parse_number(text, lang)
        if number is not None:
            return int(number) if float(number).is_integer() else number
    words = tidy(text, lang)
    values: dict[str, Any] = spec.get("values") or {}
    if words in values:
        return values[words]
    if words and values:
        best = process.extractOne(
            words, values.keys(), scorer=fuzz.ratio, score_cutoff=LIST_MATCH_CUTOFF
        )
        if best is not None:
            return values[best[0]]
    return words or None


def normalise_value(slot: str, text: str, lang: Language = ENGLISH) -> Any:
    """The value of a slot from its words; None when the words carry no value."""
    if slot in PERCENT_SLOTS:
        return parse_percent(text, lang)
    if slot == "temperature":
        return parse_number(text, lang)
    if slot == "color":
        return parse_color(text, lang)
    if slot == "domain":
        return domain_for(text, lang)
    if slot == "device_class":
        return device_class_for(text, lang)
    return tidy(text, lang) or None


# --- number words, for generating training sentences -----------------------

# English; other languages' are `Language.number_words`.
number_to_words = _english.number_to_words
