"""The home's own names, found in an utterance: the gazetteer.

Built once per `Home` from every device name and alias (also said with its
area: "bedroom ceiling light"), every area and floor name and alias. `find`
returns the spans of the text that say one of them, as configured phrases,
so the resolver can prefer what the home calls things over the model's guess
of a word's role: "desk lamp" is one name even when the model tags "desk" as
a name and "lamp" as a kind; "computer" is a device even when the model
calls it a kind.

Matching is word by word with the same scores as `registry.phrase_score`
(spelling by rapidfuzz, the phonetic key with the same first vowel,
synonyms), so recogniser errors ("kitchen lite", "floor lamb") find the name
and near-homophones ("garage" / "garden") do not. Plurals are folded by
`registry.normalise_words` on both sides. Per utterance the work is a dict
walk over its words; each distinct spoken word is compared with the home's
vocabulary once (one rapidfuzz pass) and remembered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

from edged.home.registry import (
    WORD_MIN,
    Home,
    normalise_words,
    word_score,
    words_by_sound,
)
from edged.lang import Language, fold_accents
from edged.lang import en as _english

ENGLISH = _english.LANGUAGE
Role = Literal["device", "area", "floor"]
# A span scored below this is not a name (the per-word floor already holds).
SPAN_MIN = 80.0
# Below this length a word is only compared by its phonetic key, not spelling.
_FUZZY_MIN_LEN = 4

# What commands are made of besides device, place and value words: verbs,
# particles, degree words, politeness (per language: `Language.command_words`;
# this is English's). A word outside these, in no slot, is taken as a name
# the home lacks (edged.home.resolve) ("switch off the toaster"). Erring here
# only ever refuses: context and guesses need every word explained. Here
# they are never a misheard name: "shut" is not the study, whatever its
# phonetic key says; only a name that is such a word, said exactly, counts.
COMMAND_WORDS = ENGLISH.command_words


# Soundex's classes of first letters (and the vowels as one): a recogniser
# keeps a word's first sound ("cettle" for kettle) far more often than its
# first letter.
_FIRST_SOUND = {
    c: str(n)
    for n, group in enumerate(("bfpv", "cgjkqsxz", "dt", "l", "mn", "r", "aeiouy"))
    for c in group
}


def first_sound(word: str) -> str:
    """The class of a word's first letter ("c" and "k" alike, vowels alike)."""
    first = word[:1]
    if first and not first.isascii():
        first = fold_accents(first)[:1] or first
    return _FIRST_SOUND.get(first, first)


def sounds_alike(spoken: str, name_word: str, lang: Language = ENGLISH) -> bool:
    """Whether a word not said exactly may still be `name_word` on its own,
    where nothing else anchors it: a synonym, the same phonetic key, or a
    close spelling (WORD_MIN) that starts with the same sound. "theater"
    is not the Heater, "cettle" is the Kettle."""
    if frozenset((spoken, name_word)) in lang.synonyms:
        return True
    if len(spoken) < 3 or not spoken.isalpha():
        return False
    key = lang.phonetic_key(spoken)
    if len(key) >= 2 and key == lang.phonetic_key(name_word):
        return True
    return (
        first_sound(spoken) == first_sound(name_word) and fuzz.ratio(spoken, name_word) >= WORD_MIN
    )


@dataclass(frozen=True, slots=True)
class NameSpan:
    """Characters [start, end) of the text say a configured name. `roles`
    maps each role the phrase has in the home to the ids it names there (two
    devices may share a name; a word may be an area and a device)."""

    start: int
    end: int
    text: str
    roles: Mapping[Role, tuple[str, ...]]
    score: float
    n_words: int

    @property
    def devices(self) -> tuple[str, ...]:
        return self.roles.get("device", ())

    @property
    def exact(self) -> bool:
        return self.score >= 100.0


@dataclass(frozen=True, slots=True)
class _Token:
    word: str  # normalised: lower case, singular, numbers as digits
    start: int
    end: int


def normalise_word(raw: str, lang: Language = ENGLISH) -> str | None:
    """One lower-case word as `normalise_words` folds it; None for a stopword."""
    w = raw.replace("'s", "s").replace("'", "") if lang.ascii_words else raw
    if w in lang.stopwords:
        return None
    return lang.singular(lang.name_numbers.get(w, w))


