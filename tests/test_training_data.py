import random

import pytest
from rapidfuzz import fuzz

pytest.importorskip("hassil")

from edged.nlu.schema import INTENTS, OUT_OF_SCOPE, SLOTS
from edged.training.augment import add_asr_noise, vary_surface
from edged.training.data import generate_examples, split_examples
from edged.training.sampler import Example, tag_domain_words

SMALL = {
    "per_intent": 12,
    "counts": {
        "HassTurnOn": 20,
        "HassTurnOff": 20,
        "HassLightSet": 15,
        "HassGetState": 12,
        OUT_OF_SCOPE: 40,
    },
}


def test_generation_is_deterministic_for_a_seed() -> None:
    a = generate_examples(seed=5, **SMALL)
    b = generate_examples(seed=5, **SMALL)
    c = generate_examples(seed=6, **SMALL)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]
    assert [e.text for e in a] != [e.text for e in c]


def test_examples_have_exact_spans_and_known_labels() -> None:
    examples = generate_examples(seed=1, **SMALL)
    assert {e.intent for e in examples} <= set(INTENTS)
    assert {e.intent for e in examples} >= {"HassTurnOn", "HassLightSet", OUT_OF_SCOPE}
    for e in examples:
        for s, t, name in e.spans:
            assert name in SLOTS
            assert 0 <= s < t <= len(e.text)
            piece = e.text[s:t]
            assert piece == piece.strip() and piece
            # spans start and end on word boundaries
            assert s == 0 or not e.text[s - 1].isalnum()
            assert t == len(e.text) or not e.text[t].isalnum()
        if e.intent == OUT_OF_SCOPE:
            assert e.spans == []
    assert len({e.text.lower() for e in examples}) == len(examples)


def test_split_is_stable_and_disjoint() -> None:
    examples = generate_examples(seed=2, **SMALL)
    tr, va = split_examples(examples, valid_share=0.2)
    _, va2 = split_examples(list(reversed(examples)), valid_share=0.2)
    assert {e.text for e in va} == {e.text for e in va2}
    assert not {e.text for e in tr} & {e.text for e in va}


def test_asr_noise_keeps_spans_on_the_same_words() -> None:
    ex = Example(
        "turn off the living room lights", "HassTurnOff", [(12, 23, "area"), (24, 30, "domain")]
    )
    rng = random.Random(0)
    changed = 0
    for _ in range(300):
        noisy = vary_surface(add_asr_noise(ex, rng, strength=2.0), rng)
        changed += noisy.text.lower() != ex.text
        texts = {name: noisy.text[s:t].lower() for s, t, name in noisy.spans}
        assert "area" in texts
        # the same words, perhaps run together, repeated or misheard by a letter
        fillers = {"um", "uh", "er", "erm", "like", "so", "okay", "hmm", "well", "oh"}
        squashed = "".join(w for w in texts["area"].split() if w not in fillers)
        assert fuzz.partial_ratio("livingroom", squashed) >= 80
    assert changed > 100


def test_off_becomes_of_sometimes() -> None:
    ex = Example("turn off the fan", "HassTurnOff", [(13, 16, "domain")])
    rng = random.Random(3)
    texts = {add_asr_noise(ex, rng).text for _ in range(200)}
    assert any(" of " in t for t in texts)


def test_domain_words_are_tagged_outside_names() -> None:
    spans = tag_domain_words(
        "turn on the desk lamp and the kitchen lights", [(12, 21, "name"), (30, 37, "area")]
    )
    assert (38, 44, "domain") in spans
    assert all(not (name == "domain" and s < 21) for s, _, name in spans)
