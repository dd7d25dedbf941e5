"""Dutch (Nederlands)."""

from __future__ import annotations

import re
from types import MappingProxyType

from edged.lang import Language, closed, inflected, phonetic_keyer, spelled_by_num2words, words

LEVEL_WORDS = {
    "half": 50,
    "halverwege": 50,
    "de helft": 50,
    "kwart": 25,
    "een kwart": 25,
    "driekwart": 75,
    "drie kwart": 75,
    "een derde": 33,
    "twee derde": 67,
    "vol": 100,
    "helemaal": 100,
    "maximaal": 100,
    "maximum": 100,
    "max": 100,
    "hoogste": 100,
    "minimaal": 1,
    "minimum": 1,
    "min": 1,
    "laagste": 1,
    "een beetje": 10,
    "beetje": 10,
    "een tikje": 10,
    "veel": 30,
    "laag": 25,
    "gemiddeld": 50,
    "hoog": 100,
    # Home Assistant's brightness_level words.
    "helft": 50,
    "halve": 50,
    "het midden": 50,
    "middelste": 50,
    "laagst": 1,
    "minimale": 1,
    "maximale": 100,
}
_COLORS = {
    "rood": (255, 0, 0),
    "groen": (0, 255, 0),
    "blauw": (0, 0, 255),
    "geel": (255, 255, 0),
    "oranje": (255, 165, 0),
    "paars": (128, 0, 128),
    "violet": (238, 130, 238),
    "roze": (255, 192, 203),
    "magenta": (255, 0, 255),
    "cyaan": (0, 255, 255),
    "turquoise": (64, 224, 208),
    "bruin": (165, 42, 42),
    "wit": (255, 255, 255),
    "zwart": (0, 0, 0),
    "goud": (255, 215, 0),
    "lavendel": (230, 230, 250),
    "indigo": (75, 0, 130),
    "amber": (255, 191, 0),
    "koraal": (255, 127, 80),
    "zalm": (250, 128, 114),
    "marineblauw": (0, 0, 128),
    "perzik": (255, 218, 185),
    "mint": (152, 255, 152),
    "lila": (200, 162, 200),
}
COLORS_RGB = inflected(_COLORS, ("e",))
COLORS_RGB.update({"rode": (255, 0, 0), "gele": (255, 255, 0), "witte": (255, 255, 255)})
COLORS_RGB.update({"gouden": (255, 215, 0), "bruine": (165, 42, 42)})

COLOR_TEMPS_K = {
    "kaarslicht": 1900,
    "warm wit": 2700,
    "warmwit": 2700,
    "warm": 2700,
    "neutraal wit": 4000,
    "neutraal": 4000,
    "koel wit": 4000,
    "koud wit": 4000,
    "koud": 6000,
    "koel": 6000,
    "daglicht": 6500,
}
DOMAIN_WORDS = {
    "licht": "light",
    "lichten": "light",
    "lamp": "light",
    "lampen": "light",
    "verlichting": "light",
    "lampje": "light",
    "lampjes": "light",
    "peer": "light",
    "ventilator": "fan",
    "ventilatoren": "fan",
    "schakelaar": "switch",
    "schakelaars": "switch",
    "stekker": "switch",
    "stopcontact": "switch",
    "slot": "lock",
    "sloten": "lock",
    "thermostaat": "climate",
    "verwarming": "climate",
    "radiator": "climate",
    "airco": "climate",
    "tv": "media_player",
    "televisie": "media_player",
    "speaker": "media_player",
    "luidspreker": "media_player",
    "muziek": "media_player",
    "radio": "media_player",
    "stofzuiger": "vacuum",
    "robotstofzuiger": "vacuum",
    "robot": "vacuum",
    "sensor": "sensor",
    "sensoren": "sensor",
}
DEVICE_CLASS_WORDS = {
    "zonnescherm": "awning",
    "markies": "awning",
    "jaloezie": "blind",
    "jaloezieën": "blind",
    "rolgordijn": "shade",
    "gordijn": "curtain",
    "gordijnen": "curtain",
    "deur": "door",
    "deuren": "door",
    "garagedeur": "garage",
    "garage": "garage",
    "poort": "gate",
    "hek": "gate",
    "rolluik": "shutter",
    "rolluiken": "shutter",
    "luik": "shutter",
    "raam": "window",
    "ramen": "window",
    "batterij": "battery",
    "accu": "battery",
    "temperatuur": "temperature",
    "luchtvochtigheid": "humidity",
    "vochtigheid": "humidity",
    "beweging": "motion",
    "rook": "smoke",
    "koolmonoxide": "carbon_monoxide",
}
PLURALS = {"lichten": "licht", "ramen": "raam", "sloten": "slot", "deuren": "deur"}
PLURAL_FORMS = words(
    "lampen lichten lampjes schakelaars stekkers ventilatoren gordijnen rolluiken sloten "
    "deuren ramen sensoren speakers"
)


