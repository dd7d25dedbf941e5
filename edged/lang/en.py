"""English: the tables edged was written with (moved here unchanged from
edged.nlu.values, edged.home.registry, gazetteer, resolve and policy)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

from edged.lang import Language

# --- slot values ---------------------------------------------------------------

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


ONES = [
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

TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(n: int) -> str:
    """0-9999 as English words: 21 -> "twenty one"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + ("" if ones == 0 else " " + ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = ONES[hundreds] + " hundred"
        return head if rest == 0 else f"{head} and {number_to_words(rest)}"
    thousands, rest = divmod(n, 1000)
    head = number_to_words(thousands) + " thousand"
    return head if rest == 0 else f"{head} {number_to_words(rest)}"


# --- names ---------------------------------------------------------------------

STOPWORDS = frozenset({"the", "a", "an", "my", "our", "your", "this", "that", "please"})

NAME_NUMBERS = MappingProxyType(
    {
        "one": "1",
        "two": "2",
        "three": "3",
        "four": "4",
        "five": "5",
        "six": "6",
        "seven": "7",
        "eight": "8",
        "nine": "9",
        "ten": "10",
        "first": "1",
        "second": "2",
        "third": "3",
    }
)

SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lamp", "light"),
        ("tv", "television"),
        ("tv", "telly"),
        ("plug", "socket"),
        ("plug", "outlet"),
        ("blind", "shade"),
        ("blind", "shutter"),
        ("curtain", "drape"),
        ("thermostat", "heating"),
        ("vacuum", "hoover"),
        ("lounge", "living"),
    )
)

# What commands are made of besides device, place and value words (see
# edged.home.gazetteer).

COMMAND_WORDS = frozenset(
    """
    turn turned turning switch switched shut put set make makes get let go going start
    stop run running power powered kill cut flip activate deactivate enable disable
    open close lock unlock arm disarm pause resume play unpause continue skip next
    previous back forward mute unmute dim dimmer dimmed brighten brighter bright
    darker lighter light lights up down on off toggle raise lower increase decrease
    reduce boost bump crank adjust change louder quieter softer loud quiet volume
    sound level brightness temperature temp degree percent percentage warmer cooler
    hotter colder heat speed faster slower bit little lot more less much too very
    again now please can could would will you i me we us mind kindly hey ok okay
    just some all everything full max maximum minimum min half way clean cleaning
    vacuum dock home base charge charging song track music channel
    to of in at for by with and or from into onto out over than then so also both
    each there here what is are be do does did should thanks thank right away
    quickly immediately actually already
    """.split()  # noqa: SIM905 (a word list reads and diffs better as text)
)


