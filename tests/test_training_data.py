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


@pytest.mark.slow  # three full generations: ~20 s on 2 cores
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


OWN_LISTS_DOC = {
    "language": "en",
    "intents": {
        "RunScene": {
            "data": [
                {
                    "sentences": [
                        "<begin> [the] {scene} [scene]",
                        "(it's|it is) {scene} time",
                        "set the {name} to {scene:look}",
                        "wait {minutes} minutes then start {scene}",
                        "start {scene} in the {area}",
                    ],
                    "lists": {"minutes": {"range": {"from": 1, "to": 30}}},
                }
            ]
        },
        "Remind": {"data": [{"sentences": ["remind me to {task}"]}]},
    },
    "lists": {
        "scene": {
            "values": [
                {"in": "movie night", "out": "movie_night"},
                {"in": "(dinner|dinner time)", "out": "dinner"},
                "reading",
            ]
        },
        "task": {"wildcard": True},
        # The file's own list for a schema slot: still that slot.
        "area": {"values": ["den", "attic"]},
    },
    "expansion_rules": {"begin": "(start|activate)"},
}


def _own_only(doc: dict, n: int = 60) -> list[Example]:
    return generate_examples(
        seed=3,
        extra_templates=[doc],
        own_templates=[],
        counts={"RunScene": n, "Remind": n // 3},
        noise=0.0,
        builtin=False,
    )


def test_a_users_own_lists_become_slots_named_as_in_the_templates() -> None:
    examples = _own_only(OWN_LISTS_DOC)
    by_intent: dict[str, list[Example]] = {}
    for e in examples:
        by_intent.setdefault(e.intent, []).append(e)
    # builtin=False: the file's intents alone, none of Home Assistant's.
    assert set(by_intent) == {"RunScene", "Remind"}
    assert len(by_intent["RunScene"]) == 60 and len(by_intent["Remind"]) == 20
    heard: dict[str, set[str]] = {}
    for e in examples:
        for s, t, name in e.spans:
            heard.setdefault(name, set()).add(e.text[s:t].lower())
    # {scene} -> scene, {scene:look} -> look, a block's own range list and a
    # wildcard list are slots too; Home Assistant's {name} stays `name`.
    assert {"scene", "look", "minutes", "task", "name", "area"} <= set(heard)
    assert heard["scene"] <= {"movie night", "dinner", "dinner time", "reading"}
    assert all(w.isdigit() or w.isalpha() or " " in w for w in heard["minutes"])
    for e in by_intent["RunScene"]:
        assert any(name in ("scene", "look") for _, _, name in e.spans), e
    # Not the words around the list: "start the movie night scene" labels
    # only "movie night".
    assert all(
        "scene" not in e.text[s:t].lower() for e in examples for s, t, n in e.spans if n == "scene"
    )


def test_builtin_templates_gain_no_slots_from_a_users_lists() -> None:
    """Home Assistant's own unmapped lists stay unlabelled words."""
    examples = generate_examples(seed=1, extra_templates=[OWN_LISTS_DOC], **SMALL)
    for e in examples:
        if e.intent in INTENTS:
            assert {name for _, _, name in e.spans} <= set(SLOTS), e


def test_own_slot_values_map_the_words_of_each_value_to_its_out_value() -> None:
    from edged.training.data import own_slot_values

    values = own_slot_values([OWN_LISTS_DOC])
    assert values["scene"] == {
        "values": {
            "movie night": "movie_night",
            "dinner": "dinner",
            "dinner time": "dinner",
            "reading": "reading",
        }
    }
    assert values["look"] == values["scene"]  # {scene:look}: the same list
    assert values["minutes"] == {"number": True}
    assert "task" not in values  # a wildcard is free text
    assert "name" not in values  # Home Assistant's lists are not the user's
    assert "area" not in values  # nor is a schema slot, whoever lists its words


def test_the_custom_intent_examples_agree_with_each_other() -> None:
    """examples/my-intents.yaml (sentences) and examples/custom-intents.yaml
    (what they do): every intent configured is in the sentences, and every
    slot its payloads or required_slots name is one its sentences teach."""
    import re
    from pathlib import Path

    import yaml

    from edged.config import load_config
    from edged.training.data import own_slot_values
    from edged.training.templates_check import check_sentence_files

    root = Path(__file__).resolve().parent.parent / "examples"
    (doc,) = check_sentence_files([root / "my-intents.yaml"])
    cfg = load_config(root / "custom-intents.yaml")
    zero = {k: 0 for k in ("HassTurnOn", "HassTurnOff", "HassLightSet", "HassGetState")}
    examples = generate_examples(
        seed=2,
        extra_templates=[yaml.safe_load((root / "my-intents.yaml").read_text())],
        own_templates=[],
        counts={**zero, OUT_OF_SCOPE: 0, **{name: 40 for name in doc["intents"]}},
        per_intent=0,
    )
    taught: dict[str, set[str]] = {}
    for e in examples:
        taught.setdefault(e.intent, set()).update(n for _, _, n in e.spans)
    assert set(cfg.custom_intents) == set(doc["intents"]) == set(taught)
    for intent, custom in cfg.custom_intents.items():
        named = {n for m in custom.actions for n in re.findall(r"\{([a-z_]+)\}", m.payload)}
        named = (named | set(custom.required_slots)) - {"intent", "site", "text"}
        assert named <= taught[intent], (intent, named, taught[intent])
    values = own_slot_values([doc])
    assert values["scene"]["values"]["movie night"] == "movie_night"
    assert values["pet"]["values"]["kitty"] == "cat"


def test_only_negatives_are_chatter_and_builtin_commands_never_a_users_text() -> None:
    """`edged train --only`: what the user's intents must not take."""
    from edged.training.pipeline import only_negatives

    mine = _own_only(OWN_LISTS_DOC, n=300)
    first = only_negatives(mine, seed=4)
    # A user's sentence that a built-in template also says is never a negative.
    said = next(e.text for e in first if e.source == "ha")
    mine.append(Example(said.upper(), "RunScene", []))
    negatives = only_negatives(mine, seed=4)
    assert said in {e.text for e in first} - {e.text for e in negatives}
    assert {e.intent for e in negatives} == {OUT_OF_SCOPE}
    assert all(e.spans == [] for e in negatives)
    assert {"ha", "own", "ha-oos"} <= {e.source for e in negatives}
    commands = [e for e in negatives if e.source == "ha"]
    assert len(commands) >= 50
    assert not {e.text.lower() for e in negatives} & {e.text.lower() for e in mine}
    assert len(negatives) >= max(200, len(mine) // 3)


def test_issue_21_intents_are_generated_from_ours_and_home_assistants() -> None:
    """Relative heating and mute/unmute are taught: ours in colloquial.yaml,
    Home Assistant's HassMediaPlayerMute/Unmute drawn under their own names
    (before, Home Assistant's were not drawn at all); a heating step is the
    `temperature` slot."""
    examples = generate_examples(seed=3, **SMALL)
    by = {i: [e for e in examples if e.intent == i] for i in INTENTS}
    for intent in ("EdgedTemperatureUp", "EdgedTemperatureDown"):
        assert len(by[intent]) >= 10
    for intent in ("HassMediaPlayerMute", "HassMediaPlayerUnmute"):
        assert len(by[intent]) >= 10
        assert all(
            "mute" in e.text.lower()
            or "sound" in e.text.lower()
            or "audio" in e.text.lower()
            or "silence" in e.text.lower()
            or "hush" in e.text.lower()
            or "shush" in e.text.lower()
            or e.spans
            for e in by[intent]
        )
    many = generate_examples(seed=4, per_intent=300, counts={k: 1 for k in SMALL["counts"]})
    steps = [
        e.text[s:t]
        for e in many
        if e.intent in ("EdgedTemperatureUp", "EdgedTemperatureDown")
        for s, t, n in e.spans
        if n == "temperature"
    ]
    assert steps, "no heating step was ever tagged"
    sources = {e.source for e in many if e.intent == "HassMediaPlayerMute"}
    assert sources == {"ha", "own"}
