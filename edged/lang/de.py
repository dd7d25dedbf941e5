"""German (Deutsch)."""

from __future__ import annotations

import re
from types import MappingProxyType

from edged.lang import Language, closed, inflected, phonetic_keyer, spelled_by_num2words, words

# --- numbers -------------------------------------------------------------------

LEVEL_WORDS = {
    "halb": 50,
    "halbe": 50,
    "zur hälfte": 50,
    "die hälfte": 50,
    "hälfte": 50,
    "viertel": 25,
    "ein viertel": 25,
    "drei viertel": 75,
    "dreiviertel": 75,
    "ein drittel": 33,
    "zwei drittel": 67,
    "voll": 100,
    "ganz": 100,
    "volle pulle": 100,
    "max": 100,
    "maximal": 100,
    "maximum": 100,
    "höchste": 100,
    "höchsten": 100,
    "min": 1,
    "minimal": 1,
    "minimum": 1,
    "niedrigste": 1,
    "niedrigsten": 1,
    "ein bisschen": 10,
    "ein bißchen": 10,
    "bisschen": 10,
    "etwas": 10,
    "ein wenig": 10,
    "ein stück": 10,
    "ein stückchen": 10,
    "viel": 30,
    "deutlich": 30,
    "niedrig": 25,
    "mittel": 50,
    "hoch": 100,
    # Home Assistant's brightness_level and volume_mapping words.
    "volle": 100,
    "größte": 100,
    "grösste": 100,
    "hellste": 100,
    "hell": 100,
    "maximale": 100,
    "maximalen": 100,
    "höchster": 100,
    "minimale": 1,
    "minimalen": 1,
    "kleinste": 1,
    "geringste": 1,
    "geringsten": 1,
}

_COLORS = {
    "rot": (255, 0, 0),
    "grün": (0, 255, 0),
    "gruen": (0, 255, 0),
    "blau": (0, 0, 255),
    "gelb": (255, 255, 0),
    "orange": (255, 165, 0),
    "lila": (128, 0, 128),
    "violett": (238, 130, 238),
    "purpur": (128, 0, 128),
    "rosa": (255, 192, 203),
    "pink": (255, 192, 203),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "türkis": (64, 224, 208),
    "petrol": (0, 128, 128),
    "braun": (165, 42, 42),
    "weiß": (255, 255, 255),
    "weiss": (255, 255, 255),
    "schwarz": (0, 0, 0),
    "hellgrün": (0, 255, 0),
    "gold": (255, 215, 0),
    "golden": (255, 215, 0),
    "lavendel": (230, 230, 250),
    "indigo": (75, 0, 130),
    "karmesin": (220, 20, 60),
    "bernstein": (255, 191, 0),
    "koralle": (255, 127, 80),
    "lachs": (250, 128, 114),
    "marineblau": (0, 0, 128),
    "dunkelblau": (0, 0, 139),
    "hellblau": (173, 216, 230),
    "aqua": (0, 255, 255),
    "pfirsich": (255, 218, 185),
    "mint": (152, 255, 152),
    "flieder": (200, 162, 200),
}
# "rotes Licht", "auf Rot", "in blauem Licht": the adjective's endings.
COLORS_RGB = inflected(_COLORS, ("e", "en", "er", "es", "em"))

COLOR_TEMPS_K = {
    "kerzenlicht": 1900,
    "kerzenschein": 1900,
    "warmweiß": 2700,
    "warmweiss": 2700,
    "warmes weiß": 2700,
    "warmes licht": 2700,
    "warm": 2700,
    "neutralweiß": 4000,
    "neutralweiss": 4000,
    "neutral": 4000,
    "kaltweiß": 4000,
    "kaltweiss": 4000,
    "kaltes weiß": 4000,
    "kaltes licht": 6000,
    "kalt": 6000,
    "tageslicht": 6500,
}

