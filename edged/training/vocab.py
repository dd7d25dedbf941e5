"""Generated vocabularies of device names, areas and floors.

The model must learn *where* a name sits in a sentence, not *which* names
exist, so names are built from many parts: owners, places, qualities, brands,
odd words, and a head noun that fits the device's domain. Every home is
different; a model that only saw "kitchen light" would not find "Oma's
Tiffany lamp".
"""

from __future__ import annotations

import dataclasses
import functools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edged.lang import get_language
from edged.nlu.values import tidy

FIRST_NAMES = [
    "anna",
    "bob",
    "carla",
    "dave",
    "emma",
    "frank",
    "grace",
    "henry",
    "isla",
    "jack",
    "kate",
    "leo",
    "mia",
    "noah",
    "olivia",
    "paul",
    "quinn",
    "rosa",
    "sam",
    "tom",
    "uma",
    "victor",
    "wendy",
    "xavier",
    "yara",
    "zoe",
    "max",
    "lily",
    "oscar",
    "ruby",
    "ben",
    "chloe",
    "dan",
    "ella",
    "finn",
    "gina",
    "hugo",
    "ivy",
    "jonas",
    "lena",
    "marco",
    "nina",
    "omar",
    "pia",
    "raj",
    "sofia",
]

ROOMS = [
    "kitchen",
    "living room",
    "lounge",
    "bedroom",
    "master bedroom",
    "guest room",
    "guest bedroom",
    "office",
    "study",
    "den",
    "hallway",
    "hall",
    "landing",
    "bathroom",
    "toilet",
    "ensuite",
    "laundry",
    "laundry room",
    "utility room",
    "garage",
    "garden",
    "backyard",
    "front yard",
    "patio",
    "porch",
    "terrace",
    "balcony",
    "basement",
    "cellar",
    "attic",
    "loft",
    "dining room",
    "family room",
    "playroom",
    "nursery",
    "kids room",
    "games room",
    "gym",
    "library",
    "pantry",
    "conservatory",
    "sunroom",
    "workshop",
    "shed",
    "driveway",
    "entrance",
    "entryway",
    "foyer",
    "stairs",
    "staircase",
    "upstairs hallway",
    "downstairs bathroom",
    "tv room",
    "media room",
    "man cave",
    "craft room",
    "music room",
    "sewing room",
    "boot room",
    "mudroom",
    "closet",
    "walk in closet",
    "wine cellar",
    "pool house",
    "cinema room",
    "home office",
    "spare room",
    "back garden",
    "front garden",
    "courtyard",
    "veranda",
    "deck",
    "carport",
    "granny flat",
    "annex",
]

ROOM_QUALIFIERS = [
    "upstairs",
    "downstairs",
    "main",
    "small",
    "big",
    "back",
    "front",
    "north",
    "south",
    "east",
    "west",
]

FLOORS = [
    "upstairs",
    "downstairs",
    "ground floor",
    "first floor",
    "second floor",
    "third floor",
    "top floor",
    "basement",
    "attic",
    "loft",
    "main floor",
    "lower level",
    "upper level",
    "level one",
    "level two",
    "cellar",
    "mezzanine",
    "ground level",
]

