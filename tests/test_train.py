"""The trainer's batching and label bookkeeping (no torch needed)."""

from __future__ import annotations

import random
from typing import Any

from edged.training.pipeline import intent_slots, labels_for
from edged.training.sampler import Example
from edged.training.train import GROUP_POOL_BATCHES, _batches


def _rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"input_ids": [0] * rng.randint(3, 40), "k": k} for k in range(n)]


def _padded(batches: list[list[dict[str, Any]]]) -> int:
    return sum(len(b) * max(len(r["input_ids"]) for r in b) for b in batches)


def test_grouped_batches_hold_every_row_once_and_pad_less() -> None:
    rows = _rows(5000)
    plain = _batches(rows, 32, random.Random(1))
    grouped = _batches(rows, 32, random.Random(1), group_by_length=True)
    for batches in (plain, grouped):
        assert sorted(r["k"] for b in batches for r in b) == list(range(5000))
        assert all(len(b) <= 32 for b in batches) and len(batches) == 157
    assert _padded(grouped) < 0.7 * _padded(plain)
    # Within a batch the lengths are alike; the batches come in random order.
    spread = [
        max(len(r["input_ids"]) for r in b) - min(len(r["input_ids"]) for r in b) for b in grouped
    ]
    assert sorted(spread)[len(spread) // 2] <= 1
    firsts = [len(b[0]["input_ids"]) for b in grouped]
    assert firsts != sorted(firsts)


def test_grouped_batches_are_drawn_from_pools_of_the_shuffled_rows() -> None:
    # A pool is GROUP_POOL_BATCHES batches of the shuffled order, so two
    # epochs (two draws of the generator) batch the rows differently, and a
    # given seed always batches them the same way.
    rows = _rows(32 * GROUP_POOL_BATCHES * 3)
    rng = random.Random(5)
    one = _batches(rows, 32, rng, group_by_length=True)
    two = _batches(rows, 32, rng, group_by_length=True)
    key = lambda bs: [[r["k"] for r in b] for b in bs]  # noqa: E731
    assert key(one) != key(two)
    assert key(one) == key(_batches(rows, 32, random.Random(5), group_by_length=True))
    # Without a generator (validation, teacher logits) the order is the rows'.
    assert [r["k"] for b in _batches(rows, 32, None) for r in b] == list(range(len(rows)))


def test_intent_slots_come_from_the_examples_built_in_intents_excepted() -> None:
    examples = [
        Example("play abba", "PlayMusic", [(5, 9, "artist")]),
        Example("play abba on spotify", "PlayMusic", [(5, 9, "artist"), (13, 20, "service")]),
        Example("rate this book five stars", "RateBook", [(20, 25, "rating_value")]),
        Example("is it cold", "GetWeather", []),
        Example("what a nice day", "OutOfScope", [(7, 11, "artist")]),
        Example("turn on abba", "HassTurnOn", [(8, 12, "artist")]),
    ]
    labels = labels_for(examples, builtin=False)
    table = intent_slots(examples, labels)
    assert table == {
        "PlayMusic": ["artist", "service"],
        "RateBook": ["rating_value"],
        "GetWeather": [],
    }
    # Out of scope and edged's other built-in intents are unconstrained.
    # Only the examples given count: an intent none of them has is left out
    # (unconstrained at run time).
    assert "RateBook" not in intent_slots(examples[:2], labels)


def test_transition_counts_read_word_tags_in_order() -> None:
    from edged.training.train import Labels, transition_counts

    labels = Labels(intents=["PlayMusic"], slots=["artist", "service"])
    b_artist, i_artist = labels.bio.index("B-artist"), labels.bio.index("I-artist")
    b_service = labels.bio.index("B-service")
    # -100 marks special tokens and later sub-tokens of a word: skipped.
    rows = [
        {"tags": [-100, 0, b_artist, -100, i_artist, 0, b_service, -100]},
        {"tags": [-100, b_artist, 0, -100]},
    ]
    assert transition_counts(rows, labels) == {
        "<start>": {"O": 1, "B-artist": 1},
        "O": {"B-artist": 1, "B-service": 1},
        "B-artist": {"I-artist": 1, "O": 1},
        "I-artist": {"O": 1},
    }
