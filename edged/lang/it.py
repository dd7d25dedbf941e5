"""Italian (Italiano)."""

from __future__ import annotations

import re
from types import MappingProxyType

from edged.lang import Language, closed, phonetic_keyer, words

_ONES = [
    "zero",
    "uno",
    "due",
    "tre",
    "quattro",
    "cinque",
    "sei",
    "sette",
    "otto",
    "nove",
    "dieci",
    "undici",
    "dodici",
    "tredici",
    "quattordici",
    "quindici",
    "sedici",
    "diciassette",
    "diciotto",
    "diciannove",
]
_TENS = ["_", "_", "venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta"]
_TENS += ["ottanta", "novanta"]


def number_to_words(n: int) -> str:
    """0-9999 in Italian, as one word: 21 -> "ventuno", 23 -> "ventitré"."""
    if n < 0:
        return "meno " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        if ones == 0:
            return _TENS[tens]
        head = _TENS[tens][:-1] if ones in (1, 8) else _TENS[tens]
        return head + ("tré" if ones == 3 else _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = ("" if hundreds == 1 else _ONES[hundreds]) + "cento"
        return head if rest == 0 else head + number_to_words(rest)
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else number_to_words(thousands) + "mila"
    return head if rest == 0 else head + number_to_words(rest)


LEVEL_WORDS = {
    "metà": 50,
    "a metà": 50,
    "mezzo": 50,
    "un quarto": 25,
    "tre quarti": 75,
    "un terzo": 33,
    "due terzi": 67,
    "pieno": 100,
    "al massimo": 100,
    "massimo": 100,
    "max": 100,
    "al minimo": 1,
    "minimo": 1,
    "min": 1,
    "un po'": 10,
    "un po": 10,
    "un pochino": 10,
    "poco": 10,
    "molto": 30,
    "basso": 25,
    "medio": 50,
    "alto": 100,
}
_COLORS = {
    "rosso": (255, 0, 0),
    "verde": (0, 255, 0),
    "blu": (0, 0, 255),
    "azzurro": (0, 127, 255),
    "giallo": (255, 255, 0),
    "arancione": (255, 165, 0),
    "arancio": (255, 165, 0),
    "viola": (128, 0, 128),
    "porpora": (128, 0, 128),
    "rosa": (255, 192, 203),
    "magenta": (255, 0, 255),
    "ciano": (0, 255, 255),
    "turchese": (64, 224, 208),
    "marrone": (165, 42, 42),
    "bianco": (255, 255, 255),
    "nero": (0, 0, 0),
    "oro": (255, 215, 0),
    "dorato": (255, 215, 0),
    "lavanda": (230, 230, 250),
    "indaco": (75, 0, 130),
    "ambra": (255, 191, 0),
    "corallo": (255, 127, 80),
    "salmone": (250, 128, 114),
    "blu marino": (0, 0, 128),
    "pesca": (255, 218, 185),
    "menta": (152, 255, 152),
    "lilla": (200, 162, 200),
}
COLORS_RGB = dict(_COLORS)
for _w, _rgb in _COLORS.items():
    if _w.endswith("o") and " " not in _w:
        for _form in (_w[:-1] + "a", _w[:-1] + "i", _w[:-1] + "e"):
            COLORS_RGB.setdefault(_form, _rgb)
    elif _w.endswith("e") and " " not in _w:
        COLORS_RGB.setdefault(_w[:-1] + "i", _rgb)
COLORS_RGB["bianca"], COLORS_RGB["bianchi"] = (255, 255, 255), (255, 255, 255)

COLOR_TEMPS_K = {
    "luce di candela": 1900,
    "bianco caldo": 2700,
    "luce calda": 2700,
    "caldo": 2700,
    "calda": 2700,
    "bianco neutro": 4000,
    "neutro": 4000,
    "bianco freddo": 4000,
    "luce fredda": 6000,
    "freddo": 6000,
    "fredda": 6000,
    "luce diurna": 6500,
}
DOMAIN_WORDS = {
    "luce": "light",
    "luci": "light",
    "lampada": "light",
    "lampade": "light",
    "illuminazione": "light",
    "lampadina": "light",
    "lampadine": "light",
    "lampadario": "light",
    "ventilatore": "fan",
    "ventilatori": "fan",
    "interruttore": "switch",
    "interruttori": "switch",
    "presa": "switch",
    "prese": "switch",
    "serratura": "lock",
    "serrature": "lock",
    "termostato": "climate",
    "riscaldamento": "climate",
    "termosifone": "climate",
    "termosifoni": "climate",
    "radiatore": "climate",
    "condizionatore": "climate",
    "clima": "climate",
    "tv": "media_player",
    "tivù": "media_player",
    "televisione": "media_player",
    "televisore": "media_player",
    "cassa": "media_player",
    "casse": "media_player",
    "altoparlante": "media_player",
    "musica": "media_player",
    "radio": "media_player",
    "aspirapolvere": "vacuum",
    "robot": "vacuum",
    "sensore": "sensor",
    "sensori": "sensor",
}
DEVICE_CLASS_WORDS = {
    "tenda da sole": "awning",
    "tendone": "awning",
    "veneziana": "blind",
    "veneziane": "blind",
    "tenda": "curtain",
    "tende": "curtain",
    "porta": "door",
    "porte": "door",
    "porta del garage": "garage",
    "garage": "garage",
    "basculante": "garage",
    "cancello": "gate",
    "tapparella": "shutter",
    "tapparelle": "shutter",
    "persiana": "shutter",
    "persiane": "shutter",
    "finestra": "window",
    "finestre": "window",
    "batteria": "battery",
    "temperatura": "temperature",
    "umidità": "humidity",
    "movimento": "motion",
    "fumo": "smoke",
    "monossido di carbonio": "carbon_monoxide",
}


def singular(word: str) -> str:
    """A stem, crude but consistent on both sides: the final vowel off
    ("luci", "luce" -> "luc"; "lampade", "lampada" -> "lampad")."""
    if len(word) > 3 and word[-1] in "aeio":
        return word[:-1]
    return word


def plural(word: str) -> bool:
    return word in _PLURAL_FORMS


_PLURAL_FORMS = words(
    """
    luci lampade lampadine interruttori prese ventilatori tapparelle persiane tende
    veneziane serrature termosifoni casse sensori porte finestre
    """
)
phonetic_key = phonetic_keyer(
    (
        (r"gli", "li"),
        (r"gn", "n"),
        (r"sc(?=[ei])", "s"),
        (r"ch", "k"),
        (r"gh", "g"),
        (r"c(?=[ei])", "c"),
        (r"qu", "kw"),
        (r"z", "s"),
        (r"x", "ks"),
    ),
)
STOPWORDS = words(
    """
    il lo la i gli le l un uno una un del dello della dei degli delle dell al allo alla
    ai agli alle all mio mia miei mie nostro nostra questo questa per favore
    """
)
NAME_NUMBERS = MappingProxyType(
    {
        "due": "2",
        "tre": "3",
        "quattro": "4",
        "cinque": "5",
        "sei": "6",
        "sette": "7",
        "otto": "8",
        "nove": "9",
        "dieci": "10",
        "primo": "1",
        "prima": "1",
        "secondo": "2",
        "seconda": "2",
        "terzo": "3",
        "terza": "3",
    }
)
SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lampada", "luce"),
        ("tv", "televisione"),
        ("tv", "televisore"),
        ("presa", "interruttore"),
        ("tapparella", "persiana"),
        ("termostato", "riscaldamento"),
        ("cassa", "altoparlante"),
        ("soggiorno", "salotto"),
    )
)
_COMMAND = words(
    """
    accendi accendere accenda spegni spegnere spenga metti mettere imposta impostare
    regola regolare alza alzare abbassa abbassare apri aprire chiudi chiudere blocca
    bloccare sblocca sbloccare attiva attivare disattiva disattivare avvia avviare ferma
    fermare stop pausa riprendi riprendere continua prossimo prossima successivo
    successiva precedente indietro aumenta aumentare diminuisci diminuire riduci ridurre
    più meno forte piano luminosità luce luci volume audio suono temperatura grado gradi
    per cento caldo freddo velocità veloce lento poco molto troppo ancora adesso ora
    grazie puoi potresti tu io mi noi voglio vorrei ehi ok okay tutto tutta tutti tutte
    massimo minimo metà aspira pulisci pulire base carica ricarica canzone musica canale
    a in con e o da su qui lì cosa è sono essere fai fare acceso spento aperto chiuso
    modalità favore
    """
)
PRONOUNS = words("lo la li le gli ne questo questa quello quella questi quelli")
PRONOUN_WORDS = words("questo quello")
ALL_WORDS = closed(words("tutto tutta tutti tutte ovunque casa intera intero ogni"), singular)
SWITCH_WORDS = closed(
    words(
        """
        accendi accendere spegni spegnere metti mettere attiva attivare disattiva
        disattivare avvia avviare ferma fermare commuta
        """
    ),
    singular,
)
SWITCH_OP_WORDS = SWITCH_WORDS | closed(
    words(
        """
        apri aprire chiudi chiudere blocca bloccare sblocca sbloccare alza alzare abbassa
        abbassare solleva inserisci disinserisci
        """
    ),
    singular,
)
KIND_WORDS = MappingProxyType(
    {
        singular(w): kind
        for w, kind in {
            "luce": "light",
            "lampada": "light",
            "lampadina": "light",
            "interruttore": "switch",
            "presa": "switch",
            "ventilatore": "fan",
            "tapparella": "cover",
            "persiana": "cover",
            "tenda": "cover",
            "veneziana": "cover",
            "serratura": "lock",
            "termostato": "climate",
            "riscaldamento": "climate",
            "termosifone": "climate",
            "condizionatore": "climate",
            "tv": "media_player",
            "televisione": "media_player",
            "televisore": "media_player",
            "cassa": "media_player",
            "aspirapolvere": "vacuum",
        }.items()
    }
)
DOOR_WORDS = MappingProxyType(
    {
        singular("porta"): frozenset({"cover", "lock"}),
        singular("cancello"): frozenset({"cover", "lock"}),
    }
)
STATE_RE = re.compile(
    r"\b(?:è|sono|era|erano)\s+(?:\w+\s+)?"
    r"(?:acces[oaie]|spent[oaie]|apert[oaie]|chius[oaie]|bloccat[oaie])\b"
)
IMPERATIVE_WORDS = SWITCH_WORDS | words("fai fare assicurati lascia tieni apri chiudi")
YES_PHRASES = words("sì si ok okay certo esatto confermo conferma procedi vai") | {
    "sì grazie",
    "si grazie",
    "sì per favore",
    "fallo",
    "sì fallo",
    "va bene",
    "d'accordo",
    "certamente",
    "affermativo",
    "sì certo",
}
NO_PHRASES = words("no annulla annullare stop fermo lascia mai negativo") | {
    "no grazie",
    "meglio di no",
    "non farlo",
    "lascia stare",
    "lascia perdere",
    "no no",
    "no annulla",
    "non importa",
}
OP_WORDS = MappingProxyType(
    {
        "unlock": "sbloccare",
        "lock": "bloccare",
        "open": "aprire",
        "close": "chiudere",
        "position": "spostare",
        "disarm": "disinserire",
        "arm": "inserire",
    }
)