def tokens(
    text: str,
    fold: Callable[[str], str | None] | None = None,
    lang: Language = ENGLISH,
) -> list[_Token]:
    """The words of `text` that can be part of a name (stopwords dropped),
    normalised as `normalise_words` does, with their character offsets."""
    if fold is None:
        fold = functools.partial(normalise_word, lang=lang)
    out = []
    for m in lang.word_re.finditer(text.lower()):
        w = fold(m.group())
        if w is not None:
            out.append(_Token(w, m.start(), m.end()))
    return out


class Gazetteer:
    """Configured names, found in text. Immutable after construction except
    for bounded caches: spoken words already compared with the vocabulary,
    and the spans of texts already seen."""

    # Entries, not bytes; each cache is emptied when full.
    WORD_CACHE = 8192
    TEXT_CACHE = 4096

    def __init__(self, home: Home) -> None:
        lang = self.lang = home.language
        phrases: dict[tuple[str, ...], dict[Role, list[str]]] = {}

        def add(role: Role, item_id: str, text: str) -> None:
            words = normalise_words(text, lang)
            if words:
                ids = phrases.setdefault(words, {}).setdefault(role, [])
                if item_id not in ids:
                    ids.append(item_id)

        for d in home.devices.values():
            own = (d.name, *d.aliases)
            for p in own:
                add("device", d.id, p)
            area = home.areas.get(d.area) if d.area is not None else None
            if area is not None:
                for area_name in (area.name, *area.aliases):
                    for p in own:
                        add("device", d.id, f"{area_name} {p}")
        for a in home.areas.values():
            for p in (a.name, *a.aliases):
                add("area", a.id, p)
        for f in home.floors.values():
            for p in (f.name, *f.aliases):
                add("floor", f.id, p)
        self._phrases: dict[tuple[str, ...], Mapping[Role, tuple[str, ...]]] = {
            words: {role: tuple(ids) for role, ids in roles.items()}
            for words, roles in phrases.items()
        }
        # Phrases by first word, longest first: the walk tries the longest name first.
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for words in self._phrases:
            by_first.setdefault(words[0], []).append(words)
        self._by_first = {w: sorted(ps, key=len, reverse=True) for w, ps in by_first.items()}
        # Compounds said in one word or apart ("Küchenlampe" / "Küche Lampe"):
        # the joints a language puts between their parts ("" only, in English).
        self._links = lang.compound_links
        # Phrases by their first two words run together, for "nightlight".
        by_joined: dict[str, list[tuple[str, ...]]] = {}
        for words in self._phrases:
            if len(words) >= 2:
                for link in self._links:
                    by_joined.setdefault(words[0] + link + words[1], []).append(words)
        self._by_joined_start = by_joined
        self._vocab: list[str] = sorted({w for words in self._phrases for w in words})
        self._vocab_set = frozenset(self._vocab)
        # Spelling is compared only among words that start with the same
        # sound: recognisers keep it, and it is a sixth of the comparisons.
        by_sound: dict[str, list[str]] = {}
        for w in self._vocab:
            by_sound.setdefault(first_sound(w), []).append(w)
        self._vocab_by_sound = by_sound
        self._by_key = words_by_sound(self._vocab, lang)
        self._close_cache: dict[str, Mapping[str, float]] = {}
        self._fold_cache: dict[str, str | None] = {}
        self._find_cache: dict[str, tuple[NameSpan, ...]] = {}
        # The home's own words are the likeliest to be said: compared once
        # here, when the config loads, not on the first utterance that says one.
        for w in self._vocab:
            self._close(w)

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every (normalised) word of a configured name."""
        return self._vocab_set

    def _close(self, spoken: str) -> Mapping[str, float]:
        """Vocabulary words `spoken` may be (word_score >= WORD_MIN), with the score."""
        cached = self._close_cache.get(spoken)
        if cached is not None:
            return cached
        close: dict[str, float] = {}
        if spoken in self._vocab_set:
            close[spoken] = 100.0
        lang = self.lang
        if spoken.isalpha() and len(spoken) >= 3 and spoken not in lang.command_words:
            near: set[str] = set()
            if len(spoken) >= _FUZZY_MIN_LEN:
                near.update(
                    c
                    for c, _, _ in process.extract(
                        spoken,
                        self._vocab_by_sound.get(first_sound(spoken), ()),
                        scorer=fuzz.ratio,
                        score_cutoff=WORD_MIN - 1,
                        limit=None,
                    )
                )
            near.update(self._by_key.get(lang.phonetic_key(spoken), ()))
            near |= lang.synonyms_of.get(spoken, frozenset()) & self._vocab_set
            for w in near:
                if w not in close:
                    s = word_score(spoken, w, lang=lang)
                    if s >= WORD_MIN:
                        close[w] = s
        if len(self._close_cache) >= self.WORD_CACHE:
            self._close_cache.clear()
        self._close_cache[spoken] = close
        return close

    def _fold(self, raw: str) -> str | None:
        if raw in self._fold_cache:
            return self._fold_cache[raw]
        if len(self._fold_cache) >= self.WORD_CACHE:
            self._fold_cache.clear()
        folded = self._fold_cache[raw] = normalise_word(raw, self.lang)
        return folded

    def tokens(self, text: str) -> list[_Token]:
        """`tokens(text)`, remembering how each word folds."""
        return tokens(text, self._fold, self.lang)

    def find(self, text: str) -> list[NameSpan]:
        """`spans(text)`, remembered per text: a home hears the same few
        commands again and again (the registry's name index does the same)."""
        cached = self._find_cache.get(text)
        if cached is not None:
            return list(cached)
        found = self.spans(text)
        if len(self._find_cache) >= self.TEXT_CACHE:
            self._find_cache.clear()
        self._find_cache[text] = tuple(found)
        return found

    def _match_at(
        self, words: list[str], close: list[Mapping[str, float]], i: int, phrase: tuple[str, ...]
    ) -> tuple[int, float] | None:
        """(tokens used, mean word score) if `phrase` is said from token i.
        A phrase word is one close token, or two tokens run together
        exactly; two phrase words run together may be one token (joined by
        one of the language's compound links)."""
        links = self._links
        j = k = 0
        total = 0.0
        while k < len(phrase):
            at = i + j
            if at >= len(words):
                return None
            s = close[at].get(phrase[k], 0.0)
            if s >= WORD_MIN:
                total, j, k = total + s, j + 1, k + 1
            elif at + 1 < len(words) and any(
                words[at] + link + words[at + 1] == phrase[k] for link in links
            ):
                total, j, k = total + 100.0, j + 2, k + 1
            elif k + 1 < len(phrase) and any(
                words[at] == phrase[k] + link + phrase[k + 1] for link in links
            ):
                total, j, k = total + 200.0, j + 1, k + 2
            else:
                return None
        return j, total / len(phrase)

    def spans(self, text: str) -> list[NameSpan]:
        """Configured names said in `text`, left to right, not overlapping:
        where two could start at a word or overlap, the one of more words wins,
        then the better score."""
        toks = self.tokens(text)
        close = [self._close(t.word) for t in toks]
        words = [t.word for t in toks]
        found: list[tuple[int, float, int, tuple[str, ...]]] = []  # (n, score, i, phrase)
        for i in range(len(toks)):
            candidates: set[tuple[str, ...]] = set()
            for first in close[i]:
                candidates.update(self._by_first.get(first, ()))
            # A compound said apart ("night light" for Nightlight) or run
            # together ("nightlight" for Night Light).
            if i + 1 < len(toks):
                for link in self._links:
                    candidates.update(self._by_first.get(words[i] + link + words[i + 1], ()))
            candidates.update(self._by_joined_start.get(words[i], ()))
            for phrase in candidates:
                matched = self._match_at(words, close, i, phrase)
                if matched is None:
                    continue
                n, score = matched
                if (
                    len(phrase) == 1
                    and n == 1
                    and score < 100.0
                    and not sounds_alike(words[i], phrase[0], self.lang)
                ):
                    continue
                if score >= SPAN_MIN:
                    found.append((n, score, i, phrase))
        # Longest first, then best; a span keeps every phrase of its extent and score.
        found.sort(key=lambda f: (-f[0], -f[1], f[2]))
        taken: list[bool] = [False] * len(toks)
        spans: list[NameSpan] = []
        for n, score, i, _phrase in found:
            if any(taken[i : i + n]):
                continue
            for k in range(i, i + n):
                taken[k] = True
            start, end = toks[i].start, toks[i + n - 1].end
            roles: dict[Role, tuple[str, ...]] = {}
            # Every phrase of the same words and score is the same reading.
            for m, s, j, other in found:
                if m == n and j == i and s == score:
                    for role, ids in self._phrases[other].items():
                        roles[role] = tuple(dict.fromkeys((*roles.get(role, ()), *ids)))
            spans.append(NameSpan(start, end, text[start:end], roles, round(score, 2), n))
        spans.sort(key=lambda s: s.start)
        return spans