DOMAIN_WORDS = {
    "licht": "light",
    "lichter": "light",
    "lampe": "light",
    "lampen": "light",
    "leuchte": "light",
    "leuchten": "light",
    "beleuchtung": "light",
    "birne": "light",
    "glühbirne": "light",
    "ventilator": "fan",
    "ventilatoren": "fan",
    "lüfter": "fan",
    "deckenventilator": "fan",
    "schalter": "switch",
    "steckdose": "switch",
    "steckdosen": "switch",
    "zwischenstecker": "switch",
    "stecker": "switch",
    "schloss": "lock",
    "schlösser": "lock",
    "türschloss": "lock",
    "abdeckung": "cover",
    "abdeckungen": "cover",
    "thermostat": "climate",
    "heizung": "climate",
    "heizungen": "climate",
    "heizkörper": "climate",
    "klimaanlage": "climate",
    "klima": "climate",
    "fernseher": "media_player",
    "fernsehen": "media_player",
    "tv": "media_player",
    "glotze": "media_player",
    "lautsprecher": "media_player",
    "box": "media_player",
    "musik": "media_player",
    "radio": "media_player",
    "mediaplayer": "media_player",
    "media player": "media_player",
    "stereoanlage": "media_player",
    "staubsauger": "vacuum",
    "saugroboter": "vacuum",
    "sauger": "vacuum",
    "roboter": "vacuum",
    "sensor": "sensor",
    "sensoren": "sensor",
    "fühler": "sensor",
}

DEVICE_CLASS_WORDS = {
    "markise": "awning",
    "markisen": "awning",
    "jalousie": "blind",
    "jalousien": "blind",
    "rollo": "shade",
    "rollos": "shade",
    "vorhang": "curtain",
    "vorhänge": "curtain",
    "gardine": "curtain",
    "gardinen": "curtain",
    "tür": "door",
    "türen": "door",
    "garagentor": "garage",
    "garage": "garage",
    "tor": "gate",
    "einfahrtstor": "gate",
    "rollladen": "shutter",
    "rolladen": "shutter",
    "rollläden": "shutter",
    "fenster": "window",
    "batterie": "battery",
    "batterien": "battery",
    "akku": "battery",
    "temperatur": "temperature",
    "luftfeuchtigkeit": "humidity",
    "feuchtigkeit": "humidity",
    "bewegung": "motion",
    "rauch": "smoke",
    "kohlenmonoxid": "carbon_monoxide",
}

# --- names -----------------------------------------------------------------------

# Plurals that no ending rule finds (umlauts, -er, foreign words).
PLURALS = {
    "lichter": "licht",
    "schlösser": "schloss",
    "rollläden": "rollladen",
    "rolläden": "rollladen",
    "vorhänge": "vorhang",
    "ventilatoren": "ventilator",
    "sensoren": "sensor",
    "thermostate": "thermostat",
    "tore": "tor",
    "türen": "tür",
    "räume": "raum",
    "gärten": "garten",
    "bäder": "bad",
    "häuser": "haus",
    "stecker": "stecker",
    "fernseher": "fernseher",
    "lautsprecher": "lautsprecher",
    "heizkörper": "heizkörper",
    "strahler": "strahler",
    "spots": "spot",
    "leds": "led",
}


def singular(word: str) -> str:
    """A stem, crude but applied to both sides, so it only has to be
    consistent: the table above, then "-en", "-e", "-n" off ("Lampen",
    "Lampe" -> "lamp"), "-s" after a vowel ("Rollos")."""
    w = PLURALS.get(word, word)
    if len(w) > 4:
        if w.endswith("en"):
            return w[:-2]
        if w.endswith(("e", "n")):
            return w[:-1]
        if w.endswith("s") and w[-2] in "aoiuy":
            return w[:-1]
    return w


# Plurals of kind words (singular() gives a stem, not a singular, so it cannot
# tell): "die Lampen" is a group, "die Lampe" one device.
PLURAL_FORMS = words(
    """
    lampen lichter leuchten birnen glühbirnen steckdosen stecker ventilatoren lüfter
    rollläden rolläden rollos jalousien vorhänge gardinen markisen heizungen schlösser
    türen tore sensoren spots strahler fenster
    """
)


def plural(word: str) -> bool:
    return any(word.endswith(p) for p in PLURAL_FORMS)


phonetic_key = phonetic_keyer(
    (
        (r"tsch", "s"),
        (r"sch", "s"),
        (r"ch", "k"),
        (r"ck", "k"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"dt", "t"),
        (r"tz", "s"),
        (r"qu", "kw"),
        (r"x", "ks"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"w", "v"),
        (r"ie", "i"),
    ),
    before_fold=(("ä", "e"), ("ö", "o"), ("ü", "u")),
)

