"""Spanish (Español)."""

from __future__ import annotations

import re
from types import MappingProxyType

from edged.lang import Language, closed, phonetic_keyer, spelled_by_num2words, words

LEVEL_WORDS = {
    "mitad": 50,
    "la mitad": 50,
    "a la mitad": 50,
    "medio": 50,
    "un cuarto": 25,
    "tres cuartos": 75,
    "un tercio": 33,
    "dos tercios": 67,
    "completo": 100,
    "al máximo": 100,
    "máximo": 100,
    "max": 100,
    "al mínimo": 1,
    "mínimo": 1,
    "min": 1,
    "un poco": 10,
    "un poquito": 10,
    "mucho": 30,
    "bajo": 25,
    "medio alto": 75,
    "alto": 100,
    # Home Assistant's brightness_level words.
    "máxima": 100,
    "lo más alto": 100,
    "la más alta": 100,
    "más alto": 100,
    "más alta": 100,
    "tope": 100,
    "mínima": 1,
    "lo más bajo": 1,
    "la más baja": 1,
    "más bajo": 1,
    "más baja": 1,
}

_COLORS = {
    "rojo": (255, 0, 0),
    "verde": (0, 255, 0),
    "azul": (0, 0, 255),
    "amarillo": (255, 255, 0),
    "naranja": (255, 165, 0),
    "morado": (128, 0, 128),
    "púrpura": (128, 0, 128),
    "violeta": (238, 130, 238),
    "rosa": (255, 192, 203),
    "rosado": (255, 192, 203),
    "magenta": (255, 0, 255),
    "cian": (0, 255, 255),
    "turquesa": (64, 224, 208),
    "marrón": (165, 42, 42),
    "café": (165, 42, 42),
    "blanco": (255, 255, 255),
    "negro": (0, 0, 0),
    "dorado": (255, 215, 0),
    "oro": (255, 215, 0),
    "lavanda": (230, 230, 250),
    "índigo": (75, 0, 130),
    "ámbar": (255, 191, 0),
    "coral": (255, 127, 80),
    "salmón": (250, 128, 114),
    "azul marino": (0, 0, 128),
    "melocotón": (255, 218, 185),
    "menta": (152, 255, 152),
    "lila": (200, 162, 200),
}
COLORS_RGB = dict(_COLORS)
for _w, _rgb in _COLORS.items():
    if _w.endswith("o") and " " not in _w:
        for _form in (_w[:-1] + "a", _w + "s", _w[:-1] + "as"):
            COLORS_RGB.setdefault(_form, _rgb)
    elif " " not in _w:
        COLORS_RGB.setdefault(_w + ("es" if _w[-1] not in "aeiou" else "s"), _rgb)

COLOR_TEMPS_K = {
    "luz de vela": 1900,
    "blanco cálido": 2700,
    "luz cálida": 2700,
    "cálido": 2700,
    "cálida": 2700,
    "blanco neutro": 4000,
    "neutro": 4000,
    "blanco frío": 4000,
    "luz fría": 6000,
    "frío": 6000,
    "fría": 6000,
    "luz de día": 6500,
    "luz del día": 6500,
}

DOMAIN_WORDS = {
    "luz": "light",
    "luces": "light",
    "lámpara": "light",
    "lámparas": "light",
    "iluminación": "light",
    "bombilla": "light",
    "bombillas": "light",
    "foco": "light",
    "focos": "light",
    "ventilador": "fan",
    "ventiladores": "fan",
    "interruptor": "switch",
    "interruptores": "switch",
    "enchufe": "switch",
    "enchufes": "switch",
    "cerradura": "lock",
    "cerraduras": "lock",
    "cerrojo": "lock",
    "termostato": "climate",
    "calefacción": "climate",
    "radiador": "climate",
    "radiadores": "climate",
    "aire acondicionado": "climate",
    "aire": "climate",
    "clima": "climate",
    "tele": "media_player",
    "televisión": "media_player",
    "televisor": "media_player",
    "tv": "media_player",
    "altavoz": "media_player",
    "altavoces": "media_player",
    "música": "media_player",
    "radio": "media_player",
    "aspiradora": "vacuum",
    "robot": "vacuum",
    "sensor": "sensor",
    "sensores": "sensor",
}

