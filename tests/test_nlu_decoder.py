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
