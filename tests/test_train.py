"""The trainer's batching and label bookkeeping (no torch needed)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

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


@pytest.mark.torch
def test_crf_nll_against_brute_force() -> None:
    # Two utterances of 3 and 2 words, sub-tokens (-100) between them: the
    # loss is -log P(gold) under the CRF, P by enumerating every sequence.
    import itertools
    import math

    import torch

    from edged.nlu.model import bio_transitions
    from edged.training.train import _NEVER, crf_nll

    bio = ["O", "B-x", "I-x", "B-y", "I-y"]
    hard_step, hard_start = bio_transitions(bio)
    gen = torch.Generator().manual_seed(5)
    step = torch.randn(5, 5, generator=gen)
    start = torch.randn(5, generator=gen)
    step = torch.where(torch.from_numpy(np.isfinite(hard_step)), step, _NEVER)
    start = torch.where(torch.from_numpy(np.isfinite(hard_start)), start, _NEVER)
    logits = torch.randn(2, 6, 5, generator=gen)
    tags = torch.tensor([[-100, 1, -100, 2, 0, -100], [-100, 3, 4, -100, -100, -100]])
    logp = torch.log_softmax(logits, -1)

    def seq_score(row: int, seq: tuple[int, ...]) -> float:
        pos = [k for k in range(6) if tags[row, k] != -100]
        s = float(start[seq[0]]) + sum(float(step[a, b]) for a, b in itertools.pairwise(seq))
        return s + sum(float(logp[row, p, t]) for p, t in zip(pos, seq, strict=True))

    want = 0.0
    for row, gold in ((0, (1, 2, 0)), (1, (3, 4))):
        all_scores = [seq_score(row, s) for s in itertools.product(range(5), repeat=len(gold))]
        log_z = max(all_scores) + math.log(sum(math.exp(v - max(all_scores)) for v in all_scores))
        want += log_z - seq_score(row, gold)
    got = crf_nll(logits, tags, step, start)
    assert float(got) == pytest.approx(want / 5, rel=1e-5)
    # The gold sequence is the likeliest it can be when the scores favour it.
    assert float(got) > 0.0


@pytest.mark.torch
def test_crf_scores_are_what_the_runtime_decodes_with() -> None:
    # The trainer's learned scores go to labels.json in the counts' layout;
    # the runtime reads them back as the same table up to one shift each,
    # which ranks every sequence the same.
    import itertools

    import torch

    from edged.nlu.model import (
        TRANSITION_START,
        learned_transitions,
        scored_transitions,
        transitions_for,
        viterbi,
    )
    from edged.training.train import Labels, TrainConfig, build_model

    labels = Labels(intents=["PlayMusic"], slots=["artist", "service"])
    labels.tag_transitions = {
        TRANSITION_START: {"O": 3, "B-artist": 1},
        "B-artist": {"I-artist": 4},
    }
    model = build_model(labels, TrainConfig(layers=1, crf=True))
    with torch.no_grad():
        model.step.normal_(generator=torch.Generator().manual_seed(2))
        model.start.normal_(generator=torch.Generator().manual_seed(3))
    scores = model.transition_scores()
    assert set(scores) == {TRANSITION_START, *labels.bio}
    assert "I-artist" not in scores[TRANSITION_START] and "I-artist" not in scores["O"]
    step, start = scored_transitions(labels.bio, scores)
    chosen = transitions_for(labels.bio, labels.tag_transitions, scores)
    assert (chosen[0] == step).all() and (chosen[1] == start).all()
    counted = transitions_for(labels.bio, labels.tag_transitions, {})
    assert (counted[0] == learned_transitions(labels.bio, labels.tag_transitions)[0]).all()
    assert step[np.isfinite(step)].max() == 0.0 and start[np.isfinite(start)].max() == 0.0
    raw_step, raw_start = (t.detach().double().numpy() for t in model.transitions())
    rng = np.random.default_rng(4)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(len(labels.bio)), size=4)

        def score(s: tuple[int, ...], probs: np.ndarray = probs) -> float:
            total = raw_start[s[0]] + sum(raw_step[a, b] for a, b in itertools.pairwise(s))
            return float(total + sum(np.log(probs[i, t]) for i, t in enumerate(s)))

        best = max(itertools.product(range(len(labels.bio)), repeat=4), key=score)
        assert tuple(viterbi(probs, step, start)) == best


@pytest.mark.torch
def test_crf_starts_from_the_counted_transitions() -> None:
    from edged.nlu.model import TRANSITION_START, learned_transitions
    from edged.training.train import Labels, TrainConfig, build_model

    labels = Labels(intents=["PlayMusic"], slots=["artist"])
    labels.tag_transitions = {TRANSITION_START: {"O": 3, "B-artist": 1}, "O": {"B-artist": 2}}
    model = build_model(labels, TrainConfig(layers=1, crf=True))
    step, start = learned_transitions(labels.bio, labels.tag_transitions)
    got_step, got_start = (t.detach().double().numpy() for t in model.transitions())
    ok = np.isfinite(step)
    assert np.allclose(got_step[ok], step[ok], atol=1e-6)
    assert (got_step[~ok] < -1e3).all() and np.allclose(got_start[1], start[1], atol=1e-6)
