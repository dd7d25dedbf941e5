"""resolve_targets with devices' reported state: relative heating, volume
steps, mute, media commands that name no player, and questions."""

from __future__ import annotations

from typing import Any

import pytest

from edged.config import parse_config
from edged.home.registry import Home
from edged.home.resolve import Action, Resolution, SiteContext, resolve_targets
from edged.home.state import StateStore, StateView
from edged.nlu.types import Parse, Slot

HOME = """
areas:
  - {id: living_room, name: Living Room}
  - {id: bedroom, name: Bedroom}
  - {id: kitchen, name: Kitchen}
  - {id: office, name: Office}
  - {id: garden, name: Garden}
devices:
  - id: bedroom_trv
    name: Bedroom Thermostat
    area: bedroom
    kind: climate
    protocol: zigbee2mqtt
    topic: zigbee2mqtt/Bedroom TRV
    temperature_step: 0.5
    options: {min_temp: 10, max_temp: 25}
  - id: living_climate
    name: Living Room Radiator
    area: living_room
    kind: climate
    protocol: homeassistant
    command_topics: {temperature: home/living/temp/set}
    state_topics: {temperature: home/living/temp/state}
  - {id: bedroom_light, name: Bedroom Light, area: bedroom, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Bedroom Light}
  - id: tv
    name: TV
    area: living_room
    kind: media_player
    protocol: homeassistant
    command_topics: {command: home/tv/cmd, volume: home/tv/volume}
    state_topic: home/tv/state
  - id: living_speaker
    name: Living Room Speaker
    area: living_room
    kind: media_player
    protocol: template
    state_topic: snap/living/status
    template: {topic: "snap/{device_id}/control", payload: '{"op": "{op}", "step": "{step}"}'}
  - id: bedroom_speaker
    name: Bedroom Speaker
    area: bedroom
    kind: media_player
    protocol: template
    state_topic: snap/bedroom/status
    template: {topic: "snap/{device_id}/control", payload: '{"op": "{op}", "step": "{step}"}'}
  - id: outdoor
    name: Outdoor Temperature
    area: garden
    kind: sensor
    device_class: temperature
    protocol: template
    state_topic: weather/station
    state_path: temp
"""


@pytest.fixture(scope="module")
def home() -> Home:
    return Home.from_config(parse_config(HOME))


def parse(intent: str, text: str, **slots: Any) -> Parse:
    """slots: name=(spoken text, value); the text must contain the spoken words."""
    built = []
    for name, (spoken, value) in slots.items():
        start = text.index(spoken)
        built.append(Slot(name, spoken, start, start + len(spoken), value))
    return Parse(text, intent, 0.97, tuple(built))


def reported(home: Home, **reports: Any) -> StateView:
    """A snapshot after each topic=payload report (topics with '/' as '__')."""
    store = StateStore(home)
    for topic, payload in reports.items():
        store.feed(topic.replace("__", "/"), str(payload).encode(), mono=1.0, wall=1.0)
    return store.snapshot()


def run(
    home: Home, p: Parse, state: StateView | None = None, site: str | None = None
) -> Resolution:
    return resolve_targets(
        p, home, site, SiteContext(ttl_s=120), now=1000.0, **({"state": state} if state else {})
    )


TRV_AT_20 = {"zigbee2mqtt__Bedroom TRV": '{"occupied_heating_setpoint": 20}'}


# --- relative heating ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "text", "slots", "step", "target"),
    [
        ("EdgedTemperatureUp", "warm up the bedroom", {"area": ("bedroom", "bedroom")}, 0.5, 20.5),
        (
            "EdgedTemperatureDown",
            "turn the bedroom heating down",
            {"area": ("bedroom", "bedroom"), "domain": ("heating", "climate")},
            -0.5,
            19.5,
        ),
        (
            "EdgedTemperatureUp",
            "turn the bedroom thermostat up by 2 degrees",
            {"name": ("bedroom thermostat", "bedroom thermostat"), "temperature": ("2", 2.0)},
            2.0,
            22.0,
        ),
        # The NLU files "turn the heating up" under brightening or volume;
        # said of a thermostat it moves the setpoint.
        (
            "EdgedLightBrighten",
            "turn up the heating in the bedroom",
            {"domain": ("heating", "climate"), "area": ("bedroom", "bedroom")},
            0.5,
            20.5,
        ),
        (
            "EdgedVolumeDown",
            "turn the bedroom heating down",
            {"name": ("bedroom heating", "bedroom heating")},
            -0.5,
            19.5,
        ),
    ],
)
def test_relative_heating_steps_from_the_reported_setpoint(
    home: Home, intent: str, text: str, slots: dict[str, Any], step: float, target: float
) -> None:
    r = run(home, parse(intent, text, **slots), reported(home, **TRV_AT_20))
    assert r.ok, r.error
    assert r.actions == [
        Action("bedroom_trv", "temperature_step", {"step": step, "temperature": target})
    ]