DEVICE_CLASS_WORDS = {
    "toldo": "awning",
    "toldos": "awning",
    "estor": "blind",
    "estores": "blind",
    "cortina": "curtain",
    "cortinas": "curtain",
    "puerta": "door",
    "puertas": "door",
    "puerta del garaje": "garage",
    "garaje": "garage",
    "portón": "gate",
    "verja": "gate",
    "persiana": "shutter",
    "persianas": "shutter",
    "ventana": "window",
    "ventanas": "window",
    "batería": "battery",
    "pila": "battery",
    "temperatura": "temperature",
    "humedad": "humidity",
    "movimiento": "motion",
    "humo": "smoke",
    "monóxido de carbono": "carbon_monoxide",
}


def singular(word: str) -> str:
    """Crude, but applied to both sides, so it only has to be consistent."""
    if len(word) > 4 and word.endswith("ces"):
        return word[:-3] + "z"  # luces -> luz
    if len(word) > 4 and word.endswith("es") and word[-3] not in "aeiou":
        return word[:-2]  # interruptores -> interruptor
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


phonetic_key = phonetic_keyer(
    (
        (r"ll", "y"),
        (r"qu", "k"),
        (r"gu(?=[ei])", "g"),
        (r"ch", "c"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"z", "s"),
        (r"g(?=[ei])", "j"),
        (r"x", "ks"),
        (r"v", "b"),
        (r"ñ", "n"),
    ),
)

