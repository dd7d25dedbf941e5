"""Slot values: from the words people say to values a device understands.

"twenty two point five" -> 22.5, "half" -> 50, "warm white" -> 2700 K,
"lights" -> domain "light". Pure functions over small tables, shared by the
runtime decoder and the training-data generator so both agree on what a word
means.
"""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz, process
from text_to_num import alpha2digit

# Percent-like slots: 0-100.
PERCENT_SLOTS = frozenset({"brightness", "position", "volume_level", "volume_step", "percentage"})

# Words that stand for a level rather than a number.
LEVEL_WORDS: dict[str, int] = {
    "half": 50,
    "halfway": 50,
    "half way": 50,
    "a half": 50,
    "quarter": 25,
    "a quarter": 25,
    "one quarter": 25,
    "three quarters": 75,
    "a third": 33,
    "one third": 33,
    "two thirds": 67,
    "full": 100,
    "fully": 100,
    "full blast": 100,
    "all the way": 100,
    "max": 100,
    "maximum": 100,
    "highest": 100,
    "top": 100,
    "min": 1,
    "minimum": 1,
    "lowest": 1,
    "a bit": 10,
    "a little": 10,
    "a little bit": 10,
    "a tad": 10,
    "a notch": 10,
    "a lot": 30,
    "low": 25,
    "medium": 50,
    "high": 100,
}

# sRGB values for colour names; the renderer converts to xy where needed.
COLORS_RGB: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "violet": (238, 130, 238),
    "pink": (255, 192, 203),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "turquoise": (64, 224, 208),
    "teal": (0, 128, 128),
    "brown": (165, 42, 42),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "lime": (0, 255, 0),
    "gold": (255, 215, 0),
    "lavender": (230, 230, 250),
    "indigo": (75, 0, 130),
    "crimson": (220, 20, 60),
    "amber": (255, 191, 0),
    "coral": (255, 127, 80),
    "salmon": (250, 128, 114),
    "navy": (0, 0, 128),
    "aqua": (0, 255, 255),
    "peach": (255, 218, 185),
    "mint": (152, 255, 152),
    "lilac": (200, 162, 200),
}

# Whites are colour temperatures, not colours.
COLOR_TEMPS_K: dict[str, int] = {
    "candle light": 1900,
    "candlelight": 1900,
    "warm": 2700,
    "warm white": 2700,
    "soft white": 2700,
    "neutral": 4000,
    "neutral white": 4000,
    "cool white": 4000,
    "cold white": 4000,
    "cool": 4000,
    "daylight": 6500,
    "day light": 6500,
    "bright white": 5000,
}

# Words that name a kind of device -> Home Assistant domain. Longest first
# matters to the tagger, so callers use `domain_for`.
DOMAIN_WORDS: dict[str, str] = {
    "light": "light",
    "lights": "light",
    "lighting": "light",
    "lamp": "light",
    "lamps": "light",
    "bulb": "light",
    "bulbs": "light",
    "lites": "light",
    "lite": "light",
    "fan": "fan",
    "fans": "fan",
    "ceiling fan": "fan",
    "switch": "switch",
    "switches": "switch",
    "plug": "switch",
    "plugs": "switch",
    "outlet": "switch",
    "outlets": "switch",
    "socket": "switch",
    "sockets": "switch",
    "lock": "lock",
    "locks": "lock",
    "cover": "cover",
    "covers": "cover",
    "thermostat": "climate",
    "heating": "climate",
    "heater": "climate",
    "heat": "climate",
    "ac": "climate",
    "air conditioning": "climate",
    "air con": "climate",
    "aircon": "climate",
    "radiator": "climate",
    "radiators": "climate",
    "tv": "media_player",
    "television": "media_player",
    "telly": "media_player",
    "speaker": "media_player",
    "speakers": "media_player",
    "music": "media_player",
    "media player": "media_player",
    "stereo": "media_player",
    "vacuum": "vacuum",
    "hoover": "vacuum",
    "robot": "vacuum",
    "roomba": "vacuum",
    "vacuum cleaner": "vacuum",
    "sensor": "sensor",
    "sensors": "sensor",
}

DEVICE_CLASS_WORDS: dict[str, str] = {
    "awning": "awning",
    "blind": "blind",
    "shade": "shade",
    "curtain": "curtain",
    "door": "door",
    "garage door": "garage",
    "garage": "garage",
    "gate": "gate",
    "shutter": "shutter",
    "window": "window",
    "battery": "battery",
    "batteries": "battery",
    "temperature": "temperature",
    "humidity": "humidity",
    "motion": "motion",
    "smoke": "smoke",
    "carbon monoxide": "carbon_monoxide",
}

_FILLERS = frozenset({"um", "uh", "er", "erm", "uhm", "hmm", "like"})
_ARTICLES = re.compile(r"^(?:the|my|our|a|an|all|all the|all of the)\s+")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_HALF = re.compile(r"\band a half\b")


