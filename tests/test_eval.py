import pytest

from edged.eval import (
    Row,
    _device_equivalents,
    evaluate_rows,
    false_accepts,
    format_report,
    gold_slots,
    operation_of,
    pred_slots,
    score_slots,
)
from edged.nlu.types import Parse, Slot


def _p(text: str, intent: str | None, *slots: tuple[str, str]) -> Parse:
    out = []
    for name, words in slots:
        i = text.index(words)
        out.append(Slot(name, words, i, i + len(words), None))
    return Parse(text, intent, 0.99, tuple(out))


def test_gold_values_are_normalised_and_unsaid_context_is_left_out() -> None:
    row = Row(
        "set the bedroom lamp brightness to 50%",
        "HassLightSet",
        [
            {"name": "name", "value": "Bedroom Lamp", "start": None, "end": None},
            {"name": "brightness", "value": "50", "start": 35, "end": 37},
            {
                "name": "area",
                "value": "Office",
                "start": None,
                "end": None,
            },  # the satellite's, not said
            {"name": "domain", "value": "light", "start": None, "end": None},  # not scored
        ],
    )
    assert gold_slots(row) == {("name", "bedroom lamp"), ("brightness", 50)}


def test_area_plus_kind_word_matches_a_name() -> None:
    p = _p(
        "set the bedroom lamp brightness to 50%",
        "HassLightSet",
        ("area", "bedroom"),
        ("domain", "lamp"),
        ("brightness", "50%"),
    )
    gold = {("name", "bedroom lamp"), ("brightness", 50)}
    pred = pred_slots(p)
    assert pred == {("area", "bedroom"), ("brightness", 50)}
    assert score_slots(gold, pred, _device_equivalents(p)) == (2, 2, 2)


def test_a_wrong_slot_is_not_excused() -> None:
    p = _p("turn on the kitchen light", "HassTurnOn", ("area", "kitchen"))
    gold = {("area", "living room")}
    assert score_slots(gold, pred_slots(p), _device_equivalents(p)) == (0, 1, 1)


def test_turn_on_a_vacuum_is_the_vacuum_start_operation() -> None:
    assert (
        operation_of(_p("turn on the vacuum cleaner", "HassTurnOn", ("name", "vacuum cleaner")))
        == "HassVacuumStart"
    )
    assert operation_of(_p("turn on the lamp", "HassTurnOn", ("domain", "lamp"))) == "HassTurnOn"
    assert operation_of(_p("blah", None)) == "OutOfScope"


class _FixedParser:
    intents = ("HassTurnOn", "HassGetState", "OutOfScope")

    def __init__(self, answers: dict[str, str | None]) -> None:
        self.answers = answers

    def parse(self, text: str) -> Parse:
        return Parse(text, self.answers[text], 0.9, ())


def test_false_accepts_tell_questions_from_commands() -> None:
    parser = _FixedParser({"a": None, "b": "HassGetState", "c": "HassTurnOn", "d": None})
    rows = [Row(t, "chatter", []) for t in "abcd"]
    r = false_accepts(parser, rows)
    assert (r["n"], r["false_accepts"], r["device_commands"]) == (4, 2, 1)
    assert r["false_accept_rate"] == 0.5 and r["device_command_rate"] == 0.25


class _DatasetParser:
    """A model of another schema (SNIPS-like slots), answering from a table."""

    intents = ("PlayMusic", "AddToPlaylist")

    class info:  # stands in for ModelInfo
        slots = ("artist", "playlist")

    def __init__(self, answers: dict[str, Parse]) -> None:
        self.answers = answers

    def parse(self, text: str) -> Parse:
        return self.answers[text]


def test_slots_of_a_wrong_intent_count_only_in_the_any_intent_f1() -> None:
    a, b = "play queen", "add queen to my road trip playlist"
    parser = _DatasetParser(
        {
            a: _p(a, "PlayMusic", ("artist", "queen")),
            # Wrong intent, right slots; and one slot too many.
            b: _p(b, "PlayMusic", ("artist", "queen"), ("playlist", "road trip")),
        }
    )
    rows = [
        Row(a, "PlayMusic", [{"name": "artist", "value": "queen", "start": 5, "end": 10}]),
        Row(
            b,
            "AddToPlaylist",
            [{"name": "playlist", "value": "road trip", "start": 16, "end": 25}],
        ),
    ]
    m = evaluate_rows(parser, rows)
    assert m["intent_accuracy"] == 0.5
    # Gated: b's slots are dropped, 1 hit of 1 predicted and 2 gold.
    assert m["slot_f1"] == pytest.approx(2 * 1 / (1 + 2))
    # Any intent: b's road trip is a hit and its artist a false positive,
    # 2 hits of 3 predicted and 2 gold.
    assert m["slot_f1_any_intent"] == pytest.approx(2 * 2 / (3 + 2))
    assert "any int" in format_report(m)


def test_slots_are_read_in_the_models_language() -> None:
    """Home Assistant's sets give colours by their English value ("red") in
    every language; a French model's "rouge" is the same colour, and "la
    cuisine" the area cuisine."""
    from edged.lang import get_language

    fr = get_language("fr")
    row = Row(
        "règle la lampe de la cuisine en rouge",
        "HassLightSet",
        [
            {"name": "color", "value": "red", "start": None, "end": None},
            {"name": "area", "value": "cuisine", "start": None, "end": None},
        ],
    )
    p = _p(row.text, "HassLightSet", ("area", "la cuisine"), ("color", "rouge"))
    gold, pred = gold_slots(row, None, fr), pred_slots(p, None, fr)
    assert gold == pred == {("area", "cuisine"), ("color", (255, 0, 0))}
    # Read as English, the French colour carries no value: the old mismatch.
    assert ("color", None) in pred_slots(p)
    # A wrong colour is still wrong.
    text = row.text.replace("rouge", "bleu")
    blue = _p(text, "HassLightSet", ("area", "la cuisine"), ("color", "bleu"))
    assert score_slots(gold, pred_slots(blue, None, fr), {}) == (1, 2, 2)
