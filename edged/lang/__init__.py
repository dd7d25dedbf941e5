"""The language seam: every word table edged reads, for one language.

`language:` in the config (default `en`) chooses a `Language` here; the
model directory (models/edged-nlu for English, models/edged-nlu-<code>
otherwise, unless `nlu.model_dir` says), the slot values, name matching,
the resolver's command words, confirmation and the spoken replies all read
their words from it. Nothing else in edged holds words of a language (the
English tables are still importable under their old names from the modules
that used them: `values.DOMAIN_WORDS` is `ENGLISH.domain_words`).

What a new language needs (one module `edged/lang/<code>.py` defining
`LANGUAGE`, added to `_MODULES` below; docs/multilingual.md says the same):

* values (`edged.nlu.values`): `text2num` (a language `text_to_num`'s
  `alpha2digit` knows, or None and `number_words` for every number),
  `level_words` ("half" -> 50), `colors_rgb`, `color_temps_k`,
  `domain_words` and `device_class_words` (kind words -> Home Assistant
  domain / device class), `fillers`, `articles` (a regex of leading
  articles), `number_rewrites` (phrases text2num misses), `half` (the
  regex of "and a half"), `kelvin_words`;
* names (`edged.home.registry`, `gazetteer`): `ascii_words` (False for
  any language with letters outside a-z), `stopwords`, `name_numbers`
  ("two" -> "2" in names), `synonyms`, `singular` (plurals folded, the same
  on both sides), `phonetic_key` (spellings a recogniser confuses map
  together), `compound_links` (the joints of compounds: German
  "Küche|n|lampe"), `command_words` (words commands are made of besides
  names);
* the resolver (`edged.home.resolve`): `pronouns`, `pronoun_words`,
  `all_words`, `switch_words`, `switch_op_words`, `kind_words` (a name's
  last word that makes it a group), `door_words`, `state_re` ("the lamp is
  on": a statement), `imperative_words`, `temperature_phrase`;
* confirmation (`edged.home.policy`): `yes_phrases`, `no_phrases`,
  `op_words`, `confirm_prompt`, `custom_prompt`, `target`, `and_word`;
* replies: `replies`, a YAML file beside `edged/home/replies.yaml`
  (`replies.<code>.yaml`, adapted from Home Assistant's response templates
  for the language where they fit);
* training (`edged.training`): `number_words` (n -> words), and the files
  `edged/training/lang/<code>.yaml` (names, rooms, floors, noise words) and
  `edged/training/templates/<code>/*.yaml` (edged's own intents and the
  out-of-scope sentences); Home Assistant's templates come from the
  `home-assistant-intents` package for `code`.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

DEFAULT_LANGUAGE = "en"
# Code -> module under edged.lang. The order is the order of `SUPPORTED`.
_MODULES = {"en": "en", "de": "de", "fr": "fr", "es": "es", "nl": "nl", "it": "it"}
SUPPORTED: tuple[str, ...] = tuple(_MODULES)
_REPLIES_DIR = Path(__file__).resolve().parent.parent / "home"


def _frozen(d: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(d))


def words(text: str) -> frozenset[str]:
    """A word list written as text (one or more words per line)."""
    return frozenset(text.split())


def spelled_by_num2words(code: str) -> Callable[[int], str]:
    """A language's `number_words` from num2words (21 -> "einundzwanzig",
    "vingt et un", "veintiuno", "eenentwintig"), imported when first called:
    only training spells numbers, so the daemon does not need the package
    (it is in the `train-tools` extra). tests/test_lang.py checks that the
    runtime reads every spelling back."""

    def spell(n: int) -> str:
        from num2words import num2words

        return str(num2words(n, lang=code))

    return spell


def closed(words: frozenset[str], singular: Callable[[str], str]) -> frozenset[str]:
    """`words` and their singulars: a set compared with words that went
    through `singular` (registry.normalise_words) holds both forms."""
    return words | frozenset(singular(w) for w in words)


def inflected(
    base: Mapping[str, tuple[int, int, int]], endings: tuple[str, ...]
) -> dict[str, tuple[int, int, int]]:
    """Colour adjectives with their endings ("rot" -> "rote", "roten", ...)."""
    out = dict(base)
    for word, rgb in base.items():
        if " " in word:
            continue
        for ending in endings:
            out.setdefault(word + ending, rgb)
    return out


def phonetic_keyer(
    replacements: tuple[tuple[str, str], ...],
    *,
    before_fold: tuple[tuple[str, str], ...] = (),
    silent_endings: tuple[str, ...] = (),
) -> Callable[[str], str]:
    """A rough phonetic key for a language whose spelling is close to its
    sound: accents off, the language's spellings of one sound made one
    (`replacements`, in order, on the folded word), silent endings dropped,
    voiced and voiceless twins (b/p, d/t, g/k, v/f, z/s) together, and the
    vowels after the first letter left out (registry.word_score checks the
    first vowel itself)."""

    @functools.lru_cache(maxsize=65536)
    def key(word: str) -> str:
        w = word.lower()
        if not w.isalpha():
            return w
        for a, b in before_fold:
            w = w.replace(a, b)
        w = fold_accents(w)
        for a, b in replacements:
            w = re.sub(a, b, w)
        for ending in silent_endings:
            if len(w) > len(ending) + 2 and w.endswith(ending):
                w = w[: -len(ending)]
                break
        if not w:
            return ""
        w = w.translate(_VOICING)
        head = "a" if w[0] in "aeiouy" else w[0]
        tail = re.sub(r"[aeiouyhwj]", "", w[1:])
        return re.sub(r"(.)\1+", r"\1", head + tail)

    return key


_VOICING = str.maketrans("bdgvz", "ptkfs")


def fold_accents(word: str) -> str:
    """Letters without their accents ("küche" -> "kuche"); ß as ss."""
    decomposed = unicodedata.normalize("NFKD", word.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _same(word: str) -> str:
    return word


@dataclass(frozen=True)
class Language:
    """One language's words. Frozen; the tables are read-only mappings and sets."""

    code: str
    name: str
    # -- slot values (edged.nlu.values) ------------------------------------
    text2num: str | None
    number_words: Callable[[int], str]
    level_words: Mapping[str, int]
    colors_rgb: Mapping[str, tuple[int, int, int]]
    color_temps_k: Mapping[str, int]
    domain_words: Mapping[str, str]
    device_class_words: Mapping[str, str]
    fillers: frozenset[str]
    articles: re.Pattern[str]
    half: re.Pattern[str] | None
    number_rewrites: tuple[tuple[re.Pattern[str], str], ...] = ()
    kelvin_words: str = "k|kelvin"
    # German and Dutch put the head noun at the end of one word: "Deckenlampe".
    compound_heads: bool = False
    # French, Spanish, Italian put the kind word first: "lampe du salon".
    head_first: bool = False
    # -- names (edged.home.registry, gazetteer) ------------------------------
    ascii_words: bool = False
    stopwords: frozenset[str] = frozenset()
    name_numbers: Mapping[str, str] = field(default_factory=dict)
    synonyms: frozenset[frozenset[str]] = frozenset()
    singular: Callable[[str], str] = _same
    phonetic_key: Callable[[str], str] = _same
    # Whether a word is a plural ("lamps", "Lampen"); None: `singular` changes it.
    plural: Callable[[str], bool] | None = None
    compound_links: tuple[str, ...] = ("",)
    command_words: frozenset[str] = frozenset()
    # -- the resolver (edged.home.resolve) ------------------------------------
    pronouns: frozenset[str] = frozenset()
    pronoun_words: frozenset[str] = frozenset()
    all_words: frozenset[str] = frozenset()
    switch_words: frozenset[str] = frozenset()
    switch_op_words: frozenset[str] = frozenset()
    kind_words: Mapping[str, str] = field(default_factory=dict)
    door_words: Mapping[str, frozenset[str]] = field(default_factory=dict)
    state_re: re.Pattern[str] = re.compile(r"(?!)")
    imperative_words: frozenset[str] = frozenset()
    # "{name} temperature": how a temperature sensor of a place is called.
    temperature_phrase: str = "{name} temperature"
    # -- confirmation (edged.home.policy) -------------------------------------
    yes_phrases: frozenset[str] = frozenset()
    no_phrases: frozenset[str] = frozenset()
    op_words: Mapping[str, str] = field(default_factory=dict)
    confirm_prompt: str = "Do you want to {what}? Say yes to confirm."
    custom_prompt: str = "Do you want to run {intent}? Say yes to confirm."
    # One target in a question: "{op} the {name}"; targets joined with and_word.
    target: str = "{op} the {name}"
    and_word: str = " and "
    # -- replies ---------------------------------------------------------------
    replies_file: str = "replies.yaml"

    @property
    def replies(self) -> Path:
        return _REPLIES_DIR / self.replies_file

    @functools.cached_property
    def word_re(self) -> re.Pattern[str]:
        """A word of a name, in lower-cased text."""
        if self.ascii_words:
            return re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
        return re.compile(r"[^\W_]+")

    @functools.cached_property
    def non_word_re(self) -> re.Pattern[str]:
        """What separates words of a name, in lower-cased text."""
        return re.compile(r"[^a-z0-9]+" if self.ascii_words else r"[\W_]+")

    @functools.cached_property
    def synonyms_of(self) -> Mapping[str, frozenset[str]]:
        return MappingProxyType(
            {
                w: frozenset(o for pair in self.synonyms if w in pair for o in pair if o != w)
                for pair in self.synonyms
                for w in pair
            }
        )

    def is_plural(self, word: str) -> bool:
        if self.plural is not None:
            return self.plural(word)
        return self.singular(word) != word

    def split(self, text: str) -> list[str]:
        """The lower-cased words of `text` (letters and digits)."""
        return self.word_re.findall(text.lower())


class UnknownLanguageError(ValueError):
    pass


@functools.cache
def get_language(code: str | None = None) -> Language:
    """The `Language` for `code` ("en", "de", ...); None is English."""
    code = code or DEFAULT_LANGUAGE
    module = _MODULES.get(code)
    if module is None:
        raise UnknownLanguageError(
            f"language {code!r} is not supported (supported: {', '.join(SUPPORTED)})"
        )
    lang: Language = importlib.import_module(f"edged.lang.{module}").LANGUAGE
    return lang


def english() -> Language:
    return get_language("en")