def test_relative_heating_default_step_is_one_degree(home: Home) -> None:
    state = reported(home, home__living__temp__state="19")
    r = run(
        home,
        parse(
            "EdgedTemperatureUp", "make the living room warmer", area=("living room", "living room")
        ),
        state,
    )
    assert r.actions == [
        Action("living_climate", "temperature_step", {"step": 1.0, "temperature": 20.0})
    ]


def test_relative_heating_without_a_known_setpoint_says_so(home: Home) -> None:
    r = run(home, parse("EdgedTemperatureUp", "warm up the bedroom", area=("bedroom", "bedroom")))
    assert r.actions == [] and r.reason == "invalid_value"
    assert r.error == "I don't know what the Bedroom Thermostat is set to"
    # A report that says nothing about the setpoint is no help either.
    state = reported(home, **{"zigbee2mqtt__Bedroom TRV": '{"local_temperature": 18}'})
    r = run(
        home, parse("EdgedTemperatureUp", "warm up the bedroom", area=("bedroom", "bedroom")), state
    )
    assert r.error == "I don't know what the Bedroom Thermostat is set to"


def test_relative_heating_stops_at_the_range(home: Home) -> None:
    near_top = reported(home, **{"zigbee2mqtt__Bedroom TRV": '{"occupied_heating_setpoint": 24}'})
    p = parse(
        "EdgedTemperatureUp",
        "bedroom warmer by 3 degrees",
        area=("bedroom", "bedroom"),
        temperature=("3", 3.0),
    )
    assert run(home, p, near_top).actions[0].params == {"step": 3.0, "temperature": 25.0}
    at_top = reported(home, **{"zigbee2mqtt__Bedroom TRV": '{"occupied_heating_setpoint": 25}'})
    r = run(home, p, at_top)
    assert r.actions == [] and "already at 25 degrees, its highest" in (r.error or "")
    # Set beyond the range by other means: "warmer" does not bring it down.
    above = reported(home, **{"zigbee2mqtt__Bedroom TRV": '{"occupied_heating_setpoint": 27}'})
    r = run(home, p, above)
    assert r.actions == [] and "already at 27 degrees, its highest" in (r.error or "")
    # Small steps are kept as they are.
    small = reported(home, **{"zigbee2mqtt__Bedroom TRV": '{"occupied_heating_setpoint": 20.1}'})
    p = parse(
        "EdgedTemperatureUp",
        "bedroom warmer by 0.2 degrees",
        area=("bedroom", "bedroom"),
        temperature=("0.2", 0.2),
    )
    assert run(home, p, small).actions[0].params == {"step": 0.2, "temperature": 20.3}


def test_relative_heating_never_moves_a_light(home: Home) -> None:
    # The light in the bedroom is no target for a climate intent.
    r = run(
        home,
        parse("EdgedTemperatureUp", "warm up the bedroom", area=("bedroom", "bedroom")),
        reported(home, **TRV_AT_20),
    )
    assert [a.device_id for a in r.actions] == ["bedroom_trv"]
    r = run(
        home,
        parse(
            "EdgedTemperatureUp",
            "warm up the bedroom light",
            name=("bedroom light", "bedroom light"),
        ),
        reported(home, **TRV_AT_20),
    )
    assert r.actions == [] and r.reason == "incapable"


@pytest.mark.parametrize("word", ["heat", "heating", "radiator", "AC", "thermostat"])
def test_climate_kind_words(home: Home, word: str) -> None:
    # "<area> <word>" heard as one name: a group of that area's thermostats.
    p = parse(
        "EdgedTemperatureDown", f"bedroom {word} down", name=(f"bedroom {word}", f"bedroom {word}")
    )
    r = run(home, p, reported(home, **TRV_AT_20))
    assert r.ok, r.error
    assert [a.device_id for a in r.actions] == ["bedroom_trv"]


# --- volume ------------------------------------------------------------------------


