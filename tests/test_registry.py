"""registry: the indexed name matcher gives exactly the brute-force scores."""

from __future__ import annotations

import random

from edged.home.registry import (
    AMBIGUITY_MARGIN,
    MIN_SCORE,
    Home,
    NameIndex,
    normalise_words,
    phrase_score,
)


def brute_force(
    index: NameIndex[object], text: str, among: frozenset[str] | None = None
) -> tuple[str, tuple[str, ...], float]:
    """What NameIndex.match did before it was indexed: phrase_score against every phrase."""
    spoken = normalise_words(text)
    best: dict[str, float] = {}
    for item_id, words in index._phrases:
        if among is not None and item_id not in among:
            continue
        s = phrase_score(spoken, words)
        if s > best.get(item_id, 0.0):
            best[item_id] = s
    ranked = sorted(
        ((s, i) for i, s in best.items() if s >= MIN_SCORE), key=lambda p: (-p[0], p[1])
    )
    if not ranked:
        return ("none", (), 0.0)
    top = ranked[0][0]
    tied = tuple(i for s, i in ranked if s >= top - AMBIGUITY_MARGIN)
    return ("found" if len(tied) == 1 else "ambiguous", tied, top)


def _queries(index: NameIndex[object], n: int, seed: int = 0) -> list[str]:
    """Every phrase, plus random words and ASR-like misspellings of them, alone,
    in pairs and triples, spaced and run together."""
    rng = random.Random(seed)
    words = [*sorted({w for _, ws in index._phrases for w in ws}), "lite", "nite", "telly", "the"]

    def noisy(w: str) -> str:
        if len(w) < 3:
            return w
        i = rng.randrange(len(w))
        c = rng.choice("abcdefghijklmnopqrstuvwxyz")
        return rng.choice((w[:i] + w[i + 1 :], w[:i] + c + w[i + 1 :], w[:i] + c + w[i:]))

    out = [" ".join(ws) for _, ws in index._phrases]
    for _ in range(n):
        ws = [noisy(rng.choice(words)) if rng.random() < 0.5 else rng.choice(words)]
        ws += [rng.choice(words) for _ in range(rng.choice((0, 1, 2)))]
        out += [" ".join(ws), "".join(ws)]
    return out


def test_device_match_equals_brute_force(home: Home) -> None:
    index = home._device_index
    areas = sorted(home.areas)
    rng = random.Random(1)
    for text in _queries(index, 400):
        among = None
        if rng.random() < 0.3:
            among = frozenset(d.id for d in home.devices_in([rng.choice(areas)]))
        m = index.match(text, among=among)
        got = (m.status, tuple(d.id for d in m.items), m.score)
        assert got == brute_force(index, text, among), text


def test_area_match_equals_brute_force(home: Home) -> None:
    index = home._area_index
    for text in _queries(index, 200, seed=2):
        m = index.match(text)
        assert (m.status, tuple(a.id for a in m.items), m.score) == brute_force(index, text), text


def test_cached_match_respects_among(home: Home) -> None:
    everywhere = home.match_device("lamp")
    kitchen = home.match_device("lamp", area_ids=["kitchen"])
    # Asked again, in the other order: the cache keeps the two apart.
    assert home.match_device("lamp", area_ids=["kitchen"]) == kitchen
    assert home.match_device("lamp") == everywhere
    assert all(d.area == "kitchen" for d in kitchen.items)


def test_devices_in_keeps_config_order(home: Home) -> None:
    order = list(home.devices)
    areas = sorted(home.areas)
    got = home.devices_in(areas[:3])
    assert [d.id for d in got] == [i for i in order if home.devices[i].area in areas[:3]]
    lights = home.devices_in(None, kind="light")
    assert [d.id for d in lights] == [i for i in order if home.devices[i].kind == "light"]