def singular(word: str) -> str:
    """A stem, crude but consistent on both sides: "-en", "-s", "-je(s)" off."""
    w = PLURALS.get(word, word)
    if len(w) > 4:
        if w.endswith("jes"):
            return w[:-3]
        if w.endswith("je"):
            return w[:-2]
        if w.endswith("en"):
            return w[:-2]
        if w.endswith("s") and not w.endswith("ss"):
            return w[:-1]
    return w


def plural(word: str) -> bool:
    return any(word.endswith(p) for p in PLURAL_FORMS)


phonetic_key = phonetic_keyer(
    (
        (r"ij", "ei"),
        (r"sch", "s"),
        (r"ch", "g"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"dt", "t"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"qu", "kw"),
        (r"x", "ks"),
        (r"w", "v"),
    ),
)
STOPWORDS = words("de het een mijn onze ons deze dit die dat alsjeblieft aub graag")
NAME_NUMBERS = MappingProxyType(
    {
        "twee": "2",
        "drie": "3",
        "vier": "4",
        "vijf": "5",
        "zes": "6",
        "zeven": "7",
        "acht": "8",
        "negen": "9",
        "tien": "10",
        "eerste": "1",
        "tweede": "2",
        "derde": "3",
    }
)
SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lamp", "licht"),
        ("tv", "televisie"),
        ("stekker", "stopcontact"),
        ("rolluik", "jaloezie"),
        ("thermostaat", "verwarming"),
        ("speaker", "luidspreker"),
        ("woonkamer", "huiskamer"),
    )
)
_COMMAND = words(
    """
    zet zetten doe doen schakel schakelen maak maken draai draaien open openen sluit
    sluiten vergrendel vergrendelen ontgrendel ontgrendelen start starten stop stoppen
    pauzeer pauzeren hervat hervatten volgende vorige terug activeer activeren
    deactiveer deactiveren aan uit in op neer omhoog omlaag dim dimmen helderder
    donkerder feller harder zachter luider volume helderheid temperatuur graden graad
    procent warmer kouder koeler snelheid sneller langzamer beetje wat veel meer minder
    heel te nog eens nu graag alsjeblieft bedankt dank kun kan kunt zou je jij ik me mij
    we ons hey oké ok alle alles helemaal half vol maximaal minimaal stofzuig stofzuigen
    schoonmaken basis laadstation opladen muziek nummer liedje zender geluid dempen
    in op aan van voor met en of naar over daar hier wat is zijn het licht lichten
    """
)
PRONOUNS = closed(words("het hem ze die dat deze dit"), singular)
PRONOUN_WORDS = words("het hem ze")
ALL_WORDS = closed(words("alle alles overal hele heel huis woning elke ieder"), singular)
SWITCH_WORDS = closed(
    words(
        """
        aan uit zet zetten doe doen schakel schakelen inschakelen uitschakelen aanzetten
        uitzetten start starten stop stoppen
        """
    ),
    singular,
)
SWITCH_OP_WORDS = SWITCH_WORDS | closed(
    words(
        """
        open openen sluit sluiten vergrendel vergrendelen ontgrendel ontgrendelen
        activeer activeren deactiveer deactiveren omhoog omlaag op neer dicht
        """
    ),
    singular,
)
KIND_WORDS = MappingProxyType(
    {
        singular(w): kind
        for w, kind in {
            "licht": "light",
            "lamp": "light",
            "lampje": "light",
            "schakelaar": "switch",
            "stekker": "switch",
            "stopcontact": "switch",
            "ventilator": "fan",
            "rolluik": "cover",
            "gordijn": "cover",
            "jaloezie": "cover",
            "zonnescherm": "cover",
            "slot": "lock",
            "thermostaat": "climate",
            "verwarming": "climate",
            "radiator": "climate",
            "airco": "climate",
            "tv": "media_player",
            "televisie": "media_player",
            "speaker": "media_player",
            "stofzuiger": "vacuum",
        }.items()
    }
)
DOOR_WORDS = MappingProxyType(
    {"deur": frozenset({"cover", "lock"}), "poort": frozenset({"cover", "lock"})}
)
STATE_RE = re.compile(
    r"\b(?:is|zijn|was|waren|staat|staan)\s+(?:\w+\s+)?"
    r"(?:aan|uit|open|dicht|gesloten|vergrendeld|op slot)\b"
)
IMPERATIVE_WORDS = (SWITCH_WORDS - {"aan", "uit"}) | words("maak zorg laat houd open sluit")
YES_PHRASES = words("ja jawel jazeker jep yes ok oké prima zeker goed bevestig akkoord") | {
    "ja graag",
    "ja alsjeblieft",
    "doe maar",
    "doe het maar",
    "ga je gang",
    "ja doe maar",
    "is goed",
    "ik bevestig",
    "natuurlijk",
    "klopt",
}
NO_PHRASES = words("nee neen nope annuleer annuleren stop stoppen laat nooit") | {
    "nee dank je",
    "nee bedankt",
    "liever niet",
    "laat maar",
    "niet doen",
    "doe maar niet",
    "vergeet het",
    "nee nee",
    "nee annuleer",
}
OP_WORDS = MappingProxyType(
    {
        "unlock": "ontgrendelen",
        "lock": "vergrendelen",
        "open": "openen",
        "close": "sluiten",
        "position": "verplaatsen",
        "disarm": "uitschakelen",
        "arm": "inschakelen",
    }
)