@pytest.mark.parametrize("step", [("up", None), ("up", "up"), ("a bit", None)])
def test_volume_step_without_a_number_is_the_default(home: Home, step: tuple[str, Any]) -> None:
    p = parse(
        "EdgedVolumeUp",
        f"crank {step[0]} the bedroom speaker",
        name=("bedroom speaker", "bedroom speaker"),
        volume_step=step,
    )
    r = run(home, p)
    assert r.ok, r.error
    assert r.actions == [Action("bedroom_speaker", "volume", {"step": 10})]


def test_a_numeric_volume_step_is_kept(home: Home) -> None:
    p = parse(
        "EdgedVolumeDown",
        "bedroom speaker down by 25",
        name=("bedroom speaker", "bedroom speaker"),
        volume_step=("25", 25),
    )
    assert run(home, p).actions == [Action("bedroom_speaker", "volume", {"step": -25})]


def test_a_known_volume_is_filled_in_beside_the_step(home: Home) -> None:
    p = parse(
        "EdgedVolumeUp",
        "turn up the bedroom speaker",
        name=("bedroom speaker", "bedroom speaker"),
    )
    state = reported(home, snap__bedroom__status='{"state": "playing", "volume": 42}')
    assert run(home, p, state).actions == [
        Action("bedroom_speaker", "volume", {"step": 10, "volume": 52})
    ]


def test_absolute_only_volume_is_computed_from_state(home: Home) -> None:
    p = parse("EdgedVolumeUp", "turn up the tv", domain=("tv", "media_player"))
    r = run(home, p)
    assert r.actions == [] and r.error == (
        "I don't know the volume of the TV, so I can't turn it up or down"
    )
    r = run(home, p, reported(home, home__tv__state='{"state": "playing", "volume": 95}'))
    assert r.actions == [Action("tv", "volume", {"step": 10, "volume": 100})]


# --- mute and media commands that name no player -----------------------------------


@pytest.mark.parametrize(
    ("intent", "op"), [("HassMediaPlayerMute", "mute"), ("HassMediaPlayerUnmute", "unmute")]
)
def test_mute_and_unmute(home: Home, intent: str, op: str) -> None:
    r = run(home, parse(intent, "mute the tv", domain=("tv", "media_player")))
    assert r.actions == [Action("tv", op, {})]


def test_mute_the_speaker_is_the_speaker_here(home: Home) -> None:
    p = parse("HassMediaPlayerMute", "mute the speaker", domain=("speaker", "media_player"))
    assert run(home, p, site="living_room").actions == [Action("living_speaker", "mute", {})]
    assert run(home, p, site="bedroom").actions == [Action("bedroom_speaker", "mute", {})]
    # Nowhere in particular, nothing playing: which speaker?
    r = run(home, p)
    assert r.reason == "ambiguous" and r.actions == []


MEDIA = [
    "HassMediaPause",
    "HassMediaNext",
    "HassMediaPrevious",
    "EdgedVolumeUp",
    "HassMediaPlayerMute",
    "HassMediaPlayerUnmute",
]


@pytest.mark.parametrize("intent", MEDIA)
def test_no_player_named_the_only_one_in_the_site_area(home: Home, intent: str) -> None:
    r = run(home, parse(intent, "do it to the music"), site="bedroom")
    assert [a.device_id for a in r.actions] == ["bedroom_speaker"]


@pytest.mark.parametrize("intent", MEDIA)
def test_no_player_named_the_one_playing(home: Home, intent: str) -> None:
    # Two players in the living room: the one playing; never both.
    state = reported(
        home,
        home__tv__state="idle",
        snap__living__status="playing",
        snap__bedroom__status="playing",
    )
    r = run(home, parse(intent, "do it to the music"), state, site="living_room")
    assert [a.device_id for a in r.actions] == ["living_speaker"]
    # Said nowhere in particular: two play, so it asks.
    r = run(home, parse(intent, "do it to the music"), state)
    assert r.reason == "ambiguous" and r.actions == []
    # ... until only one plays.
    state = reported(home, snap__bedroom__status="playing", snap__living__status="paused")
    r = run(home, parse(intent, "do it to the music"), state, site="kitchen")
    assert [a.device_id for a in r.actions] == ["bedroom_speaker"]


def test_no_player_named_and_none_playing_asks(home: Home) -> None:
    r = run(home, parse("HassMediaPause", "pause the music"), site="living_room")
    assert r.reason == "ambiguous" and r.actions == []
    assert r.error == "which one in the Living Room: the TV or the Living Room Speaker?"


