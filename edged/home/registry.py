"""The configured home: devices, areas and floors, and finding them by name.

Names come from speech recognition, so matching is fuzzy, but only word by
word: every spoken word has to be close to a word of the name (by spelling,
or by a rough phonetic key for "lite"/"light", "nite"/"night", with the same
first vowel). That accepts "reeding lamp" for Reading Lamp while "garage"
never reaches Garden Light and "left" never reaches Loft Speaker,
and a name that fits two devices equally well comes back ambiguous instead of
as a guess.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

from rapidfuzz import fuzz, process

from edged.config import Config, DeviceConfig, DeviceOptions
from edged.home.protocols import protocol_ops
from edged.lang import Language, fold_accents, get_language
from edged.lang import en as _english

ENGLISH = _english.LANGUAGE

SensitiveAction = Literal["confirm", "refuse"]
# Degrees "warmer" / "turn the heating down" move a setpoint by default.
DEFAULT_TEMPERATURE_STEP = 1.0


@dataclass(frozen=True, slots=True)
class Floor:
    id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Area:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    floor: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    topic: str
    payload: str


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    name: str
    kind: str
    protocol: str
    aliases: tuple[str, ...] = ()
    area: str | None = None
    device_class: str | None = None
    topic: str | None = None
    command_topics: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    templates: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    options: DeviceOptions = field(default_factory=DeviceOptions)
    # What this device can do: its kind, narrowed by options and protocol.
    ops: frozenset[str] = frozenset()
    sensitive_ops: frozenset[str] = frozenset()
    sensitive_action: SensitiveAction = "confirm"
    # climate: degrees a relative change moves the setpoint by, unless one was said.
    temperature_step: float = 1.0
    # homeassistant / template: where the device reports (edged.home.state).
    state_topic: str | None = None
    state_path: str | None = None
    state_topics: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def can(self, op: str) -> bool:
        return op in self.ops

    @property
    def sensitive(self) -> bool:
        """A lock, garage door, gate, alarm (anything with a sensitive op): only
        ever targeted on purpose, by its name or kind (see resolve and policy)."""
        return bool(self.sensitive_ops)

    @classmethod
    def from_config(
        cls,
        cfg: DeviceConfig,
        *,
        area: str | None,
        sensitive_ops: frozenset[str],
        sensitive_action: SensitiveAction,
    ) -> Device:
        return cls(
            id=cfg.id,
            name=cfg.name,
            kind=cfg.kind,
            protocol=cfg.protocol,
            aliases=tuple(cfg.aliases),
            area=area,
            device_class=cfg.device_class,
            topic=cfg.topic,
            command_topics=MappingProxyType(dict(cfg.command_topics)),
            templates=MappingProxyType(
                {op: Template(t.topic, t.payload) for op, t in cfg.template.items()}
            ),
            options=cfg.options,
            ops=protocol_ops(cfg),
            sensitive_ops=sensitive_ops,
            sensitive_action=sensitive_action,
            temperature_step=cfg.temperature_step or DEFAULT_TEMPERATURE_STEP,
            state_topic=cfg.state_topic,
            state_path=cfg.state_path,
            state_topics=MappingProxyType(dict(cfg.state_topics)),
        )


# --- name matching -----------------------------------------------------------------

# A spoken word must score at least this against some word of a name.
# bedroom/bathroom scores 67, garage/garden 67, reeding/reading 86.
WORD_MIN = 78.0
# What a phonetic-key match is worth: enough to pass, less than a spelling match.
PHONETIC_SCORE = 85.0
SYNONYM_SCORE = 80.0
# Below this the whole name is no match; within AMBIGUITY_MARGIN of the best,
# another device is an equally good reading and the match is ambiguous.
MIN_SCORE = 70.0
AMBIGUITY_MARGIN = 2.0
# A spoken compound ("nightlight") against a spaced name ("night light").
JOINED_MIN = 90.0

# The English tables under their old names; the functions below take a
# `lang` (edged.lang) and read its tables.
_STOPWORDS = ENGLISH.stopwords
_NUMBERS = ENGLISH.name_numbers
_SYNONYMS = ENGLISH.synonyms
# word -> the words it is a synonym of
_SYNONYMS_OF: Mapping[str, frozenset[str]] = ENGLISH.synonyms_of
singular = _english.singular
phonetic_key = _english.phonetic_key


def normalise_words(text: str, lang: Language = ENGLISH) -> tuple[str, ...]:
    if lang.ascii_words:
        text = re.sub(r"'s\b", "s", text.lower())
        words = re.sub(r"[^a-z0-9]+", " ", text).split()
    else:
        # "l'entrée", "dell'ingresso": the elided article is a word of its own.
        words = lang.non_word_re.sub(" ", text.lower()).split()
    numbers, stop, fold = lang.name_numbers, lang.stopwords, lang.singular
    return tuple(fold(numbers.get(w, w)) for w in words if w not in stop)


def words_by_sound(words: Iterable[str], lang: Language = ENGLISH) -> dict[str, list[str]]:
    """Words grouped by phonetic key, for finding a misheard word's candidates
    ("reeding" -> "reading"); words too short to have a telling key are left out."""
    by_key: dict[str, list[str]] = {}
    key_of = lang.phonetic_key
    for w in words:
        if len(w) >= 3:
            key = key_of(w)
            if len(key) >= 2:
                by_key.setdefault(key, []).append(w)
    return by_key


def first_vowel(word: str) -> str:
    """The first vowel letter ("y" counts as "i"; accents left off), or "" if
    there is none."""
    m = re.search(r"[aeiouy]", fold_accents(word.lower()))
    return "" if m is None else m.group().replace("y", "i")


def word_score(
    spoken: str, name_word: str, *, phonetic: bool = True, lang: Language = ENGLISH
) -> float:
    if spoken == name_word:
        return 100.0
    score = fuzz.ratio(spoken, name_word)
    if frozenset((spoken, name_word)) in lang.synonyms:
        score = max(score, SYNONYM_SCORE)
    # The key drops vowels, so it also joins words that only share their
    # consonants ("left"/"loft", "fan"/"fin"); a recogniser's misspellings
    # keep the vowel sound ("lite"/"light", "reeding"/"reading").
    if phonetic and len(spoken) >= 3 and len(name_word) >= 3:
        key = lang.phonetic_key(spoken)
        if (
            len(key) >= 2
            and key == lang.phonetic_key(name_word)
            and first_vowel(spoken) == first_vowel(name_word)
        ):
            score = max(score, PHONETIC_SCORE)
    return score


def phrase_score(
    spoken: tuple[str, ...],
    name: tuple[str, ...],
    *,
    phonetic: bool = True,
    lang: Language = ENGLISH,
) -> float:
    """0-100: how well normalised spoken words name `name`. Every spoken word
    must match a word of the name; naming only part of it ("lamp" for
    "reading lamp") costs up to a quarter of the score."""
    if not spoken or not name:
        return 0.0
    joined = fuzz.ratio("".join(spoken), "".join(name))
    total = 0.0
    used: set[int] = set()
    for word in spoken:
        best, best_i = 0.0, -1
        for i, candidate in enumerate(name):
            s = word_score(word, candidate, phonetic=phonetic, lang=lang)
            if s > best:
                best, best_i = s, i
        if best < WORD_MIN:
            return joined if joined >= JOINED_MIN else 0.0
        total += best
        used.add(best_i)
    coverage = len(used) / len(name)
    score = total / len(spoken) * (0.75 + 0.25 * coverage)
    return max(score, joined if joined >= JOINED_MIN else 0.0)


T = TypeVar("T")
MatchStatus = Literal["found", "ambiguous", "none"]


@dataclass(frozen=True, slots=True)
class NameMatch(Generic[T]):
    """`items` holds the match when found, the tied candidates when ambiguous."""

    query: str
    status: MatchStatus
    items: tuple[T, ...] = ()
    score: float = 0.0

    @property
    def found(self) -> T | None:
        return self.items[0] if self.status == "found" else None


class NameIndex(Generic[T]):
    """Phrases (names, aliases) pointing at items, matched fuzzily.

    Scores are exactly `phrase_score`'s, but not computed for every phrase:
    a phrase can only score when every spoken word is close to one of its
    words (or the words run together are close to it as a whole), so the
    index finds, per spoken word, the close words of its vocabulary (one
    rapidfuzz pass over the distinct words, plus synonyms and phonetic
    twins), and scores only the phrases that hold one for each. A home of
    300 devices has a few hundred distinct words but thousands of phrases.
    Results are cached per (text, among): the same few names are said again
    and again, and the index never changes after it is built.
    """

    # Entries, not bytes: a cached word or match is a few hundred bytes.
    WORD_CACHE = 4096
    MATCH_CACHE = 4096

    def __init__(
        self,
        phrases: Iterable[tuple[str, str]],
        items: Mapping[str, T],
        lang: Language = ENGLISH,
    ) -> None:
        self._items = items
        self.lang = lang
        # The same (item, words) twice (a name and an alias that normalise
        # alike) scores the same: keep one.
        unique = dict.fromkeys((item_id, normalise_words(p, lang)) for item_id, p in phrases)
        self._phrases: list[tuple[str, tuple[str, ...]]] = [pw for pw in unique if pw[1]]
        self._joined: list[str] = ["".join(words) for _, words in self._phrases]
        by_word: dict[str, list[int]] = {}
        for i, (_, words) in enumerate(self._phrases):
            for w in dict.fromkeys(words):
                by_word.setdefault(w, []).append(i)
        self._by_word: dict[str, frozenset[int]] = {w: frozenset(ix) for w, ix in by_word.items()}
        self._vocab: list[str] = list(self._by_word)
        self._by_key = words_by_sound(self._vocab, lang)
        self._word_cache: dict[str, Mapping[str, float]] = {}
        self._match_cache: dict[tuple[str, frozenset[str] | None], NameMatch[T]] = {}

    def _close_words(self, spoken: str) -> Mapping[str, float]:
        """The words of the vocabulary `word_score` puts at WORD_MIN or more
        against `spoken`, with that score."""
        cached = self._word_cache.get(spoken)
        if cached is not None:
            return cached
        # A point below the floor, then scored exactly by word_score: the
        # candidate set can only be too wide, never too narrow.
        near = {
            choice
            for choice, _, _ in process.extract(
                spoken, self._vocab, scorer=fuzz.ratio, score_cutoff=WORD_MIN - 1, limit=None
            )
        }
        near |= self.lang.synonyms_of.get(spoken, frozenset()) & self._by_word.keys()
        if len(spoken) >= 3:
            near.update(self._by_key.get(self.lang.phonetic_key(spoken), ()))
        close: dict[str, float] = {}
        for w in near:
            s = word_score(spoken, w, lang=self.lang)
            if s >= WORD_MIN:
                close[w] = s
        if len(self._word_cache) >= self.WORD_CACHE:
            self._word_cache.clear()
        self._word_cache[spoken] = close
        return close

    def _score(self, spoken_joined: str, close: list[Mapping[str, float]], i: int) -> float:
        """`phrase_score` of phrase i, from the spoken words' close words."""
        name = self._phrases[i][1]
        joined = fuzz.ratio(spoken_joined, self._joined[i])
        joined_score = joined if joined >= JOINED_MIN else 0.0
        total = 0.0
        used: set[int] = set()
        for scores in close:
            best, best_i = 0.0, -1
            for j, candidate in enumerate(name):
                s = scores.get(candidate, 0.0)
                if s > best:
                    best, best_i = s, j
            if best < WORD_MIN:
                return joined_score
            total += best
            used.add(best_i)
        coverage = len(used) / len(name)
        score = total / len(close) * (0.75 + 0.25 * coverage)
        return max(score, joined_score)

    def match(self, text: str, *, among: Collection[str] | None = None) -> NameMatch[T]:
        key = (text, None if among is None else frozenset(among))
        cached = self._match_cache.get(key)
        if cached is not None:
            return cached
        result = self._match(text, key[1])
        if len(self._match_cache) >= self.MATCH_CACHE:
            self._match_cache.clear()
        self._match_cache[key] = result
        return result

    def _match(self, text: str, among: frozenset[str] | None) -> NameMatch[T]:
        spoken = normalise_words(text, self.lang)
        if not spoken or not self._phrases:
            return NameMatch(text, "none")
        close = [self._close_words(w) for w in spoken]
        candidates: set[int] = set()
        if all(close):
            # Phrases holding a close word for every spoken word.
            for n, scores in enumerate(close):
                holding: set[int] = set()
                for w in scores:
                    holding |= self._by_word[w]
                candidates = holding if n == 0 else candidates & holding
                if not candidates:
                    break
        spoken_joined = "".join(spoken)
        # ... and those the words run together may name ("nightlight").
        candidates.update(
            i
            for _, _, i in process.extract(
                spoken_joined,
                self._joined,
                scorer=fuzz.ratio,
                score_cutoff=JOINED_MIN - 1,
                limit=None,
            )
        )
        best: dict[str, float] = {}
        for i in candidates:
            item_id = self._phrases[i][0]
            if among is not None and item_id not in among:
                continue
            score = self._score(spoken_joined, close, i)
            if score > best.get(item_id, 0.0):
                best[item_id] = score
        ranked = sorted(
            ((s, i) for i, s in best.items() if s >= MIN_SCORE), key=lambda p: (-p[0], p[1])
        )
        if not ranked:
            return NameMatch(text, "none")
        top = ranked[0][0]
        tied = [i for s, i in ranked if s >= top - AMBIGUITY_MARGIN]
        status: MatchStatus = "found" if len(tied) == 1 else "ambiguous"
        return NameMatch(text, status, tuple(self._items[i] for i in tied), top)