LANGUAGE = Language(
    code="it",
    name="Italiano",
    text2num="it",
    number_words=number_to_words,
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=words("ehm eh uhm mmm boh"),
    articles=re.compile(
        r"^(?:(?:tutti|tutte)\s+(?:i\s+|gli\s+|le\s+)?|tutto\s+(?:il\s+)?|tutta\s+(?:la\s+)?|"
        r"l'|(?:il|lo|la|i|gli|le|un|uno|una|mio|mia|miei|mie)\s+)"
    ),
    half=re.compile(r"\s+e\s+mezzo\b"),
    head_first=True,
    stopwords=STOPWORDS,
    name_numbers=NAME_NUMBERS,
    synonyms=SYNONYMS,
    singular=singular,
    phonetic_key=phonetic_key,
    plural=plural,
    command_words=closed(_COMMAND, singular),
    pronouns=closed(PRONOUNS, singular),
    pronoun_words=PRONOUN_WORDS,
    all_words=ALL_WORDS,
    switch_words=SWITCH_WORDS,
    switch_op_words=SWITCH_OP_WORDS,
    kind_words=KIND_WORDS,
    door_words=DOOR_WORDS,
    state_re=STATE_RE,
    imperative_words=IMPERATIVE_WORDS,
    temperature_phrase="temperatura {name}",
    yes_phrases=frozenset(YES_PHRASES),
    no_phrases=frozenset(NO_PHRASES),
    op_words=OP_WORDS,
    confirm_prompt="Vuoi davvero {what}? Di sì per confermare.",
    custom_prompt="Vuoi davvero eseguire {intent}? Di sì per confermare.",
    target="{op} {name}",
    and_word=" e ",
    replies_file="replies.it.yaml",
)
