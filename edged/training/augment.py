"""Speech-recogniser noise for training sentences.

What an STT engine hands over is not what a person typed: "turn of the
lights", "set it two 21", "um switch on the er fan", "livingroom", no
punctuation, any case. Each transform works on words that carry their slot
span, so the spans stay exact after the text changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from edged.training.sampler import Example

_SWAPS = {
    "off": ("of", "of", "awf"),
    "to": ("two", "too"),
    "for": ("four",),
    "on": ("own",),
    "the": ("a", "da"),
    "lights": ("lites", "light"),
    "light": ("lite", "lights"),
    "night": ("nite",),
    "right": ("write",),
    "brighter": ("brighta",),
    "turn": ("tern", "turned"),
    "switch": ("which",),
    "please": ("pls", "plz"),
    "and": ("an",),
}
_FILLERS = ("um", "uh", "er", "erm", "like", "so", "okay", "hmm", "well", "oh")
_OPENERS = ("hey", "okay", "ok", "so", "please", "um", "right", "alright", "hey there")
_CLOSERS = ("please", "thanks", "thank you", "now", "right now", "for me", "would you")
_ARTICLES = frozenset({"the", "a", "my", "our"})


@dataclass(frozen=True)
class NoiseWords:
    """A language's recogniser slips and padding (English's are this module's
    tables; another language's the `noise` section of
    edged/training/lang/<code>.yaml)."""

    swaps: dict[str, tuple[str, ...]]
    fillers: tuple[str, ...]
    openers: tuple[str, ...]
    closers: tuple[str, ...]
    articles: frozenset[str]
    # Words of a slot a swap may still change ("lights" -> "lites").
    slot_swaps: frozenset[str] = frozenset({"light", "lights"})


ENGLISH_NOISE = NoiseWords(_SWAPS, _FILLERS, _OPENERS, _CLOSERS, _ARTICLES)


def noise_for(language: str = "en") -> NoiseWords:
    if language == "en":
        return ENGLISH_NOISE
    from edged.training.vocab import checked, lang_file

    raw = checked(lang_file(language)["noise"], NoiseWords, f"{language}.yaml noise")
    return NoiseWords(
        swaps={k: tuple(v) for k, v in raw["swaps"].items()},
        fillers=tuple(raw["fillers"]),
        openers=tuple(raw["openers"]),
        closers=tuple(raw["closers"]),
        articles=frozenset(raw["articles"]),
        slot_swaps=frozenset(raw.get("slot_swaps", ())),
    )


@dataclass
class _Word:
    text: str
    span: int  # -1 when the word is in no slot


def _words(ex: Example) -> tuple[list[_Word], list[str]]:
    words: list[_Word] = []
    names = [name for _, _, name in ex.spans]
    pos = 0
    for token in ex.text.split(" "):
        start, end = pos, pos + len(token)
        pos = end + 1
        span = -1
        for k, (s, e, _) in enumerate(ex.spans):
            if s <= start < e:
                span = k
                break
        words.append(_Word(token, span))
    return words, names


def _slot_inside_word(ex: Example) -> bool:
    return any(s > 0 and ex.text[s - 1] in "'’" for s, _, _ in ex.spans)


def _example(words: list[_Word], names: list[str], ex: Example) -> Example:
    parts: list[str] = []
    bounds: dict[int, list[int]] = {}
    pos = 0
    for w in words:
        if not w.text:
            continue
        if parts:
            pos += 1
        start, end = pos, pos + len(w.text)
        parts.append(w.text)
        pos = end
        if w.span >= 0:
            b = bounds.setdefault(w.span, [start, end])
            b[1] = end
    text = " ".join(parts)
    spans = []
    for k, (s, e) in sorted(bounds.items(), key=lambda kv: kv[1][0]):
        # Trim punctuation the transforms glued to a span's edge.
        while e > s and not text[e - 1].isalnum() and text[e - 1] not in "%°":
            e -= 1
        if e > s:
            spans.append((s, e, names[k]))
    return Example(text, ex.intent, spans, ex.source)


def _misspell(rng: random.Random, word: str) -> str:
    """One ASR-like slip in a longer word: a letter doubled, dropped or swapped."""
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.35:
        return word[:i] + word[i] + word[i:]
    if op < 0.7:
        return word[:i] + word[i + 1 :]
    vowels = "aeiou"
    if word[i] in vowels:
        return word[:i] + rng.choice(vowels.replace(word[i], "")) + word[i + 1 :]
    return word


def add_asr_noise(
    ex: Example, rng: random.Random, strength: float = 1.0, noise: NoiseWords = ENGLISH_NOISE
) -> Example:
    """A noisier copy of `ex`, its spans kept exact (slips in `noise`'s language).
    A sentence where a slot starts inside a word, after an elided article
    ("l'entrée"), is left as it is: the word-level edits would move the
    slot's start."""
    if _slot_inside_word(ex):
        return ex
    words, names = _words(ex)
    p = strength
    for w in words:
        lw = w.text.lower()
        if lw in noise.swaps and rng.random() < 0.35 * p and (w.span < 0 or lw in noise.slot_swaps):
            w.text = rng.choice(noise.swaps[lw])
        elif w.span >= 0 and names[w.span] in ("name", "area") and rng.random() < 0.06 * p:
            w.text = _misspell(rng, w.text)
    if rng.random() < 0.3 * p:
        words = [w for w in words if not (w.span < 0 and w.text.lower() in noise.articles)] or words
    if rng.random() < 0.25 * p:
        i = rng.randrange(0, len(words) + 1)
        words.insert(i, _Word(rng.choice(noise.fillers), -1))
    if rng.random() < 0.08 * p and words:
        i = rng.randrange(len(words))
        words.insert(i, _Word(words[i].text, words[i].span))
    if rng.random() < 0.1 * p and len(words) > 1:
        # Run-together words: "living room" -> "livingroom", "turn off" -> "turnoff".
        i = rng.randrange(len(words) - 1)
        a, b = words[i], words[i + 1]
        if a.span == b.span:
            words[i : i + 2] = [_Word(a.text + b.text, a.span)]
    if rng.random() < 0.12 * p:
        words.insert(0, _Word(rng.choice(noise.openers), -1))
    if rng.random() < 0.1 * p:
        words.append(_Word(rng.choice(noise.closers), -1))
    return _example(words, names, ex)


def _same_length(text: str, cased: str) -> str:
    """`cased` when it keeps every offset ("groß".upper() is "GROSS": not)."""
    return cased if len(cased) == len(text) else text


def vary_surface(ex: Example, rng: random.Random) -> Example:
    """Case and punctuation as chat or STT might hand them over."""
    text = ex.text
    r = rng.random()
    if r < 0.05:
        text = _same_length(text, text.upper())
    elif r < 0.15:
        text = _same_length(text, text.title())
    elif r < 0.4:
        text = _same_length(text, text[:1].upper() + text[1:])
    if rng.random() < 0.25 and text and text[-1].isalnum():
        text += rng.choice((".", "?", "!", "."))
    # Spans keep their offsets: case changes and a trailing mark move nothing.
    return Example(text, ex.intent, list(ex.spans), ex.source)