def singular(word: str) -> str:
    """Crude, but applied to both sides, so it only has to be consistent."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_VOICING = str.maketrans("bdgv", "ptkf")


# Pure, and called for every word pair of every match (379k calls for 204
# utterances at 300 devices): memoised, resolve 17.7 -> 2.4 ms.
@functools.lru_cache(maxsize=65536)
def phonetic_key(word: str) -> str:
    """A tiny metaphone-ish key: the spellings ASR confuses map together
    ("lite"/"light" -> "lt", "reeding"/"reading" -> "rdng")."""
    w = word.lower()
    if not w.isalpha():
        return w
    for a, b in (
        ("tch", "ch"),
        ("sch", "sk"),
        ("ph", "f"),
        ("gh", ""),
        ("ck", "k"),
        ("dg", "j"),
        ("wr", "r"),
        ("kn", "n"),
        ("qu", "kw"),
        ("x", "ks"),
        ("q", "k"),
        ("z", "s"),
    ):
        w = w.replace(a, b)
    w = re.sub(r"c(?=[eiy])", "s", w).replace("c", "k")
    w = re.sub(r"g(?=[eiy])", "j", w)
    if not w:
        return ""
    # Voiced and voiceless twins ("lamb"/"lamp", "bet"/"bed") are what a
    # recogniser swaps most; Soundex puts them in one class too.
    w = w.translate(_VOICING)
    head = "a" if w[0] in "aeiouy" else w[0]
    key = head + re.sub(r"[aeiouyhw]", "", w[1:])
    return re.sub(r"(.)\1+", r"\1", key)


# --- the resolver ----------------------------------------------------------------

PRONOUNS = frozenset({"it", "them", "that", "those", "this", "these", "they", "one"})
# Words that ask for context on their own (as raw words, not only when the
# model tags them): "turn it off", "switch them on".
PRONOUN_WORDS = frozenset({"it", "them", "they"})
ALL_WORDS = frozenset({"all", "every", "everything", "everywhere", "whole", "house", "home"})
SWITCH_WORDS = frozenset(
    {"on", "off", "toggle", "switch", "shut", "kill", "power", "turn", "start", "stop"}
)

# Words that say an operation. An on/off whose target is a guess (a name
# only the gazetteer found, an area's implicit group) needs one: "the kettle
# is boiling" and "i'm in the garden" ask for nothing.

SWITCH_OP_WORDS = SWITCH_WORDS | frozenset(
    {
        "lock",
        "unlock",
        "open",
        "close",
        "arm",
        "disarm",
        "enable",
        "disable",
        "activate",
        "deactivate",
        "raise",
        "lower",
        "up",
        "down",
    }
)

# Words that end a spoken name and make it a group ("kitchen lights").

KIND_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "light": "light",
        "lamp": "light",
        "switch": "switch",
        "plug": "switch",
        "socket": "switch",
        "outlet": "switch",
        "fan": "fan",
        "blind": "cover",
        "shade": "cover",
        "shutter": "cover",
        "curtain": "cover",
        "lock": "lock",
        "thermostat": "climate",
        "heating": "climate",
        "heat": "climate",
        "radiator": "climate",
        "ac": "climate",
        "tv": "media_player",
        "television": "media_player",
        "speaker": "media_player",
        "vacuum": "vacuum",
    }
)
# Kind words for what a door or gate may be, when said after a name.
DOOR_WORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {"door": frozenset({"cover", "lock"}), "gate": frozenset({"cover", "lock"})}
)
STATE_RE = re.compile(
    r"\b(?:is|are|was|were|been|being|it's|that's)\s+(?:on|off|open|closed|locked)\b"
)
# Verbs that make "... is on" a command again: "make sure the heater is off".
IMPERATIVE_WORDS = (SWITCH_WORDS - {"on", "off"}) | frozenset(
    {"make", "put", "set", "keep", "get", "leave", "lock", "unlock", "open", "close"}
)

# --- confirmation ------------------------------------------------------------------

# Whole (normalised) utterances, not words in a sentence: "yes turn off the
# lights" is a command, not a confirmation.

YES_PHRASES = frozenset(
    {
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "ok",
        "okay",
        "confirm",
        "confirmed",
        "do it",
        "go ahead",
        "yes please",
        "yes do it",
        "please do",
        "affirmative",
        "correct",
        "i confirm",
    }
)

NO_PHRASES = frozenset(
    {
        "no",
        "nope",
        "nah",
        "cancel",
        "cancel that",
        "stop",
        "abort",
        "don't",
        "do not",
        "dont",
        "no thanks",
        "no thank you",
        "never mind",
        "nevermind",
        "forget it",
        "no don't",
    }
)

OP_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "unlock": "unlock",
        "lock": "lock",
        "open": "open",
        "close": "close",
        "position": "move",
        "disarm": "disarm",
        "arm": "arm",
    }
)


LANGUAGE = Language(
    code="en",
    name="English",
    text2num="en",
    number_words=number_to_words,
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=frozenset({"um", "uh", "er", "erm", "uhm", "hmm", "like"}),
    articles=re.compile(r"^(?:the|my|our|a|an|all|all the|all of the)\s+"),
    half=re.compile(r"\band a half\b"),
    # "a hundred" reads as 100.
    number_rewrites=((re.compile(r"\ba hundred\b"), "one hundred"),),
    ascii_words=True,
    stopwords=STOPWORDS,
    name_numbers=NAME_NUMBERS,
    synonyms=SYNONYMS,
    singular=singular,
    phonetic_key=phonetic_key,
    command_words=COMMAND_WORDS,
    pronouns=PRONOUNS,
    pronoun_words=PRONOUN_WORDS,
    all_words=ALL_WORDS,
    switch_words=SWITCH_WORDS,
    switch_op_words=SWITCH_OP_WORDS,
    kind_words=KIND_WORDS,
    door_words=DOOR_WORDS,
    state_re=STATE_RE,
    imperative_words=IMPERATIVE_WORDS,
    yes_phrases=YES_PHRASES,
    no_phrases=NO_PHRASES,
    op_words=OP_WORDS,
)
