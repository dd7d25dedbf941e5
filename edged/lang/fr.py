"""French (Français)."""

from __future__ import annotations

import re
from types import MappingProxyType

from edged.lang import Language, closed, inflected, phonetic_keyer, spelled_by_num2words, words

# --- numbers -------------------------------------------------------------------

LEVEL_WORDS = {
    "moitié": 50,
    "à moitié": 50,
    "la moitié": 50,
    "mi-hauteur": 50,
    "un quart": 25,
    "quart": 25,
    "trois quarts": 75,
    "un tiers": 33,
    "deux tiers": 67,
    "plein": 100,
    "à fond": 100,
    "au maximum": 100,
    "maximum": 100,
    "max": 100,
    "le plus haut": 100,
    "au minimum": 1,
    "minimum": 1,
    "min": 1,
    "le plus bas": 1,
    "un peu": 10,
    "un petit peu": 10,
    "légèrement": 10,
    "beaucoup": 30,
    "bas": 25,
    "faible": 25,
    "moyen": 50,
    "haut": 100,
    "fort": 100,
}

_COLORS = {
    "rouge": (255, 0, 0),
    "vert": (0, 255, 0),
    "verte": (0, 255, 0),
    "bleu": (0, 0, 255),
    "bleue": (0, 0, 255),
    "jaune": (255, 255, 0),
    "orange": (255, 165, 0),
    "violet": (128, 0, 128),
    "violette": (128, 0, 128),
    "pourpre": (128, 0, 128),
    "mauve": (238, 130, 238),
    "rose": (255, 192, 203),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "turquoise": (64, 224, 208),
    "marron": (165, 42, 42),
    "brun": (165, 42, 42),
    "brune": (165, 42, 42),
    "blanc": (255, 255, 255),
    "blanche": (255, 255, 255),
    "noir": (0, 0, 0),
    "noire": (0, 0, 0),
    "or": (255, 215, 0),
    "doré": (255, 215, 0),
    "dorée": (255, 215, 0),
    "lavande": (230, 230, 250),
    "indigo": (75, 0, 130),
    "cramoisi": (220, 20, 60),
    "ambre": (255, 191, 0),
    "corail": (255, 127, 80),
    "saumon": (250, 128, 114),
    "marine": (0, 0, 128),
    "bleu marine": (0, 0, 128),
    "pêche": (255, 218, 185),
    "menthe": (152, 255, 152),
    "lilas": (200, 162, 200),
}
COLORS_RGB = inflected(_COLORS, ("s",))

COLOR_TEMPS_K = {
    "bougie": 1900,
    "lumière de bougie": 1900,
    "blanc chaud": 2700,
    "lumière chaude": 2700,
    "chaud": 2700,
    "chaude": 2700,
    "blanc neutre": 4000,
    "neutre": 4000,
    "blanc froid": 4000,
    "lumière froide": 6000,
    "froid": 6000,
    "froide": 6000,
    "lumière du jour": 6500,
}

DOMAIN_WORDS = {
    "lumière": "light",
    "lumières": "light",
    "lampe": "light",
    "lampes": "light",
    "éclairage": "light",
    "éclairages": "light",
    "ampoule": "light",
    "ampoules": "light",
    "luminaire": "light",
    "luminaires": "light",
    "plafonnier": "light",
    "lampadaire": "light",
    "ventilateur": "fan",
    "ventilateurs": "fan",
    "ventilo": "fan",
    "interrupteur": "switch",
    "interrupteurs": "switch",
    "prise": "switch",
    "prises": "switch",
    "serrure": "lock",
    "serrures": "lock",
    "verrou": "lock",
    "verrous": "lock",
    "thermostat": "climate",
    "chauffage": "climate",
    "radiateur": "climate",
    "radiateurs": "climate",
    "climatisation": "climate",
    "clim": "climate",
    "climatiseur": "climate",
    "télé": "media_player",
    "télévision": "media_player",
    "tv": "media_player",
    "enceinte": "media_player",
    "enceintes": "media_player",
    "haut-parleur": "media_player",
    "musique": "media_player",
    "radio": "media_player",
    "chaîne hi-fi": "media_player",
    "aspirateur": "vacuum",
    "aspirateur robot": "vacuum",
    "robot": "vacuum",
    "capteur": "sensor",
    "capteurs": "sensor",
    "sonde": "sensor",
}