# Head nouns per domain: the last word of most device names.
HEADS: dict[str, tuple[str, ...]] = {
    "light": (
        "light",
        "lights",
        "lamp",
        "lamps",
        "bulb",
        "bulbs",
        "spots",
        "spotlights",
        "downlights",
        "ceiling light",
        "led strip",
        "strip",
        "chandelier",
        "pendant",
        "sconce",
        "floor lamp",
        "desk lamp",
        "reading lamp",
        "night light",
        "lantern",
        "fairy lights",
        "string lights",
        "uplighter",
        "light bar",
        "lightstrip",
        "bedside lamp",
        "table lamp",
        "wall light",
        "porch light",
        "flood light",
    ),
    "switch": (
        "plug",
        "socket",
        "outlet",
        "switch",
        "power strip",
        "kettle",
        "coffee maker",
        "coffee machine",
        "espresso machine",
        "heater",
        "dehumidifier",
        "humidifier",
        "fountain",
        "pump",
        "sprinkler",
        "irrigation",
        "christmas tree",
        "aquarium",
        "fish tank",
        "towel rail",
        "electric blanket",
        "water heater",
        "boiler",
        "printer",
        "monitor",
        "amplifier",
        "toaster",
        "air purifier",
        "charger",
        # Appliances and electronics homes name plainly ("Computer",
        # "Dishwasher", "Alarm"): a model that saw too few of them read
        # "turn off the computer" as out of scope (issue 21).
        "computer",
        "pc",
        "desktop",
        "gaming pc",
        "dishwasher",
        "washing machine",
        "washer",
        "dryer",
        "tumble dryer",
        "oven",
        "microwave",
        "air fryer",
        "slow cooker",
        "rice cooker",
        "bread maker",
        "fridge",
        "freezer",
        "xbox",
        "playstation",
        "games console",
        "console",
        "fireplace",
        "electric fire",
        "hot tub",
        "pool pump",
        "sauna",
        "ev charger",
        "3d printer",
        "alarm",
        "house alarm",
        "burglar alarm",
        "security system",
        "siren",
        "ventilation",
        "water feature",
        "fairy lights",
    ),
    "fan": ("fan", "ceiling fan", "desk fan", "tower fan", "extractor fan", "ventilator"),
    "cover": (
        "blinds",
        "blind",
        "curtains",
        "curtain",
        "shutters",
        "shutter",
        "shades",
        "awning",
        "garage door",
        "gate",
        "roller blind",
        "skylight",
        "window",
        "drapes",
        "roller shutter",
        "sunshade",
    ),
    "lock": (
        "lock",
        "door lock",
        "front door",
        "back door",
        "side door",
        "deadbolt",
        "door",
        "gate lock",
        "smart lock",
        "patio door",
    ),
    "climate": (
        "thermostat",
        "heating",
        "radiator",
        "ac",
        "air conditioner",
        "heat pump",
        "climate",
        "floor heating",
        "underfloor heating",
        "hvac",
    ),
    "media_player": (
        "tv",
        "television",
        "speaker",
        "sonos",
        "soundbar",
        "stereo",
        "chromecast",
        "apple tv",
        "radio",
        "receiver",
        "echo",
        "homepod",
        "record player",
        "projector",
        "media player",
        "hifi",
        "sound system",
        "kitchen radio",
        "jukebox",
    ),
    "vacuum": (
        "vacuum",
        "roomba",
        "robot vacuum",
        "hoover",
        "robot",
        "mop",
        "vacuum cleaner",
        "roborock",
    ),
    "sensor": (
        "sensor",
        "thermometer",
        "motion sensor",
        "door sensor",
        "leak sensor",
        "smoke detector",
        "weather station",
        "power meter",
        "energy meter",
        "humidity sensor",
        "air quality sensor",
        "rain gauge",
        "water meter",
        "solar inverter",
        "battery",
        "co2 sensor",
    ),
    # Home Assistant's state questions name many things that are not lights or
    # plugs: phones, detectors, people's devices.
    "binary_sensor": (
        "phone",
        "battery",
        "door",
        "window",
        "motion",
        "leak sensor",
        "smoke detector",
        "co detector",
        "gas sensor",
        "occupancy",
        "water sensor",
        "doorbell",
        "garage door sensor",
        "presence",
        "vibration sensor",
        "freezer alarm",
        "pet door",
        "mailbox",
        "siren",
        "tablet",
        "laptop",
        "gas",
        "co",
        "smoke",
        "water leak",
        "road",
        "pipes",
        "water pipes",
        "computer",
        "furnace",
        "fridge",
        "freezer",
        "dishwasher",
        "washing machine",
        "dryer",
        "car",
        "garage",
        "basement",
        "attic",
        "roof",
        "driveway",
        "server",
        "router",
        "printer",
        "plant",
        "soil",
    ),
    "device_tracker": ("phone", "car", "tablet", "watch", "keys", "laptop", "bike", "van"),
    # Scenes and scripts are named for a moment, not a device: "party mode",
    # "movie night", "good night".
    "scene": (
        "mode",
        "scene",
        "time",
        "night",
        "party mode",
        "stealth mode",
        "movie mode",
        "movie night",
        "good night",
        "good morning",
        "dinner",
        "relax",
        "focus",
        "bedtime",
        "wake up",
        "romance",
        "away mode",
        "vacation mode",
        "cinema",
    ),
    "script": (
        "routine",
        "script",
        "bedtime routine",
        "morning routine",
        "leave home",
        "arrive home",
        "feed the fish",
        "water the plants",
    ),
    "person": ("dad", "mum", "mom", "grandma", "the kids", "the dog walker"),
}