# --- the home ----------------------------------------------------------------------


class Home:
    """The devices, areas and floors of one configuration, indexed for lookup.
    Built once from a Config and not changed afterwards."""

    def __init__(
        self,
        devices: Iterable[Device],
        areas: Iterable[Area],
        floors: Iterable[Floor] = (),
        language: Language = ENGLISH,
    ) -> None:
        # The words the home's names are said in (config `language`).
        self.language = language
        self.devices: Mapping[str, Device] = MappingProxyType({d.id: d for d in devices})
        self.areas: Mapping[str, Area] = MappingProxyType({a.id: a for a in areas})
        self.floors: Mapping[str, Floor] = MappingProxyType({f.id: f for f in floors})
        device_phrases: list[tuple[str, str]] = []
        for d in self.devices.values():
            own = (d.name, *d.aliases)
            device_phrases += [(d.id, p) for p in own]
            # "bedroom lamp" when the device is "Lamp" in the bedroom.
            if d.area is not None and d.area in self.areas:
                a = self.areas[d.area]
                for area_name in (a.name, *a.aliases):
                    device_phrases += [(d.id, f"{area_name} {p}") for p in own]
        self._device_index = NameIndex(device_phrases, self.devices, language)
        self._area_index = NameIndex(
            [(a.id, p) for a in self.areas.values() for p in (a.id, a.name, *a.aliases)],
            self.areas,
            language,
        )
        self._floor_index = NameIndex(
            [(f.id, p) for f in self.floors.values() for p in (f.id, f.name, *f.aliases)],
            self.floors,
            language,
        )
        self._site_keys = {
            _site_key(p): a.id for a in self.areas.values() for p in (a.id, a.name, *a.aliases)
        }
        # Devices by area, in config order: groups and `among` without a scan of the home.
        self._position = {device_id: n for n, device_id in enumerate(self.devices)}
        by_area: dict[str | None, list[Device]] = {}
        for d in self.devices.values():
            by_area.setdefault(d.area, []).append(d)
        self._by_area: Mapping[str | None, tuple[Device, ...]] = MappingProxyType(
            {a: tuple(ds) for a, ds in by_area.items()}
        )
        # Built here, once per config; imported here because it reads this module.
        from edged.home.gazetteer import Gazetteer

        self.gazetteer = Gazetteer(self)

    @classmethod
    def from_config(cls, config: Config) -> Home:
        layout = config.layout()
        policy = config.policy
        devices = []
        for d in config.devices:
            sensitive = (
                frozenset(d.sensitive_ops)
                if d.sensitive_ops is not None
                else policy.sensitive_ops_for(d.kind, d.device_class)
            )
            action: SensitiveAction = (
                policy.sensitive_action
                if d.confirm is None
                else ("confirm" if d.confirm else "refuse")
            )
            devices.append(
                Device.from_config(
                    d,
                    area=layout.device_area[d.id],
                    sensitive_ops=sensitive,
                    sensitive_action=action,
                )
            )
        areas = [Area(a.id, a.display_name, tuple(a.aliases), a.floor) for a in layout.areas]
        floors = [Floor(f.id, f.display_name, tuple(f.aliases)) for f in layout.floors]
        return cls(devices, areas, floors, get_language(config.language))

    def device(self, device_id: str) -> Device:
        return self.devices[device_id]

    def devices_in(
        self,
        area_ids: Collection[str] | None = None,
        *,
        kind: str | None = None,
        device_class: str | None = None,
    ) -> list[Device]:
        """Devices in any of `area_ids` (None: the whole home), in config order."""
        pool: Iterable[Device]
        if area_ids is None:
            pool = self.devices.values()
        else:
            pool = [d for a in dict.fromkeys(area_ids) for d in self._by_area.get(a, ())]
            if len(area_ids) > 1:
                pool = sorted(pool, key=lambda d: self._position[d.id])
        return [
            d
            for d in pool
            if (kind is None or d.kind == kind)
            and (device_class is None or d.device_class == device_class)
        ]

    def areas_on_floor(self, floor_id: str) -> list[Area]:
        return [a for a in self.areas.values() if a.floor == floor_id]

    def area_of_site(self, site: str | None) -> Area | None:
        """The area a satellite's site id names (its id, name or an alias);
        exact, since site ids are configured, not spoken."""
        if not site:
            return None
        area_id = self._site_keys.get(_site_key(site))
        return self.areas[area_id] if area_id is not None else None

    def match_device(
        self, text: str, *, area_ids: Collection[str] | None = None, kind: str | None = None
    ) -> NameMatch[Device]:
        """The device `text` names, among those in `area_ids` and of `kind` when given."""
        among = (
            None
            if area_ids is None
            else frozenset(d.id for a in area_ids for d in self._by_area.get(a, ()))
        )
        if kind is not None:
            of_kind = frozenset(d.id for d in self.devices_in(area_ids, kind=kind))
            among = of_kind if among is None else among & of_kind
        return self._device_index.match(text, among=among)

    def match_area(self, text: str) -> NameMatch[Area]:
        return self._area_index.match(text)

    def match_floor(self, text: str) -> NameMatch[Floor]:
        return self._floor_index.match(text)


def _site_key(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
