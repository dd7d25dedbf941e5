"""The shipped model on fixed sentences: intents, slots and values, the
speech-recogniser slips it must survive, and chatter it must not act on."""

from __future__ import annotations

import pytest

from edged.nlu.model import NluModel, default_model_dir


@pytest.fixture(scope="module")
def model() -> NluModel:
    if not (default_model_dir() / "model.onnx").is_file():
        pytest.fail("the shipped model is missing: models/edged-nlu/model.onnx")
    return NluModel(confidence_floor=0.5)


def slots(p) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {s.name: s.value for s in p.slots}


def named(p) -> set[str]:  # type: ignore[no-untyped-def]
    """The device names a parse can mean: the name slot, alone or with the kind word after it."""
    out = set()
    for s in p.slots:
        if s.name == "name":
            out.add(s.value)
            after = [
                d for d in p.slots if d.name == "domain" and not p.text[s.end : d.start].strip()
            ]
            out |= {p.text[s.start : d.end].lower() for d in after}
    return out


CASES = [
    ("turn off the kitchen lights", "HassTurnOff", {"area": "kitchen", "domain": "light"}),
    ("turn on the reading lamp", "HassTurnOn", {"name": "reading lamp"}),
    (
        "set the bedroom to 21 degrees",
        "HassClimateSetTemperature",
        {"area": "bedroom", "temperature": 21.0},
    ),
    (
        "set the thermostat to twenty two point five",
        "HassClimateSetTemperature",
        {"temperature": 22.5},
    ),
    (
        "dim the living room lights to 30 percent",
        "HassLightSet",
        {"area": "living room", "brightness": 30},
    ),
    (
        "make the desk lamp blue",
        "HassLightSet",
        {"name": "desk lamp", "color": {"name": "blue", "rgb": [0, 0, 255]}},
    ),
    ("open the garage door", "HassTurnOn", {}),
    ("unlock the front door", "HassTurnOff", {"name": "front door"}),
    ("close the blinds halfway", "HassSetPosition", {"position": 50}),
    ("pause the tv", "HassMediaPause", {}),
    ("next song", "HassMediaNext", {}),
    ("set the volume to 40 percent", "HassSetVolume", {"volume_level": 40}),
    ("start the vacuum", "HassVacuumStart", {}),
    ("send the robot vacuum home", "HassVacuumReturnToBase", {}),
    ("set the fan speed to 75 percent", "HassFanSetSpeed", {"percentage": 75}),
    ("is the front door locked", "HassGetState", {}),
    ("what's the temperature in the bedroom", "HassClimateGetTemperature", {"area": "bedroom"}),
    ("never mind", "HassNevermind", {}),
    ("toggle the hallway light", "HassToggle", {}),
    ("dim the lights a bit", "EdgedLightDim", {}),
    ("make it brighter in here", "EdgedLightBrighten", {}),
    ("turn it up", "EdgedVolumeUp", {}),
    # how people talk
    ("crank up the heat to 23 in the den", "HassClimateSetTemperature", {"temperature": 23.0}),
    ("porch light off please", "HassTurnOff", {}),
    ("kill the lights in the office", "HassTurnOff", {"area": "office"}),
    ("could you please switch on the coffee maker", "HassTurnOn", {"name": "coffee maker"}),
    # what speech recognisers hand over
    ("turn of the porch light", "HassTurnOff", {}),
    ("um switch on the er fan", "HassTurnOn", {}),
    ("TURN OFF THE KITCHEN LIGHTS.", "HassTurnOff", {"area": "kitchen"}),
    ("set the bedroom two twenty one degrees", "HassClimateSetTemperature", {"temperature": 21.0}),
    # Home Assistant's names for things that are not lamps or plugs
    ("is the phone charging?", "HassGetState", {"name": "phone"}),
    ("what is Mistral's speed?", "HassGetState", {"name": "mistral"}),
    (
        "what is the power factor of the wall plug power factor?",
        "HassGetState",
        {"name": "wall plug power factor"},
    ),
    ("party mode on", "HassTurnOn", {"name": "party mode"}),
    ("turn on play corner lights", "HassTurnOn", {"name": "play corner lights"}),
]


@pytest.mark.parametrize(("text", "intent", "expected"), CASES)
def test_fixed_sentences(
    model: NluModel, text: str, intent: str, expected: dict[str, object]
) -> None:
    p = model.parse(text)
    assert p.intent == intent, (text, p.best_guess, p.confidence, slots(p))
    got = slots(p)
    for name, value in expected.items():
        if name == "area" and got.get("area") != value:
            # "living room lights" heard as one name: the resolver finds the
            # area inside it (and the eval scores it the same way).
            assert any(str(n).startswith(f"{value} ") for n in named(p)), (text, got)
            continue
        if name == "name":
            # "reading lamp" may come as name "reading" + domain "lamp": the
            # resolver reads both as the same device.
            assert value in named(p), (text, got)
            continue
        assert got.get(name) == value, (text, got)
    for s in p.slots:
        assert text[s.start : s.end] == s.text or p.text[s.start : s.end] == s.text


@pytest.mark.parametrize(
    "text",
    [
        "the den looks great",
        "she turned off the tv at nine",
        "what's the weather like tomorrow",
        "set a timer for ten minutes",
        "tell me a joke",
        "I love the new lamp in the kitchen",
        "how do I fix a flickering light",
        "blah blah blah",
        "asdf qwerty zxcv",
        "who won the football last night",
        "add milk to the shopping list",
        "i had a coffee this morning",
    ],
)
def test_chatter_is_not_recognised(model: NluModel, text: str) -> None:
    p = model.parse(text)
    assert p.intent is None, (text, p.best_guess, p.confidence)
    assert p.slots == ()


def test_confidence_means_something(model: NluModel) -> None:
    sure = model.parse("turn off the kitchen lights").confidence
    assert sure > 0.9
    assert model.parse("the den looks great").best_guess == "OutOfScope"