QUALITIES = [
    "big",
    "small",
    "little",
    "main",
    "old",
    "new",
    "left",
    "right",
    "upper",
    "lower",
    "tall",
    "round",
    "corner",
    "blue",
    "red",
    "green",
    "white",
    "black",
    "golden",
    "silver",
    "warm",
    "cool",
    "smart",
    "cozy",
]

ODD_WORDS = [
    "tiffany",
    "arc",
    "hue",
    "tradfri",
    "govee",
    "nanoleaf",
    "lifx",
    "shelly",
    "sonoff",
    "wiz",
    "yeelight",
    "ikea",
    "philips",
    "osram",
    "tapo",
    "kasa",
    "meross",
    "aqara",
    "moes",
    "lidl",
    "blitzwolf",
    "nous",
    "athom",
    "moon",
    "sun",
    "star",
    "cloud",
    "galaxy",
    "ocean",
    "forest",
    "aurora",
    "lava",
    "salt",
    "crystal",
    "bamboo",
    "paper",
    "globe",
    "ball",
    "cube",
    "mushroom",
    "tulip",
    "lotus",
    "orchid",
    "cactus",
    "fern",
    "olive",
    "maple",
    "oak",
    "birch",
    "willow",
    "cedar",
    "pine",
    "rose",
    "daisy",
    "lily",
    "ivy",
    "mango",
    "lemon",
    "cherry",
    "peach",
    "disco",
    "party",
    "movie",
    "reading",
    "gaming",
    "sleep",
    "wake",
    "mood",
    "accent",
    "feature",
    "ambient",
    "christmas",
    "holiday",
    "easter",
    "halloween",
    "garden",
    "pool",
    "pond",
    "patio",
    "deck",
    "fence",
    "mirror",
    "vanity",
    "shelf",
    "cabinet",
    "counter",
    "island",
    "bar",
    "sofa",
    "couch",
    "bed",
    "desk",
    "piano",
    "bookshelf",
    "fireplace",
    "mantel",
    "stair",
    "hall",
    "window",
    "wall",
    "ceiling",
    "floor",
]

# Things a sensor sits on, and what it measures: Home Assistant names sensor
# entities "<device> <measurement>" ("wall plug power factor", "car tyre
# pressure", "heat pump CO2 sensor").
SENSOR_THINGS = [
    "water pump",
    "heat pump",
    "car",
    "car tyre",
    "wall plug",
    "house",
    "grid",
    "solar",
    "powerwall",
    "bed sensor",
    "appliance",
    "air conditioning",
    "sound bar",
    "phone",
    "dishwasher",
    "washing machine",
    "fridge",
    "freezer",
    "boiler",
    "pool",
    "garden",
    "greenhouse",
    "brewery mixer",
    "server rack",
    "ev charger",
    "inverter",
    "outdoor",
    "indoor",
    "input",
    "main",
    "mains",
    "travelling",
    "office desk",
    "aquarium",
    "water tank",
    "rain gauge",
]
MEASURES = [
    "power",
    "apparent power",
    "reactive power",
    "power factor",
    "energy",
    "stored energy",
    "energy usage",
    "consumption",
    "current",
    "current draw",
    "voltage",
    "frequency",
    "production",
    "pressure",
    "tyre pressure",
    "acoustic pressure",
    "humidity",
    "moisture",
    "illuminance",
    "irradiance",
    "temperature",
    "weight",
    "speed",
    "signal",
    "gsm signal",
    "wifi signal",
    "battery",
    "battery level",
    "distance",
    "mileage",
    "duration",
    "volume",
    "usage",
    "water usage",
    "co2",
    "pm2.5",
    "pm10",
    "n2o",
    "aqi",
    "level",
    "meter",
]


def make_sensor_name(
    rng: random.Random, device_class: str | None = None, w: Words | None = None
) -> str:
    """A sensor entity's name: "<thing> <measurement>", maybe "... sensor"."""
    w = w or english_words()
    measure = (
        w.measure_of(device_class)
        if device_class and rng.random() < 0.4
        else rng.choice(w.measures)
    )
    r = rng.random()
    if r < 0.45:
        thing = rng.choice(w.sensor_things)
    elif r < 0.7:
        thing = rng.choice(w.rooms)
    elif r < 0.85:
        thing = w.join(w.room_thing, room=rng.choice(w.rooms), thing=rng.choice(w.sensor_things))
    else:
        thing = rng.choice(w.odd_words)
    name = w.join(w.thing_measure, thing=thing, measure=measure)
    if rng.random() < 0.2:
        name += w.sensor_suffix
    return name