STOPWORDS = words("el la los las lo un una unos unas del de al mi mis nuestro nuestra este esta")
NAME_NUMBERS = MappingProxyType(
    {
        "dos": "2",
        "tres": "3",
        "cuatro": "4",
        "cinco": "5",
        "seis": "6",
        "siete": "7",
        "ocho": "8",
        "nueve": "9",
        "diez": "10",
        "primero": "1",
        "primera": "1",
        "segundo": "2",
        "segunda": "2",
        "tercero": "3",
        "tercera": "3",
    }
)
SYNONYMS = frozenset(
    frozenset(p)
    for p in (
        ("lámpara", "luz"),
        ("tele", "televisión"),
        ("tele", "televisor"),
        ("enchufe", "interruptor"),
        ("estor", "persiana"),
        ("termostato", "calefacción"),
        ("salón", "sala"),
    )
)
_COMMAND = words(
    """
    enciende encender enciendes apaga apagar apagas pon poner ponga pone cambia cambiar
    ajusta ajustar sube subir baja bajar abre abrir cierra cerrar bloquea bloquear
    desbloquea desbloquear activa activar desactiva desactivar arranca arrancar inicia
    iniciar para parar detén detener pausa pausar reanuda reanudar continúa continuar
    siguiente anterior atrás aumenta aumentar disminuye disminuir reduce reducir más menos
    fuerte bajo alto brillo luz luces volumen sonido temperatura grado grados por ciento
    calor frío velocidad rápido lento poco mucho muy demasiado otra vez ahora favor
    gracias puedes podrías tú usted yo me nosotros quiero quisiera oye vale ok okay
    todo toda todos todas máximo mínimo mitad aspira aspirar limpia limpiar base carga
    cargar canción música canal a en con y o para por desde sobre aquí allí qué es son
    estar está están haz hacer hace encendido apagado abierto cerrado modo
    """
)
PRONOUNS = words("lo la los las le les eso esto ese esa esos esas")
PRONOUN_WORDS = words("eso esto")
ALL_WORDS = closed(words("todo toda todos todas casa entera entero cada piso"), singular)
SWITCH_WORDS = closed(
    words(
        """
        enciende encender apaga apagar pon poner activa activar desactiva desactivar
        arranca arrancar inicia iniciar para parar detén detener conmuta alterna
        """
    ),
    singular,
)
SWITCH_OP_WORDS = SWITCH_WORDS | closed(
    words(
        """
        abre abrir cierra cerrar bloquea bloquear desbloquea desbloquear sube subir baja
        bajar levanta arma armar desarma desarmar
        """
    ),
    singular,
)
KIND_WORDS = MappingProxyType(
    {
        "luz": "light",
        "lámpara": "light",
        "bombilla": "light",
        "foco": "light",
        "interruptor": "switch",
        "enchufe": "switch",
        "ventilador": "fan",
        "persiana": "cover",
        "estor": "cover",
        "cortina": "cover",
        "toldo": "cover",
        "cerradura": "lock",
        "termostato": "climate",
        "calefacción": "climate",
        "radiador": "climate",
        "aire": "climate",
        "tele": "media_player",
        "televisión": "media_player",
        "televisor": "media_player",
        "altavoz": "media_player",
        "aspiradora": "vacuum",
    }
)
DOOR_WORDS = MappingProxyType(
    {"puerta": frozenset({"cover", "lock"}), "portón": frozenset({"cover", "lock"})}
)
STATE_RE = re.compile(
    r"\b(?:está|están|estaba|estaban)\s+(?:\w+\s+)?"
    r"(?:encendid[oa]s?|apagad[oa]s?|abiert[oa]s?|cerrad[oa]s?|bloquead[oa]s?)\b"
)
IMPERATIVE_WORDS = SWITCH_WORDS | words("haz hacer asegúrate deja mantén abre cierra")
YES_PHRASES = words("sí si vale ok okay claro correcto confirmo confirmar adelante dale") | {
    "sí por favor",
    "si por favor",
    "sí hazlo",
    "si hazlo",
    "hazlo",
    "por supuesto",
    "de acuerdo",
    "sí claro",
    "venga",
    "afirmativo",
}
NO_PHRASES = words("no cancela cancelar cancelado para detente olvídalo nunca negativo") | {
    "no gracias",
    "mejor no",
    "no lo hagas",
    "déjalo",
    "no no",
    "ni hablar",
    "no cancela",
}
OP_WORDS = MappingProxyType(
    {
        "unlock": "abrir la cerradura de",
        "lock": "cerrar con llave",
        "open": "abrir",
        "close": "cerrar",
        "position": "mover",
        "disarm": "desarmar",
        "arm": "armar",
    }
)

LANGUAGE = Language(
    code="es",
    name="Español",
    text2num="es",
    number_words=spelled_by_num2words("es"),
    level_words=MappingProxyType(LEVEL_WORDS),
    colors_rgb=MappingProxyType(COLORS_RGB),
    color_temps_k=MappingProxyType(COLOR_TEMPS_K),
    domain_words=MappingProxyType(DOMAIN_WORDS),
    device_class_words=MappingProxyType(DEVICE_CLASS_WORDS),
    fillers=words("eh em este hmm mmm"),
    articles=re.compile(
        r"^(?:(?:todos|todas)\s+(?:los\s+|las\s+)?|todo\s+(?:el\s+)?|toda\s+(?:la\s+)?|"
        r"(?:el|la|los|las|un|una|mi|mis|nuestro|nuestra)\s+)"
    ),
    half=re.compile(r"\s+y\s+medio\b"),
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
    temperature_phrase="temperatura {name}",
    yes_phrases=frozenset(YES_PHRASES),
    no_phrases=frozenset(NO_PHRASES),
    op_words=OP_WORDS,
    confirm_prompt="¿Seguro que quieres {what}? Di sí para confirmar.",
    custom_prompt="¿Seguro que quieres ejecutar {intent}? Di sí para confirmar.",
    target="{op} {name}",
    and_word=" y ",
    replies_file="replies.es.yaml",
)