LANGUAGE = Language(
    code="nl",
    name="Nederlands",
    text2num="nl",
    number_words=spelled_by_num2words("nl"),
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=words("eh ehm uh uhm hmm"),
    articles=re.compile(r"^(?:alle|de|het|een|mijn|onze|ons)\s+"),
    half=re.compile(r"\s+en\s+(?:een\s+)?half\b|(?<=\w)[eë]nhalf\b"),
    compound_heads=True,
    stopwords=STOPWORDS,
    name_numbers=NAME_NUMBERS,
    synonyms=SYNONYMS,
    singular=singular,
    phonetic_key=phonetic_key,
    plural=plural,
    # keuken|lamp, slaapkamer|s|licht, bureau|lamp.
    compound_links=("", "s", "en", "e"),
    command_words=closed(_COMMAND, singular),
    pronouns=PRONOUNS,
    pronoun_words=PRONOUN_WORDS,
    all_words=ALL_WORDS,
    switch_words=SWITCH_WORDS,
    switch_op_words=SWITCH_OP_WORDS,
    kind_words=KIND_WORDS,
    door_words=DOOR_WORDS,
    state_re=STATE_RE,
    imperative_words=IMPERATIVE_WORDS,
    temperature_phrase="{name} temperatuur",
    yes_phrases=frozenset(YES_PHRASES),
    no_phrases=frozenset(NO_PHRASES),
    op_words=OP_WORDS,
    confirm_prompt="Wil je echt {what}? Zeg ja om te bevestigen.",
    custom_prompt="Wil je echt {intent} uitvoeren? Zeg ja om te bevestigen.",
    target="{name} {op}",
    and_word=" en ",
    replies_file="replies.nl.yaml",
)
