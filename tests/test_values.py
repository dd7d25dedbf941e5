import pytest

from edged.nlu.values import (
    domain_for,
    normalise_value,
    number_to_words,
    parse_color,
    parse_number,
    parse_percent,
    tidy,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("21", 21.0),
        ("21.5 degrees", 21.5),
        ("21,5", 21.5),
        ("twenty two point five", 22.5),
        ("twenty-two", 22.0),
        ("nineteen and a half", 19.5),
        ("zero", 0.0),
        ("one hundred", 100.0),
        ("a hundred percent", 100.0),
        ("40%", 40.0),
        ("half", 50.0),
        ("halfway", 50.0),
        ("full", 100.0),
        ("max", 100.0),
        ("um twenty one", 21.0),
        ("kitchen", None),
        ("", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_percent_is_clamped_and_rounded() -> None:
    assert parse_percent("150 percent") == 100
    assert parse_percent("33.6%") == 34
    assert parse_percent("seventy five percent") == 75


def test_colours_and_whites() -> None:
    assert parse_color("red") == {"name": "red", "rgb": [255, 0, 0]}
    assert parse_color("Warm White") == {"name": "warm white", "kelvin": 2700}
    assert parse_color("4000 kelvin") == {"name": "4000 kelvin", "kelvin": 4000}
    assert parse_color("the colour of the sky") is None


def test_domains() -> None:
    assert domain_for("lights") == "light"
    assert domain_for("the kitchen lamps") == "light"
    assert domain_for("TV") == "media_player"
    assert domain_for("toaster") is None


def test_normalise_value_dispatch() -> None:
    assert normalise_value("brightness", "thirty percent") == 30
    assert normalise_value("temperature", "twenty one") == 21.0
    assert normalise_value("area", "The Living Room") == "living room"
    assert normalise_value("name", "um the reading lamp") == "reading lamp"


def test_tidy_and_words_round_trip() -> None:
    assert tidy("  The, Kitchen!  ") == "kitchen"
    for n in (0, 7, 13, 20, 21, 99, 100, 101, 2700):
        assert parse_number(number_to_words(n)) == n
