"""The gazetteer: the home's own names found in an utterance."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from edged.config import load_config
from edged.home.gazetteer import Gazetteer, tokens
from edged.home.registry import Area, Device, Home

PLAIN = Path(__file__).resolve().parent / "homes" / "plain_home.yaml"


@pytest.fixture(scope="module")
def plain() -> Home:
    return Home.from_config(load_config(PLAIN))


def found(home: Home, text: str) -> list[tuple[str, dict[str, tuple[str, ...]]]]:
    return [(s.text, dict(s.roles)) for s in home.gazetteer.find(text)]


def test_built_once_with_the_home(plain: Home) -> None:
    assert isinstance(plain.gazetteer, Gazetteer)
    assert {"desk", "lamp", "kettle", "kitchen", "upstair"} <= plain.gazetteer.vocabulary


@pytest.mark.parametrize(
    ("text", "span", "device"),
    [
        ("turn off the desk lamp", "desk lamp", "desk_lamp"),  # not desk + lamp
        ("desk fan off", "desk fan", "desk_fan"),
        ("kitchen lights on", "kitchen lights", "kitchen_light"),  # plural folded
        ("power on the computer", "computer", "computer"),
        ("switch off the aquarium", "aquarium", "aquarium"),
        ("turn on bob", "bob", "bob"),
        ("put the kettle on", "kettle", "kettle"),
        ("turn on the bedroom ceiling light", "bedroom ceiling light", "ceiling_light"),
        ("turn on the television", "television", "tv"),  # an alias
        # recogniser errors: spelling, phonetic key, voiced/voiceless twins
        ("turn on the gardin light", "gardin light", "garden_light"),
        ("turn on the kitchen lite", "kitchen lite", "kitchen_light"),
        ("turn off the floor lamb", "floor lamb", "floor_lamp"),
        ("turn on the cettle", "cettle", "kettle"),  # same first sound
        ("turn on the aquarim", "aquarim", "aquarium"),
    ],
)
def test_device_names(plain: Home, text: str, span: str, device: str) -> None:
    assert found(plain, text) == [(span, {"device": (device,)})]


def test_places(plain: Home) -> None:
    assert found(plain, "turn off the lights in the kitchen") == [
        ("kitchen", {"area": ("kitchen",)})
    ]
    assert found(plain, "lights off in the lounge") == [("lounge", {"area": ("living_room",)})]
    assert found(plain, "turn on the lights upstairs") == [("upstairs", {"floor": ("upstairs",)})]


def test_near_homophones_and_verbs_are_not_names(plain: Home) -> None:
    # garage/garden: the Garden Light is never the garage (an area here).
    assert found(plain, "turn on the garage light") == [("garage", {"area": ("garage",)})]
    # "shut" shares the study's phonetic key; a command word is never a misheard name.
    assert found(plain, "shut the garage door") == [("garage door", {"device": ("garage_door",)})]
    # One word spelt like a name that does not start with its sound, or a
    # short word, is no name: nothing else in the span anchors it.
    assert found(plain, "turn on the theater") == []
    assert found(plain, "turn on the room") == []
    assert found(plain, "the box is here") == []
    assert found(plain, "lock screen wallpaper ideas") == []


def test_longest_name_wins_and_spans_do_not_overlap(plain: Home) -> None:
    spans = plain.gazetteer.find("turn off the kitchen radio and the desk lamp")
    assert [(s.text, s.devices) for s in spans] == [
        ("kitchen radio", ("kitchen_radio",)),
        ("desk lamp", ("desk_lamp",)),
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert spans[0].exact and spans[0].n_words == 2


def test_shared_names_keep_every_id() -> None:
    home = Home(
        [
            Device("a", "Lamp", "light", "zigbee2mqtt", area="den"),
            Device("b", "Lamp", "light", "zigbee2mqtt", area="hall"),
        ],
        [Area("den", "Den"), Area("hall", "Hall")],
    )
    (span,) = home.gazetteer.find("turn on the lamp")
    assert span.devices == ("a", "b")
    (span,) = home.gazetteer.find("turn on the den lamp")
    assert span.devices == ("a",)


def test_compounds_said_apart_or_together() -> None:
    home = Home(
        [
            Device("nl", "Nightlight", "light", "zigbee2mqtt"),
            Device("tank", "Fish Tank", "switch", "tasmota"),
            Device("tv", "TV", "media_player", "template"),
        ],
        [],
    )
    for text, span, device in (
        ("turn on the night light", "night light", "nl"),
        ("the fishtank off", "fishtank", "tank"),
        ("pause the t v", "t v", "tv"),
    ):
        (found_span,) = home.gazetteer.find(text)
        assert (found_span.text, found_span.devices) == (span, (device,)), text


def test_tokens_keep_offsets_and_drop_stopwords() -> None:
    toks = tokens("Turn on THE Kitchen's lights")
    assert [(t.word, t.start, t.end) for t in toks] == [
        ("turn", 0, 4),
        ("on", 5, 7),
        ("kitchen", 12, 21),
        ("light", 22, 28),
    ]