STOPWORDS = words(
    """
    der die das den dem des ein eine einen einem einer eines
    mein meine meinen meinem meiner meines unser unsere unseren unserem unserer
    dein deine deinen im am vom zum zur bitte diese dieser dieses diesen
    """
)
NAME_NUMBERS = MappingProxyType(
    {
        "eins": "1",
        "zwei": "2",
        "drei": "3",
        "vier": "4",
        "fünf": "5",
        "sechs": "6",
        "sieben": "7",
        "acht": "8",
        "neun": "9",
        "zehn": "10",
        "erste": "1",
        "erster": "1",
        "ersten": "1",
        "erstes": "1",
        "zweite": "2",
        "zweiter": "2",
        "zweiten": "2",
        "zweites": "2",
        "dritte": "3",
        "dritter": "3",
        "dritten": "3",
        "drittes": "3",
    }
)
SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lampe", "licht"),
        ("leuchte", "lampe"),
        ("leuchte", "licht"),
        ("fernseher", "tv"),
        ("steckdose", "stecker"),
        ("rollladen", "rollo"),
        ("rollladen", "jalousie"),
        ("vorhang", "gardine"),
        ("thermostat", "heizung"),
        ("heizung", "heizkörper"),
        ("staubsauger", "sauger"),
        ("lautsprecher", "box"),
        ("wohnzimmer", "stube"),
        ("bad", "badezimmer"),
    )
)

_COMMAND = words(
    """
    schalte schalten schalt schaltet mach mache machen macht stelle stell stellen stellt
    setze setz setzen dreh drehe drehen fahre fahr fahren öffne öffnen schließe schließ
    schließen schliesse schliessen sperre sperren entsperre entsperren verriegle
    verriegeln entriegle entriegeln starte starten start stopp stoppe stoppen halt halte
    pausiere pausieren pause fortsetzen fort weiter nächste nächster nächstes nächsten
    vorherige vorheriger vorheriges zurück vor aktiviere aktivieren deaktiviere
    deaktivieren einschalten ausschalten anschalten abschalten anmachen ausmachen
    umschalten ein aus an ab auf zu hoch runter herunter rauf hinauf hinunter hell heller
    dunkel dunkler dimme dimmen dimm lauter leiser laut leise lautstärke helligkeit
    temperatur grad prozent wärmer kälter kühler heißer stufe geschwindigkeit schneller
    langsamer bisschen bißchen etwas wenig viel mehr weniger sehr zu noch mal bitte danke
    kannst könntest würdest kann könnte du ich mir mich uns wir hey okay ok jetzt sofort
    gleich alle alles ganz halb voll maximal minimal sauge saugen staubsaugen reinigen
    putzen basis ladestation laden lade musik lied titel song kanal ton stumm
    stummschalten in im am von vom zum zur mit und oder für bei nach über dort hier da
    was ist sind sein es sie licht lichter schon wieder nochmal wechsle wechseln
    lass lasse auch mal doch eben gerade
    """
)

# --- the resolver ------------------------------------------------------------------