def _words(text: str) -> str:
    """Lower-case, punctuation and fillers out; decimal points between digits stay."""
    t = re.sub(r"(?<=\d)[.,](?=\d)", "\x00", text.lower())
    t = re.sub(r"[^\w\s'%\x00-]", " ", t).replace("\x00", ".")
    return " ".join(w for w in t.split() if w not in _FILLERS)


def tidy(text: str) -> str:
    """Lower-case, drop punctuation, fillers and leading articles."""
    return _ARTICLES.sub("", _words(text)).strip()


def _singular(word: str) -> str:
    if word.endswith("es") and word[:-2] in DEVICE_CLASS_WORDS | DOMAIN_WORDS:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def parse_number(text: str) -> float | None:
    """The first number in `text`, digits or words: "twenty two point five" -> 22.5."""
    t = _words(text).replace("-", " ")
    if not t:
        return None
    if t in LEVEL_WORDS:
        return float(LEVEL_WORDS[t])
    half = bool(_HALF.search(t))
    t = _HALF.sub("", t)
    # "a hundred" reads as 100; "oh" is how people say zero in "twenty oh".
    t = re.sub(r"\ba hundred\b", "one hundred", t)
    digits = alpha2digit(t, "en", threshold=0)
    m = _NUMBER.search(digits)
    if m is None:
        for phrase, level in LEVEL_WORDS.items():
            if re.search(rf"\b{re.escape(phrase)}\b", t):
                return float(level)
        return None
    value = float(m.group().replace(",", "."))
    return value + 0.5 if half else value


def parse_percent(text: str) -> int | None:
    value = parse_number(text)
    if value is None:
        return None
    return max(0, min(100, round(value)))


def domain_for(text: str) -> str | None:
    t = tidy(text)
    if t in DOMAIN_WORDS:
        return DOMAIN_WORDS[t]
    words = t.split()
    # The head noun is last: "kitchen ceiling lights" -> light.
    for n in (2, 1):
        if len(words) >= n:
            tail = " ".join(words[-n:])
            for cand in (tail, _singular(tail)):
                if cand in DOMAIN_WORDS:
                    return DOMAIN_WORDS[cand]
    return None


def device_class_for(text: str) -> str | None:
    t = tidy(text)
    words = t.split()
    for n in (2, 1):
        if len(words) >= n:
            tail = " ".join(words[-n:])
            for cand in (tail, _singular(tail)):
                if cand in DEVICE_CLASS_WORDS:
                    return DEVICE_CLASS_WORDS[cand]
    return None


def parse_color(text: str) -> dict[str, Any] | None:
    """{"name", "rgb"} for a colour, {"name", "kelvin"} for a white."""
    t = tidy(text)
    for phrase in sorted(COLOR_TEMPS_K, key=len, reverse=True):
        if re.search(rf"\b{re.escape(phrase)}\b", t):
            return {"name": phrase, "kelvin": COLOR_TEMPS_K[phrase]}
    m = re.search(r"(\d{4,5})\s*(?:k|kelvin)\b", alpha2digit(t, "en"))
    if m:
        return {"name": f"{m.group(1)} kelvin", "kelvin": int(m.group(1))}
    number = parse_number(t)
    if number is not None and 1000 <= number <= 10000:
        return {"name": f"{number:g} kelvin", "kelvin": int(number)}
    for word in reversed(t.split()):
        if word in COLORS_RGB:
            return {"name": word, "rgb": list(COLORS_RGB[word])}
    return None


# How close heard words must be to a list value's words to count as it
# ("movie nite" for "movie night"), rapidfuzz's 0-100 ratio.
LIST_MATCH_CUTOFF = 80.0


def list_value(text: str, spec: dict[str, Any]) -> Any:
    """The value of a slot of a user's own list (labels.json `slot_values`):
    a range list's number; a text list's `out` value for the words heard,
    or for the closest value's words if close enough (a speech recogniser's
    "movie nite"); else the words heard, tidied, so nothing said is lost."""
    if spec.get("number"):
        number = parse_number(text)
        if number is not None:
            return int(number) if float(number).is_integer() else number
    words = tidy(text)
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


def normalise_value(slot: str, text: str) -> Any:
    """The value of a slot from its words; None when the words carry no value."""
    if slot in PERCENT_SLOTS:
        return parse_percent(text)
    if slot == "temperature":
        return parse_number(text)
    if slot == "color":
        return parse_color(text)
    if slot == "domain":
        return domain_for(text)
    if slot == "device_class":
        return device_class_for(text)
    return tidy(text) or None


# --- number words, for generating training sentences -----------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(n: int) -> str:
    """0-9999 as English words: 21 -> "twenty one"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = _ONES[hundreds] + " hundred"
        return head if rest == 0 else f"{head} and {number_to_words(rest)}"
    thousands, rest = divmod(n, 1000)
    head = number_to_words(thousands) + " thousand"
    return head if rest == 0 else f"{head} {number_to_words(rest)}"
