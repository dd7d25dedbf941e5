"""Generated vocabularies of device names, areas and floors.

The model must learn *where* a name sits in a sentence, not *which* names
exist, so names are built from many parts: owners, places, qualities, brands,
odd words, and a head noun that fits the device's domain. Every home is
different; a model that only saw "kitchen light" would not find "Oma's
Tiffany lamp".
"""

from __future__ import annotations

import random

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


def make_sensor_name(rng: random.Random, device_class: str | None = None) -> str:
    """A sensor entity's name: "<thing> <measurement>", maybe "... sensor"."""
    measure = (
        device_class.replace("_", " ")
        if device_class and rng.random() < 0.4
        else rng.choice(MEASURES)
    )
    r = rng.random()
    if r < 0.45:
        thing = rng.choice(SENSOR_THINGS)
    elif r < 0.7:
        thing = rng.choice(ROOMS)
    elif r < 0.85:
        thing = f"{rng.choice(ROOMS)} {rng.choice(SENSOR_THINGS)}"
    else:
        thing = rng.choice(ODD_WORDS)
    name = f"{thing} {measure}"
    if rng.random() < 0.2:
        name += " sensor"
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


def make_area(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.62:
        return rng.choice(ROOMS)
    if r < 0.75:
        return f"{rng.choice(FIRST_NAMES)}'s {rng.choice(('room', 'bedroom', 'office', 'study'))}"
    if r < 0.88:
        return f"{rng.choice(ROOM_QUALIFIERS)} {rng.choice(ROOMS)}"
    if r < 0.95:
        return f"{rng.choice(ODD_WORDS)} room"
    return rng.choice(ODD_WORDS)


def make_floor(rng: random.Random) -> str:
    return rng.choice(FLOORS)


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
    rng: random.Random, domain: str | None = None, device_class: str | None = None
) -> str:
    """A device name fitting `domain` (any domain when None)."""
    domain = domain if domain in HEADS else pick_domain(rng)
    if domain == "person" and rng.random() < 0.7:
        return rng.choice(FIRST_NAMES)
    if domain == "sensor" and rng.random() < (0.7 if device_class else 0.3):
        return make_sensor_name(rng, device_class)
    head = rng.choice(HEADS[domain])
    if domain in ("binary_sensor", "device_tracker") and rng.random() < 0.35:
        return head  # "is the phone charging?", "is gas detected?"
    if domain in ("scene", "script") and rng.random() < 0.4:
        r = rng.random()
        if r < 0.5:
            return f"{rng.choice(ODD_WORDS + QUALITIES)} {rng.choice(('mode', 'time', 'scene'))}"
        return head
    r = rng.random()
    if r < 0.06:
        # a qualifier after the noun: "curtain left", "lamp 2"
        return f"{head} {rng.choice(SUFFIXES)}"
    if r < 0.12:
        return head
    if r < 0.42:
        return f"{rng.choice(ROOMS)} {head}"
    if r < 0.55:
        return f"{rng.choice(FIRST_NAMES)}'s {head}"
    if r < 0.68:
        return f"{rng.choice(QUALITIES)} {head}"
    if r < 0.82:
        return f"{rng.choice(ODD_WORDS)} {head}"
    if r < 0.9:
        return f"{rng.choice(ROOMS)} {rng.choice(QUALITIES)} {head}"
    if r < 0.93:
        return f"{rng.choice(ODD_WORDS)} {rng.randint(1, 4)}"
    if r < 0.96:
        return f"{rng.choice(ACTIVITIES)} {rng.choice(PLACES)}"
    # Names without a device word: "Bertha", "Big Ben".
    return f"{rng.choice(ODD_WORDS)} {rng.choice(ODD_WORDS)}"