PRONOUNS = closed(
    words("es sie ihn ihm ihnen das die dies diese dieses dieser jene jenes"), singular
)
PRONOUN_WORDS = words("es ihn sie")
ALL_WORDS = closed(
    words("alle alles allen überall ganze ganzen ganzes haus wohnung sämtliche jede jedes jeden"),
    singular,
)
SWITCH_WORDS = closed(
    words(
        """
        an aus ein einschalten ausschalten anschalten abschalten anmachen ausmachen
        schalte schalten schalt umschalten mach mache machen starte starten stopp stoppe
        stoppen
        """
    ),
    singular,
)
SWITCH_OP_WORDS = SWITCH_WORDS | closed(
    words(
        """
        öffne öffnen schließe schließen schliesse schliessen sperre sperren entsperre
        entsperren verriegle verriegeln entriegle entriegeln aktiviere aktivieren
        deaktiviere deaktivieren hoch runter herunter rauf auf zu scharf unscharf
        """
    ),
    singular,
)
KIND_WORDS = MappingProxyType(
    {
        singular(w): kind
        for w, kind in {
            "licht": "light",
            "lampe": "light",
            "leuchte": "light",
            "schalter": "switch",
            "steckdose": "switch",
            "stecker": "switch",
            "ventilator": "fan",
            "lüfter": "fan",
            "rollladen": "cover",
            "rollo": "cover",
            "jalousie": "cover",
            "vorhang": "cover",
            "markise": "cover",
            "schloss": "lock",
            "thermostat": "climate",
            "heizung": "climate",
            "heizkörper": "climate",
            "klimaanlage": "climate",
            "fernseher": "media_player",
            "tv": "media_player",
            "lautsprecher": "media_player",
            "staubsauger": "vacuum",
            "saugroboter": "vacuum",
        }.items()
    }
)
DOOR_WORDS = MappingProxyType(
    {"tür": frozenset({"cover", "lock"}), "tor": frozenset({"cover", "lock"})}
)
STATE_RE = re.compile(
    r"\b(?:ist|sind|war|waren)\s+(?:\w+\s+)?"
    r"(?:an|aus|ein|offen|geöffnet|zu|geschlossen|abgeschlossen|verriegelt)\b"
)
IMPERATIVE_WORDS = (SWITCH_WORDS - {"an", "aus", "ein"}) | words(
    "mach mache stelle stell setze setz lass lasse sorge schalte öffne schließe sperre"
)

# --- confirmation ----------------------------------------------------------------

YES_PHRASES = words("ja jawohl jap jo jep genau sicher okay ok klar gerne natürlich richtig") | {
    "mach das",
    "mach es",
    "mach's",
    "machs",
    "bestätigen",
    "bestätige",
    "ich bestätige",
    "ja bitte",
    "ja mach das",
    "ja mach",
    "ja gerne",
    "ja klar",
    "ja genau",
    "korrekt",
    "in ordnung",
    "los",
    "tu es",
    "tu das",
    "ja bestätigen",
}
NO_PHRASES = words("nein nee ne nö nicht abbrechen abbruch stopp stop halt egal") | {
    "lieber nicht",
    "nein danke",
    "vergiss es",
    "nicht machen",
    "tu es nicht",
    "mach das nicht",
    "auf keinen fall",
    "doch nicht",
    "nein abbrechen",
    "bitte nicht",
    "lass es",
    "lass das",
}
OP_WORDS = MappingProxyType(
    {
        "unlock": "aufschließen",
        "lock": "abschließen",
        "open": "öffnen",
        "close": "schließen",
        "position": "bewegen",
        "disarm": "unscharf schalten",
        "arm": "scharf schalten",
    }
)

LANGUAGE = Language(
    code="de",
    name="Deutsch",
    text2num="de",
    number_words=spelled_by_num2words("de"),
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=words("äh ähm öhm hm hmm ehm em"),
    articles=re.compile(
        r"^(?:alle die|alle|sämtliche|der|die|das|den|dem|des|ein|eine|einen|einem|einer|"
        r"mein|meine|meinen|meinem|unser|unsere|unseren|unserem)\s+"
    ),
    # "zwanzigeinhalb", "einundzwanzig und ein halb": text2num reads the number only.
    half=re.compile(r"(?:(?<=\w)|\s+)einhalb\b|\s+und\s+(?:ein\s+)?halb\b"),
    compound_heads=True,
    stopwords=STOPWORDS,
    name_numbers=NAME_NUMBERS,
    synonyms=SYNONYMS,
    singular=singular,
    phonetic_key=phonetic_key,
    plural=plural,
    # Küche|n|lampe, Wohnzimmer|lampe, Arbeit|s|zimmer, Bad|e|zimmer.
    compound_links=("", "n", "s", "en", "e", "er", "es"),
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
    temperature_phrase="{name} temperatur",
    yes_phrases=frozenset(YES_PHRASES),
    no_phrases=frozenset(NO_PHRASES),
    op_words=OP_WORDS,
    confirm_prompt="Soll ich wirklich {what}? Sag ja zum Bestätigen.",
    custom_prompt="Soll ich {intent} ausführen? Sag ja zum Bestätigen.",
    target="{name} {op}",
    and_word=" und ",
    replies_file="replies.de.yaml",
)