# Places named for what happens there: "play corner", "reading nook".
ACTIVITIES = ["play", "reading", "work", "tv", "music", "coffee", "craft", "gaming", "dining"]
PLACES = ["corner", "nook", "area", "zone", "spot", "space"]


DOMAIN_WEIGHTS: dict[str, float] = {
    "light": 0.38,
    "switch": 0.17,
    "fan": 0.07,
    "cover": 0.1,
    "lock": 0.06,
    "climate": 0.06,
    "media_player": 0.1,
    "vacuum": 0.03,
    "sensor": 0.03,
}


def make_area(rng: random.Random, w: Words | None = None) -> str:
    w = w or english_words()
    r = rng.random()
    if r < 0.62:
        return rng.choice(w.rooms)
    if r < 0.75:
        owner = rng.choice(w.first_names)
        return w.pick(rng, w.owner_room).format(owner=owner, room=rng.choice(w.own_rooms))
    if r < 0.88:
        return w.join(
            w.qualified_room, qualifier=rng.choice(w.room_qualifiers), room=rng.choice(w.rooms)
        )
    if r < 0.95:
        return w.join(w.odd_room, odd=rng.choice(w.odd_words))
    return rng.choice(w.odd_words)


def make_floor(rng: random.Random, w: Words | None = None) -> str:
    return rng.choice((w or english_words()).floors)


def pick_domain(rng: random.Random) -> str:
    domains = list(DOMAIN_WEIGHTS)
    return rng.choices(domains, weights=[DOMAIN_WEIGHTS[d] for d in domains])[0]


SUFFIXES = [
    "left",
    "right",
    "north",
    "south",
    "east",
    "west",
    "1",
    "2",
    "3",
    "4",
    "one",
    "two",
    "top",
    "bottom",
    "main",
    "big",
    "small",
]


def make_name(
    rng: random.Random,
    domain: str | None = None,
    device_class: str | None = None,
    w: Words | None = None,
) -> str:
    """A device name fitting `domain` (any domain when None), in `w`'s words
    (English's by default)."""
    w = w or english_words()
    domain = domain if domain in w.heads else pick_domain(rng)
    if domain == "person" and rng.random() < 0.7:
        return rng.choice(w.first_names)
    if domain == "sensor" and rng.random() < (0.7 if device_class else 0.3):
        return make_sensor_name(rng, device_class, w)
    head = rng.choice(w.heads[domain])
    if domain in ("binary_sensor", "device_tracker") and rng.random() < 0.35:
        return head  # "is the phone charging?", "is gas detected?"
    if domain in ("scene", "script") and rng.random() < 0.4:
        r = rng.random()
        if r < 0.5:
            return w.join(
                w.odd_mode, odd=rng.choice(w.odd_words + w.qualities), mode=rng.choice(w.modes)
            )
        return head
    if domain == "vacuum" and rng.random() < 0.2:
        return rng.choice(w.first_names)  # "start bob"
    r = rng.random()
    if r < 0.06:
        # a qualifier after the noun: "curtain left", "lamp 2"
        return f"{head} {rng.choice(w.suffixes)}"
    if r < 0.28:
        # The bare noun, as many homes name things ("Computer", "Kettle",
        # "TV"): at 6 % the model learnt names by their nouns and read
        # "turn off the computer" as out of scope.
        if head.lower() not in w.kind_words or rng.random() < 0.15:
            return head
        # A kind word alone ("Rollläden", "Jalousie") is mostly the kind,
        # as Home Assistant's sentences tag it ("die Rollläden im
        # Wohnzimmer"): as a whole name only now and then.
        r = 0.28 + rng.random() * 0.72
    if r < 0.5:
        # The word order is drawn before the room, as before compounds came
        # (the German data, and its model, stay as they were).
        order = w.pick(rng, w.room_head)
        room = rng.choice(w.rooms)
        if w.compound_share and " " not in room and rng.random() < w.compound_share:
            # One word, as Dutch writes it: "woonkamerthermostaat".
            return f"{room}{head.lower()}"
        return order.format(room=room, head=head)
    if r < 0.6:
        return w.pick(rng, w.owner_head).format(owner=rng.choice(w.first_names), head=head)
    if r < 0.7:
        return w.join(w.quality_head, quality=rng.choice(w.qualities), head=head)
    if r < 0.83:
        return f"{rng.choice(w.odd_words)} {head}"
    if r < 0.9:
        return w.join(
            w.room_quality_head,
            room=rng.choice(w.rooms),
            quality=rng.choice(w.qualities),
            head=head,
        )
    if r < 0.93:
        return f"{rng.choice(w.odd_words)} {rng.randint(1, 4)}"
    if r < 0.96:
        return w.join(
            w.activity_place, activity=rng.choice(w.activities), place=rng.choice(w.places)
        )
    # Names without a device word: "Bertha", "Big Ben".
    return f"{rng.choice(w.odd_words)} {rng.choice(w.odd_words)}"