DEVICE_CLASS_WORDS = {
    "store banne": "awning",
    "auvent": "awning",
    "store": "blind",
    "stores": "blind",
    "rideau": "curtain",
    "rideaux": "curtain",
    "porte": "door",
    "portes": "door",
    "porte de garage": "garage",
    "garage": "garage",
    "portail": "gate",
    "volet": "shutter",
    "volets": "shutter",
    "volet roulant": "shutter",
    "volets roulants": "shutter",
    "fenêtre": "window",
    "fenêtres": "window",
    "batterie": "battery",
    "batteries": "battery",
    "pile": "battery",
    "température": "temperature",
    "humidité": "humidity",
    "mouvement": "motion",
    "fumée": "smoke",
    "monoxyde de carbone": "carbon_monoxide",
}

# --- names ---------------------------------------------------------------------

PLURALS = {"rideaux": "rideau", "bureaux": "bureau", "journaux": "journal", "yeux": "œil"}


def singular(word: str) -> str:
    """Crude, but applied to both sides, so it only has to be consistent."""
    w = PLURALS.get(word)
    if w is not None:
        return w
    if len(word) > 3 and word.endswith(("s", "x")) and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


phonetic_key = phonetic_keyer(
    (
        (r"eaux?", "o"),
        (r"au", "o"),
        (r"ph", "f"),
        (r"qu", "k"),
        (r"gu(?=[ei])", "g"),
        (r"[cs]h", "s"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"g(?=[eiy])", "j"),
        (r"gn", "n"),
        (r"x", "ks"),
        (r"w", "v"),
        (r"ll", "l"),
    ),
    before_fold=(("ç", "s"),),
    silent_endings=("es", "ent", "e", "s", "t", "x", "d"),
)

STOPWORDS = words(
    """
    le la les l un une des du de d au aux mon ma mes ton ta tes notre nos votre vos ce cet
    cette ces s il plait plaît stp svp
    """
)
NAME_NUMBERS = MappingProxyType(
    {
        "deux": "2",
        "trois": "3",
        "quatre": "4",
        "cinq": "5",
        "six": "6",
        "sept": "7",
        "huit": "8",
        "neuf": "9",
        "dix": "10",
        "premier": "1",
        "première": "1",
        "deuxième": "2",
        "second": "2",
        "seconde": "2",
        "troisième": "3",
    }
)
SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lampe", "lumière"),
        ("lampe", "luminaire"),
        ("télé", "télévision"),
        ("télé", "tv"),
        ("prise", "interrupteur"),
        ("store", "volet"),
        ("rideau", "voilage"),
        ("thermostat", "chauffage"),
        ("chauffage", "radiateur"),
        ("enceinte", "haut-parleur"),
        ("salon", "séjour"),
    )
)

_COMMAND = words(
    """
    allume allumer allumez allumes éteins éteindre éteignez éteint allumé allumée coupe
    couper coupez mets mettre met mettez règle régler réglez passe passer ouvre ouvrir
    ouvrez ferme fermer fermez verrouille verrouiller déverrouille déverrouiller active
    activer désactive désactiver lance lancer démarre démarrer arrête arrêter stop stoppe
    pause reprends reprendre continue suivant suivante précédent précédente baisse
    baisser monte monter augmente augmenter diminue diminuer réduis réduire descends
    descendre remonte lève plus moins fort forte doucement tamise tamiser luminosité
    lumière lumières volume son température degré degrés pour cent pourcent chaud froid
    vitesse rapide lent peu beaucoup très trop encore maintenant merci peux pouvez
    pourrais pourriez tu vous je me moi nous on veux voudrais hey ok okay d'accord juste
    tout tous toute toutes maximum max minimum min moitié aspire aspirer nettoie nettoyer
    base charge recharge chanson piste musique chaîne à en dans sur pour par avec et ou
    puis alors aussi là ici quoi est sont être fais faire fait ouvert fermé mode
    s il plait plaît stp svp
    """
)

# --- the resolver --------------------------------------------------------------------