def test_a_bare_follow_up_goes_to_the_player_just_touched(home: Home) -> None:
    # "a bit louder" right after the speaker was switched: that speaker, not
    # "which one?" between two idle players; a kind word chooses anew.
    context = SiteContext(ttl_s=120)
    context.remember("living_room", ["living_speaker"], 990.0)
    louder = parse("EdgedVolumeUp", "a bit louder")
    r = resolve_targets(louder, home, "living_room", context, now=1000.0)
    assert [a.device_id for a in r.actions] == ["living_speaker"]
    # The last thing touched was a light: a bare media command does not go there.
    context.remember("living_room", ["bedroom_light"], 995.0)
    r = resolve_targets(louder, home, "living_room", context, now=1000.0)
    assert r.reason == "ambiguous" and r.actions == []
    context.remember("living_room", ["living_speaker"], 996.0)
    tv = parse("HassMediaPause", "pause the tv", name=("tv", "tv"))
    r = resolve_targets(tv, home, "living_room", context, now=1000.0)
    assert [a.device_id for a in r.actions] == ["tv"]


def test_resume_goes_to_the_paused_player(home: Home) -> None:
    state = reported(home, home__tv__state="playing", snap__living__status="paused")
    r = run(home, parse("HassMediaUnpause", "resume the music"), state, site="living_room")
    assert r.actions == [Action("living_speaker", "resume", {})]


def test_an_area_said_limits_the_choice(home: Home) -> None:
    state = reported(home, snap__living__status="playing", snap__bedroom__status="playing")
    p = parse("HassMediaNext", "next song in the bedroom", area=("bedroom", "bedroom"))
    assert run(home, p, state, site="living_room").actions == [
        Action("bedroom_speaker", "next", {})
    ]
    p = parse("HassMediaNext", "next song in the kitchen", area=("kitchen", "kitchen"))
    assert run(home, p, state).reason == "no_target"


def test_all_players_and_named_players_are_not_chosen_for(home: Home) -> None:
    p = parse("HassMediaPause", "pause all the speakers", domain=("speakers", "media_player"))
    r = run(home, p, site="living_room")
    assert {a.device_id for a in r.actions} == {"living_speaker", "bedroom_speaker", "tv"}
    p = parse(
        "HassMediaPause", "pause the bedroom speaker", name=("bedroom speaker", "bedroom speaker")
    )
    assert run(home, p, site="living_room").actions == [Action("bedroom_speaker", "pause", {})]


# --- questions ---------------------------------------------------------------------


def test_a_question_about_a_device_heard_as_an_area(home: Home) -> None:
    p = parse(
        "HassClimateGetTemperature", "what is the outdoor temperature", area=("outdoor", "outdoor")
    )
    assert run(home, p).actions == [Action("outdoor", "query", {})]
    # Only questions: a command with an unknown area still fails.
    p = parse("HassTurnOn", "turn on the outdoor", area=("outdoor", "outdoor"))
    r = run(home, p)
    assert r.actions == [] and r.reason == "unknown_area"


# --- groups and what is already so ---------------------------------------------------


def test_turn_off_everything_leaves_what_is_off_alone(home: Home) -> None:
    p = parse("HassTurnOff", "turn off everything that's on")
    every = {a.device_id for a in run(home, p).actions}
    assert every == {"bedroom_light", "tv", "living_speaker", "bedroom_speaker"}
    state = reported(
        home,
        **{"zigbee2mqtt__Bedroom Light": '{"state": "OFF"}'},
        home__tv__state="off",
        snap__living__status="playing",
    )
    # What reported "off" is left alone; what is unknown or on is turned off.
    assert {a.device_id for a in run(home, p, state).actions} == {
        "living_speaker",
        "bedroom_speaker",
    }
    state = reported(
        home,
        **{"zigbee2mqtt__Bedroom Light": '{"state": "OFF"}'},
        home__tv__state="off",
        snap__living__status="off",
        snap__bedroom__status="off",
    )
    r = run(home, p, state)
    assert r.actions == [] and r.error == "everything is already off"
    # One device named: its command always goes, whatever it last said.
    p = parse("HassTurnOff", "turn off the bedroom light", name=("bedroom light", "bedroom light"))
    assert run(home, p, state).actions == [Action("bedroom_light", "off", {})]