# --- the words of a language ------------------------------------------------------

LANG_DIR = Path(__file__).resolve().parent / "lang"


@dataclass(frozen=True)
class Words:
    """A language's words for generated names, areas and floors, and the
    word orders that put them together (Python format strings). English's
    are this module's lists; another language's are
    `edged/training/lang/<code>.yaml` (the same keys)."""

    first_names: list[str]
    rooms: list[str]
    own_rooms: list[str]
    room_qualifiers: list[str]
    floors: list[str]
    heads: dict[str, tuple[str, ...]]
    qualities: list[str]
    odd_words: list[str]
    suffixes: list[str]
    sensor_things: list[str]
    measures: list[str]
    measure_names: dict[str, str]
    activities: list[str]
    places: list[str]
    modes: list[str]
    sensor_suffix: str = " sensor"
    # Word orders. A list gets one drawn at random; one entry draws nothing.
    room_head: list[str] = field(default_factory=lambda: ["{room} {head}"])
    # Share of room names written as one word with the head ("keukenlamp").
    compound_share: float = 0.0
    owner_head: list[str] = field(default_factory=lambda: ["{owner}'s {head}"])
    owner_room: list[str] = field(default_factory=lambda: ["{owner}'s {room}"])
    quality_head: str = "{quality} {head}"
    room_quality_head: str = "{room} {quality} {head}"
    qualified_room: str = "{qualifier} {room}"
    # Heads that are the language's kind words (domain or device class,
    # lower case); empty for English, whose data predates this.
    kind_words: frozenset[str] = frozenset()
    odd_room: str = "{odd} room"
    odd_mode: str = "{odd} {mode}"
    activity_place: str = "{activity} {place}"
    room_thing: str = "{room} {thing}"
    thing_measure: str = "{thing} {measure}"

    @staticmethod
    def pick(rng: random.Random, options: list[str]) -> str:
        return options[0] if len(options) == 1 else rng.choice(options)

    @staticmethod
    def join(pattern: str, **parts: str) -> str:
        return pattern.format(**parts)

    def measure_of(self, device_class: str) -> str:
        return self.measure_names.get(device_class, device_class.replace("_", " "))


@functools.cache
def english_words() -> Words:
    return Words(
        first_names=FIRST_NAMES,
        rooms=ROOMS,
        own_rooms=["room", "bedroom", "office", "study"],
        room_qualifiers=ROOM_QUALIFIERS,
        floors=FLOORS,
        heads=HEADS,
        qualities=QUALITIES,
        odd_words=ODD_WORDS,
        suffixes=SUFFIXES,
        sensor_things=SENSOR_THINGS,
        measures=MEASURES,
        measure_names={},
        activities=ACTIVITIES,
        places=PLACES,
        modes=["mode", "time", "scene"],
    )


@functools.cache
def lang_file(language: str) -> dict[str, Any]:
    """edged/training/lang/<code>.yaml: a language's `names`, `sampler` and
    `noise` words for generating training sentences."""
    path = LANG_DIR / f"{language}.yaml"
    if not path.is_file():
        raise ValueError(f"no training words for language {language!r} ({path} is missing)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not {"names", "sampler", "noise"} <= set(raw):
        raise ValueError(f"{path}: needs the sections names, sampler and noise")
    return raw


def checked(section: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    """`section` as keyword arguments of the dataclass `cls`; an unknown key is an error."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    return dict(section)


@functools.cache
def words_for(language: str = "en") -> Words:
    """The name words of `language` (edged/training/lang/<code>.yaml)."""
    if language == "en":
        return english_words()
    data = checked(lang_file(language)["names"], Words, f"{language}.yaml names")
    data["heads"] = {k: tuple(v) for k, v in data["heads"].items()}
    data.setdefault("measure_names", {})
    lang = get_language(language)
    kinds = {**lang.domain_words, **lang.device_class_words}
    data["kind_words"] = frozenset(
        h.lower()
        for heads in data["heads"].values()
        for h in heads
        if tidy(h, lang) in kinds or lang.singular(tidy(h, lang)) in kinds
    )
    return Words(**data)