PRONOUNS = words("le la les l lui leur ça cela ceci celui celle ceux celles")
PRONOUN_WORDS = words("ça cela ceci")
ALL_WORDS = closed(
    words("tout tous toutes toute partout maison entière entier ensemble chaque appartement"),
    singular,
)
SWITCH_WORDS = closed(
    words(
        """
        allume allumer allumez éteins éteindre éteignez coupe couper mets mettre met
        active activer désactive désactiver démarre démarrer arrête arrêter lance lancer
        bascule basculer inverse inverser marche arrêt on off
        """
    ),
    singular,
)
SWITCH_OP_WORDS = SWITCH_WORDS | closed(
    words(
        """
        ouvre ouvrir ouvrez ferme fermer fermez verrouille verrouiller déverrouille
        déverrouiller monte monter descends descendre lève baisse baisser remonte arme
        armer désarme désarmer
        """
    ),
    singular,
)
KIND_WORDS = MappingProxyType(
    {
        "lumière": "light",
        "lampe": "light",
        "luminaire": "light",
        "éclairage": "light",
        "interrupteur": "switch",
        "prise": "switch",
        "ventilateur": "fan",
        "store": "cover",
        "volet": "cover",
        "rideau": "cover",
        "serrure": "lock",
        "verrou": "lock",
        "thermostat": "climate",
        "chauffage": "climate",
        "radiateur": "climate",
        "climatisation": "climate",
        "clim": "climate",
        "télé": "media_player",
        "télévision": "media_player",
        "tv": "media_player",
        "enceinte": "media_player",
        "aspirateur": "vacuum",
    }
)
DOOR_WORDS = MappingProxyType(
    {"porte": frozenset({"cover", "lock"}), "portail": frozenset({"cover", "lock"})}
)
STATE_RE = re.compile(
    r"\b(?:est|sont|était|étaient)\s+(?:\w+\s+)?"
    r"(?:allumée?s?|éteinte?s?|ouverte?s?|fermée?s?|verrouillée?s?)\b"
)
IMPERATIVE_WORDS = SWITCH_WORDS | words("fais faire assure laisse garde ouvre ferme")

# --- confirmation ----------------------------------------------------------------------

YES_PHRASES = words("oui ouais ouaip ok okay d'accord dac confirme confirmer parfait") | {
    "oui oui",
    "vas y",
    "allez y",
    "fais le",
    "oui vas y",
    "oui s'il te plaît",
    "oui s'il te plait",
    "oui s'il vous plaît",
    "oui merci",
    "je confirme",
    "bien sûr",
    "exactement",
    "correct",
    "c'est ça",
    "affirmatif",
    "carrément",
    "oui fais le",
}
NO_PHRASES = words("non nan annule annuler annulez stop arrête oublie négatif jamais") | {
    "non merci",
    "laisse tomber",
    "pas maintenant",
    "surtout pas",
    "ne fais pas ça",
    "non ne fais pas ça",
    "oublie ça",
    "pas question",
    "non non",
    "non annule",
}
OP_WORDS = MappingProxyType(
    {
        "unlock": "déverrouiller",
        "lock": "verrouiller",
        "open": "ouvrir",
        "close": "fermer",
        "position": "déplacer",
        "disarm": "désarmer",
        "arm": "armer",
    }
)

LANGUAGE = Language(
    code="fr",
    name="Français",
    text2num="fr",
    number_words=spelled_by_num2words("fr"),
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=words("euh heu hum bah ben hmm"),
    articles=re.compile(
        r"^(?:(?:tous|toutes)\s+(?:les\s+)?|tout\s+(?:le\s+|la\s+)?|toute\s+(?:la\s+)?|l'|"
        r"(?:le|la|les|un|une|des|du|de la|mon|ma|mes|notre|nos)\s+)"
    ),
    half=re.compile(r"\s+et\s+demie?\b"),
    head_first=True,
    stopwords=STOPWORDS,
    name_numbers=NAME_NUMBERS,
    synonyms=SYNONYMS,
    singular=singular,
    phonetic_key=phonetic_key,
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
    temperature_phrase="température {name}",
    yes_phrases=frozenset(YES_PHRASES),
    no_phrases=frozenset(NO_PHRASES),
    op_words=OP_WORDS,
    confirm_prompt="Voulez-vous vraiment {what} ? Dites oui pour confirmer.",
    custom_prompt="Voulez-vous vraiment lancer {intent} ? Dites oui pour confirmer.",
    target="{op} {name}",
    and_word=" et ",
    replies_file="replies.fr.yaml",
)
