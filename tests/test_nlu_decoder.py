"""The decoder on its own: logits chosen by the test -> spans and values."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edged.nlu.model import ModelLoadError, NluModel, clean_text, default_model_dir
from edged.nlu.schema import INTENTS, OUT_OF_SCOPE, bio_labels

TOKENIZER = default_model_dir() / "tokenizer.json"


class ScriptedBackend:
    """Returns the intent and per-word tags a test asks for."""

    name = "scripted"

    def __init__(self, intent: str, tags_by_word: list[str], confidence: float = 0.95) -> None:
        self.intent, self.tags, self.confidence = intent, tags_by_word, confidence
        self.bio = bio_labels()
        self.word_ids: list[int | None] = []

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n_tok = input_ids.shape[1]
        intent = np.full((1, len(INTENTS)), -5.0, dtype=np.float32)
        p = self.confidence
        rest = (1 - p) / (len(INTENTS) - 1)
        intent[0] = np.log(rest)
        intent[0, INTENTS.index(self.intent)] = np.log(p)
        slots = np.full((1, n_tok, len(self.bio)), -8.0, dtype=np.float32)
        for i, wid in enumerate(self.word_ids):
            tag = "O" if wid is None or wid >= len(self.tags) else self.tags[wid]
            # "best/second": the model's first choice, and a close second one
            best, _, second = tag.partition("/")
            slots[0, i, self.bio.index(best)] = 8.0
            if second:
                slots[0, i, self.bio.index(second)] = 7.0
        return intent, slots


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    if not TOKENIZER.is_file():
        pytest.skip("shipped tokenizer missing")
    shutil.copyfile(TOKENIZER, tmp_path / "tokenizer.json")
    (tmp_path / "labels.json").write_text(
        json.dumps({"intents": list(INTENTS), "slots": [], "bio": bio_labels(), "max_tokens": 48})
    )
    return tmp_path


def _parse(
    model_dir: Path,
    text: str,
    intent: str,
    tags: list[str],
    confidence: float = 0.95,
    floor: float = 0.5,
):
    backend = ScriptedBackend(intent, tags, confidence)
    model = NluModel(model_dir, backend=backend, confidence_floor=floor)
    backend.word_ids = model.tokenizer.encode(clean_text(text)).word_ids
    return model.parse(text)


def test_spans_cover_whole_words_across_subtokens(model_dir: Path) -> None:
    # "reeding" splits into several word pieces; the span must cover the word.
    text = "turn on the reeding lamp in the kitchen"
    tags = ["O", "O", "O", "B-name", "I-name", "O", "O", "B-area"]
    p = _parse(model_dir, text, "HassTurnOn", tags)
    assert p.intent == "HassTurnOn"
    assert [(s.name, s.text, s.start, s.end) for s in p.slots] == [
        ("name", "reeding lamp", 12, 24),
        ("area", "kitchen", 32, 39),
    ]


def test_punctuation_words_and_values(model_dir: Path) -> None:
    text = "Set the bedroom to twenty one point five degrees, please!"
    words = [
        "O",
        "O",
        "B-area",
        "O",
        "B-temperature",
        "I-temperature",
        "I-temperature",
        "I-temperature",
    ]
    p = _parse(model_dir, text, "HassClimateSetTemperature", words + ["O"] * 6)
    temp = p.slot("temperature")
    assert temp is not None and temp.text == "twenty one point five" and temp.value == 21.5
    assert p.slot("area").value == "bedroom"


def test_o_between_same_tags_starts_a_new_span(model_dir: Path) -> None:
    # "I-area" cannot follow "O": the best valid reading is a new span.
    text = "kitchen and hallway lights off"
    p = _parse(model_dir, text, "HassTurnOff", ["B-area", "O", "I-area/B-area", "B-domain", "O"])
    assert [(s.name, s.text) for s in p.slots] == [
        ("area", "kitchen"),
        ("area", "hallway"),
        ("domain", "lights"),
    ]
    assert p.slot("domain").value == "light"


def test_one_unsure_word_does_not_split_a_name(model_dir: Path) -> None:
    # Per word, "of" is most likely O; but O followed by I-name is not a valid
    # tagging, and "the hall of mirrors lamp" as one name is the best valid one.
    text = "turn on the hall of mirrors lamp"
    tags = ["O", "O", "O", "B-name", "O/I-name", "I-name", "I-name"]
    p = _parse(model_dir, text, "HassTurnOn", tags)
    assert [(s.name, s.text) for s in p.slots] == [("name", "hall of mirrors lamp")]


def test_viterbi_never_starts_with_inside_tag() -> None:
    from edged.nlu.model import bio_transitions, viterbi

    bio = ["O", "B-name", "I-name", "B-area", "I-area"]
    step, start = bio_transitions(bio)
    probs = np.array(
        [
            [0.1, 0.3, 0.6, 0.0, 0.0],  # I-name first: not allowed -> B-name
            [0.1, 0.1, 0.2, 0.0, 0.6],  # I-area after B-name: not allowed -> I-name
            [0.6, 0.0, 0.0, 0.4, 0.0],
        ]
    )
    assert [bio[t] for t in viterbi(probs, step, start)] == ["B-name", "I-name", "O"]


def test_viterbi_is_the_best_valid_sequence() -> None:
    # Against brute force over every tag sequence, on random probabilities.
    import itertools

    from edged.nlu.model import bio_transitions, viterbi

    bio = ["O", "B-name", "I-name", "B-area", "I-area"]
    step, start = bio_transitions(bio)

    def valid(seq: tuple[int, ...]) -> bool:
        prev = "O"
        for t in seq:
            tag = bio[t]
            if tag.startswith("I-") and prev[2:] != tag[2:]:
                return False
            prev = tag
        return True

    rng = np.random.default_rng(7)
    for _ in range(30):
        probs = rng.dirichlet(np.ones(len(bio)), size=4)
        best = max(
            (s for s in itertools.product(range(len(bio)), repeat=4) if valid(s)),
            key=lambda s: sum(np.log(probs[i, t]) for i, t in enumerate(s)),
        )
        assert tuple(viterbi(probs, step, start)) == best


def test_out_of_scope_and_low_confidence_are_not_recognised(model_dir: Path) -> None:
    p = _parse(model_dir, "the den looks great", OUT_OF_SCOPE, ["B-area"] * 4)
    assert p.intent is None and p.best_guess == OUT_OF_SCOPE and p.slots == ()
    p = _parse(model_dir, "turn on the thing", "HassTurnOn", ["O"] * 4, confidence=0.3, floor=0.5)
    assert (
        p.intent is None
        and p.best_guess == "HassTurnOn"
        and p.confidence == pytest.approx(0.3, abs=1e-3)
    )


def test_empty_and_control_characters(model_dir: Path) -> None:
    p = _parse(model_dir, " \x00\x07 ", "HassTurnOn", [])
    assert p.intent is None and p.text == ""
    p = _parse(model_dir, "turn\x00on\tthe  fan", "HassTurnOn", ["O", "O", "O", "B-domain"])
    assert p.text == "turn on the fan" and p.slot("domain").text == "fan"


def test_missing_model_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no labels\.json"):
        NluModel(tmp_path)


# Intents held to their own slots (labels.json `intent_slots`, written by the
# trainer from the training examples).
INTENT_SLOTS = {
    intent: ["name", "area", "domain"] for intent in INTENTS if intent != OUT_OF_SCOPE
} | {"HassLightSet": ["name", "area", "domain", "brightness"]}


class TwoIntentBackend(ScriptedBackend):
    """ScriptedBackend whose intent head splits its belief as the test says."""

    def __init__(self, intent_probs: dict[str, float], tags_by_word: list[str]) -> None:
        super().__init__(next(iter(intent_probs)), tags_by_word)
        self.intent_probs = intent_probs

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        _, slots = super().run(input_ids, attention_mask)
        rest = (1 - sum(self.intent_probs.values())) / (len(INTENTS) - len(self.intent_probs))
        probs = np.array([self.intent_probs.get(i, rest) for i in INTENTS])
        return np.log(probs)[None, :].astype(np.float32), slots


def _parse_joint(model_dir: Path, text: str, intent_probs: dict[str, float], tags: list[str]):
    meta = json.loads((model_dir / "labels.json").read_text())
    meta["intent_slots"] = INTENT_SLOTS
    (model_dir / "labels.json").write_text(json.dumps(meta))
    backend = TwoIntentBackend(intent_probs, tags)
    model = NluModel(model_dir, backend=backend, confidence_floor=0.5)
    backend.word_ids = model.tokenizer.encode(clean_text(text)).word_ids
    return model.parse(text)


def test_slots_the_intent_never_takes_move_the_intent(model_dir: Path) -> None:
    # The intent head leans to HassTurnOn, but the slot head reads a
    # brightness, which only HassLightSet takes.
    tags = ["O", "O", "B-name", "O", "B-brightness", "I-brightness"]
    # Without the table the intent head's answer stands, as before.
    plain = _parse(model_dir, "set the lamp to 40 percent", "HassTurnOn", tags, confidence=0.6)
    assert plain.intent == "HassTurnOn"
    probs = {"HassTurnOn": 0.6, "HassLightSet": 0.35}
    p = _parse_joint(model_dir, "set the lamp to 40 percent", probs, tags)
    assert p.intent == "HassLightSet" and p.confidence > 0.99
    assert [(s.name, s.text) for s in p.slots] == [("name", "lamp"), ("brightness", "40 percent")]


def test_slots_every_intent_takes_leave_the_intent_heads_answer(model_dir: Path) -> None:
    tags = ["O", "O", "O", "B-area", "B-domain"]
    probs = {"HassTurnOn": 0.6, "HassLightSet": 0.35}
    p = _parse_joint(model_dir, "turn on the kitchen lights", probs, tags)
    assert p.intent == "HassTurnOn" and p.confidence == pytest.approx(0.6, abs=1e-4)


def test_a_tag_the_intent_never_takes_gives_way_to_the_next_best(model_dir: Path) -> None:
    # "lamp" is most likely a brightness, a close second a name; HassTurnOn
    # takes no brightness and is far ahead, so the word is its name.
    tags = ["O", "O", "O", "B-brightness/B-name"]
    p = _parse_joint(model_dir, "turn on the lamp", {"HassTurnOn": 0.97}, tags)
    assert p.intent == "HassTurnOn"
    assert [(s.name, s.text) for s in p.slots] == [("name", "lamp")]


def test_slots_read_in_chatter_never_outweigh_not_recognised(model_dir: Path) -> None:
    # Out of scope is unconstrained: a name read in chatter leaves it ahead.
    tags = ["O", "B-name", "O", "O"]
    probs = {OUT_OF_SCOPE: 0.7, "HassTurnOn": 0.25}
    p = _parse_joint(model_dir, "my coffee is cold", probs, tags)
    assert p.intent is None and p.best_guess == OUT_OF_SCOPE
    assert p.confidence == pytest.approx(0.7, abs=1e-4)


def test_joint_intent_probs_against_brute_force() -> None:
    # P(i) proportional to p(i) times the summed probability of every tag
    # sequence whose tags i allows, enumerated.
    import itertools

    from edged.nlu.model import intent_tag_mask, joint_intent_probs

    intents = ("A", "B", "C")
    bio = ("O", "B-x", "I-x", "B-y", "I-y")
    mask = intent_tag_mask(intents, bio, {"A": ("x",), "B": ("y",)})  # C: unconstrained
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 1, 1], [1, 1, 1, 1, 1]]
    rng = np.random.default_rng(3)
    for _ in range(20):
        p_intent = rng.dirichlet(np.ones(3))
        p_words = rng.dirichlet(np.ones(len(bio)), size=3)
        mass = [
            sum(
                np.prod([p_words[w, t] for w, t in enumerate(seq)])
                for seq in itertools.product(range(len(bio)), repeat=3)
                if all(mask[i, t] for t in seq)
            )
            for i in range(3)
        ]
        expected = p_intent * np.array(mass)
        got = joint_intent_probs(p_intent, p_words, mask)
        np.testing.assert_allclose(got, expected / expected.sum(), rtol=1e-6)


# Learned tag transitions (labels.json `tag_transitions`, counted by the
# trainer in the training sentences).
def test_learned_transitions_keep_the_constraints_and_sum_to_one() -> None:
    from edged.nlu.model import TRANSITION_START, bio_transitions, learned_transitions

    bio = ["O", "B-name", "I-name", "B-area", "I-area"]
    counts = {
        TRANSITION_START: {"O": 8, "B-name": 2},
        "O": {"O": 5, "B-name": 3, "B-area": 2},
        "B-name": {"I-name": 9, "O": 1},
    }
    step, start = learned_transitions(bio, counts)
    hard_step, hard_start = bio_transitions(bio)
    assert (np.isneginf(step) == np.isneginf(hard_step)).all()
    assert (np.isneginf(start) == np.isneginf(hard_start)).all()
    for scores in (start, *step):
        assert np.exp(scores).sum() == pytest.approx(1.0)
    # Add-one over the allowed next tags: B-name -> I-name 9 + 1 of 10 + 4.
    assert np.exp(step[1, 2]) == pytest.approx(10 / 14)
    # A pair never seen, or a tag never seen at all (I-area), stays possible.
    # (from I-area: O, B-name, B-area or I-area, each 1 of 4)
    assert np.isfinite(step[1, 3]) and np.exp(step[4, 0]) == pytest.approx(1 / 4)
    assert np.exp(start[0]) == pytest.approx(9 / 13)


def test_viterbi_with_learned_transitions_is_the_best_sequence() -> None:
    import itertools

    from edged.nlu.model import TRANSITION_START, learned_transitions, viterbi

    bio = ["O", "B-name", "I-name", "B-area", "I-area"]
    rng = np.random.default_rng(11)
    tags = [*bio, TRANSITION_START]
    counts = {
        frm: {to: int(n) for to, n in zip(bio, rng.integers(0, 20, len(bio)), strict=True)}
        for frm in tags
    }
    step, start = learned_transitions(bio, counts)
    for _ in range(30):
        probs = rng.dirichlet(np.ones(len(bio)), size=4)

        def score(s: tuple[int, ...], probs: np.ndarray = probs) -> float:
            total = start[s[0]] + sum(step[a, b] for a, b in itertools.pairwise(s))
            return float(total + sum(np.log(probs[i, t]) for i, t in enumerate(s)))

        best = max(itertools.product(range(len(bio)), repeat=4), key=score)
        assert tuple(viterbi(probs, step, start)) == best


def test_learned_transitions_join_a_name_the_slot_head_splits(model_dir: Path) -> None:
    # "the" is as likely the start of the name as not, and "hall" on its own
    # looks like a name's first word: word by word, "the" and "hall of
    # mirrors" are two names. Two names side by side never occur in the
    # training sentences, so with their counts it is one name.
    from edged.nlu.model import TRANSITION_START

    text = "find the hall of mirrors"
    tags = ["O", "B-name/O", "B-name/I-name", "I-name", "I-name"]
    plain = _parse(model_dir, text, "HassTurnOn", tags)
    assert [s.text for s in plain.slots] == ["the", "hall of mirrors"]
    meta = json.loads((model_dir / "labels.json").read_text())
    meta["tag_transitions"] = {
        TRANSITION_START: {"O": 50},
        "O": {"O": 40, "B-name": 50},
        "B-name": {"I-name": 60, "O": 20},
        "I-name": {"I-name": 50, "O": 30},
    }
    (model_dir / "labels.json").write_text(json.dumps(meta))
    p = _parse(model_dir, text, "HassTurnOn", tags)
    assert [(s.name, s.text) for s in p.slots] == [("name", "the hall of mirrors")]


def test_viterbi_searching_only_the_possible_tags_finds_the_same_sequence() -> None:
    # Tags with probability 0 at every word (an intent's mask) are left out
    # of the search; the answer is the full search's, in the full tag ids.
    from edged.nlu.model import TRANSITION_START, learned_transitions, viterbi

    bio = ["O", "B-name", "I-name", "B-area", "I-area", "B-x", "I-x"]
    rng = np.random.default_rng(3)
    counts = {
        frm: {to: int(n) for to, n in zip(bio, rng.integers(0, 20, len(bio)), strict=True)}
        for frm in [*bio, TRANSITION_START]
    }
    step, start = learned_transitions(bio, counts)
    for _ in range(30):
        probs = rng.dirichlet(np.ones(len(bio)), size=5)
        probs[:, [3, 4]] = 0.0  # no area for this intent
        with np.errstate(divide="ignore"):
            logp = np.log(probs)
        score = logp[0] + start
        back = []
        for t in range(1, len(probs)):
            cand = score[:, None] + step
            back.append(cand.argmax(0))
            score = cand.max(0) + logp[t]
        full = [int(score.argmax())]
        for b in reversed(back):
            full.append(int(b[full[-1]]))
        assert viterbi(probs, step, start) == full[::-1]


def test_a_crfs_learned_scores_are_used_instead_of_the_counts(model_dir: Path) -> None:
    # The same split name as above; the counts would keep it split (two
    # names side by side counted often), the CRF's scores join it, and
    # they win.
    from edged.nlu.model import TRANSITION_START

    text = "find the hall of mirrors"
    tags = ["O", "B-name/O", "B-name/I-name", "I-name", "I-name"]
    meta = json.loads((model_dir / "labels.json").read_text())
    meta["tag_transitions"] = {
        TRANSITION_START: {"O": 50},
        "O": {"O": 40, "B-name": 50},
        "B-name": {"B-name": 90, "I-name": 5, "O": 5},
        "I-name": {"I-name": 50, "O": 30},
    }
    (model_dir / "labels.json").write_text(json.dumps(meta))
    counted = _parse(model_dir, text, "HassTurnOn", tags)
    assert [s.text for s in counted.slots] == ["the", "hall of mirrors"]
    meta["tag_transition_scores"] = {
        TRANSITION_START: {"O": 0.0, "B-name": -3.0},
        "O": {"O": 0.0, "B-name": 0.5},
        "B-name": {"B-name": -4.0, "I-name": 1.0, "O": 0.0},
        "I-name": {"I-name": 1.0, "O": 0.0, "B-name": -4.0},
    }
    (model_dir / "labels.json").write_text(json.dumps(meta))
    p = _parse(model_dir, text, "HassTurnOn", tags)
    assert [(s.name, s.text) for s in p.slots] == [("name", "the hall of mirrors")]
