"""Device state through a real Mosquitto: `edged run` subscribes to what
devices report (retained and live, one device per protocol), answers
questions from it, steps a thermostat from its reported setpoint, and sends
media commands that name no player to the one that is playing, and only to it.

The NLU is the shipped model. Phrasings are ones it already reads; the
tests that need an intent only a retrained model has (mute, relative
heating as its own intent) run when the model in models/edged-nlu knows it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled

from tests.broker import Broker, Probe, free_port
from tests.integration.conftest import (
    MODEL,
    DaemonProcess,
    result_for,
    say,
    start_online,
    wait_quiet,
)

HOME = Path(__file__).with_name("state_home.yaml")
# Where devices take commands in state_home.yaml: nothing else may get one.
COMMAND_PREFIXES = ("home/tv/command", "home/tv/volume", "home/garage_door/set")


def _model_knows(intent: str) -> bool:
    return intent in json.loads((MODEL / "labels.json").read_text())["intents"]


# Reported before edged starts, kept by the broker: edged must learn them on subscribing.
RETAINED = [
    ("zigbee2mqtt/Kitchen Light", {"state": "ON", "brightness": 127, "linkquality": 80}),
    ("tele/coffee/STATE", {"Time": "2026-12-07T09:00:00", "POWER": "ON"}),
    ("home/garage_door/state", "open"),
    ("weather/station", {"outside": {"temp_c": -2.5}, "inside": {"temp_c": 21}}),
    ("zigbee2mqtt/Bedroom TRV", {"current_heating_setpoint": 20, "local_temperature": 18.4}),
]


def _payload(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture(scope="module")
def state_daemon(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    setup = Probe(broker.port, ("none/none",)).connect()
    for topic, value in RETAINED:
        setup.publish(topic, _payload(value), retain=True)
    setup.close()
    cfg = yaml.safe_load(HOME.read_text())
    cfg["mqtt"]["port"] = broker.port
    cfg["mqtt"]["client_id"] = f"edged-state-{broker.port}"
    # The Wyoming service beside MQTT (tests/test_wyoming.py has the protocol).
    cfg["wyoming"] = {"enabled": True, "host": "127.0.0.1", "port": free_port()}
    work = tmp_path_factory.mktemp("edged-state")
    d = start_online(broker.port, cfg, work)
    yield d
    d.stop()


def commands(probe: Probe) -> list[tuple[str, str]]:
    """Device commands seen so far (zigbee2mqtt /set and /get, the speakers'
    /control, and the configured command topics)."""
    with probe.cond:
        return [
            (m.topic, m.payload.decode())
            for m in probe.messages
            if m.topic.endswith(("/set", "/get", "/control"))
            or m.topic.startswith(COMMAND_PREFIXES)
        ]


def ask(probe: Probe, text: str, rid: str, site: str | None = None) -> dict:
    return say(probe, text, rid, site=site)


# --- questions, from retained and from live state, per protocol --------------------


@pytest.mark.parametrize(
    ("text", "device", "value", "unit", "speech"),
    [
        # zigbee2mqtt, tasmota, homeassistant, template
        ("is the kitchen light on", "kitchen_light", "on", None, "The Kitchen Light is on."),
        ("is the coffee maker on", "coffee_maker", "on", None, "The Coffee Maker is on."),
        ("is the garage door open", "garage_door", "open", None, "The Garage Door is open."),
        (
            "what is the outdoor temperature",
            "outdoor_temperature",
            -2.5,
            "°C",
            "The Outdoor Temperature is -2.5 °C.",
        ),
    ],
)
def test_questions_answered_from_retained_state(
    state_daemon: DaemonProcess,
    probe: Probe,
    text: str,
    device: str,
    value: object,
    unit: str,
    speech: str,
) -> None:
    r = ask(probe, text, f"retained-{device}")
    assert r["status"] == "executed", r
    assert (r["speech"], r["response_type"]) == (speech, "query_answer")
    assert r["state"]["device"] == device
    assert r["state"]["value"] == value and r["state"]["unit"] == unit
    assert r["state"]["age_s"] >= 0
    wait_quiet(0.2)
    assert commands(probe) == []  # answered from state: no state request


@pytest.mark.parametrize(
    ("topic", "payload", "text", "device", "value"),
    [
        (
            "zigbee2mqtt/Kitchen Light",
            '{"state": "OFF"}',
            "is the kitchen light on",
            "kitchen_light",
            "off",
        ),
        ("stat/coffee/POWER", "OFF", "is the coffee maker on", "coffee_maker", "off"),
        ("stat/coffee/RESULT", '{"POWER": "ON"}', "is the coffee maker on", "coffee_maker", "on"),
        ("home/garage_door/state", "closed", "is the garage door open", "garage_door", "closed"),
        (
            "weather/station",
            '{"outside": {"temp_c": 3.25}}',
            "what is the outdoor temperature",
            "outdoor_temperature",
            3.25,
        ),
    ],
)
def test_questions_answered_from_live_state(
    state_daemon: DaemonProcess,
    probe: Probe,
    topic: str,
    payload: str,
    text: str,
    device: str,
    value: object,
) -> None:
    probe.publish(topic, payload)
    wait_quiet(0.2)
    r = ask(probe, text, f"live-{topic}-{value}")
    assert r["status"] == "executed", r
    assert r["state"]["device"] == device and r["state"]["value"] == value
    assert r["state"]["age_s"] < 10


def test_every_result_carries_a_sentence_and_a_response_type(
    state_daemon: DaemonProcess, probe: Probe
) -> None:
    """Through the broker: an action, gibberish, a refusal-free error and a
    payload that is not even JSON each come back with something to say."""
    r = say(probe, "turn off the coffee maker", "speak-action")
    assert r["status"] == "executed", r
    assert (r["speech"], r["response_type"]) == ("Turned off the Coffee Maker.", "action_done")
    r = say(probe, "purple monkey dishwasher", "speak-gibberish")
    assert r["status"] == "not_recognized", r
    assert (r["speech"], r["response_type"]) == ("Sorry, I couldn't understand that.", "error")
    assert r["error"]  # the machine reason stays
    probe.publish("edged/utterance", '{"text": "hi", "id": "speak-bad", "ts": "soon"}')
    r = result_for(probe, "speak-bad")
    assert r["status"] == "error" and r["error"].startswith("invalid field ts"), r
    assert (r["speech"], r["response_type"]) == ("Sorry, I couldn't read that request.", "error")


def _wyoming(port: int, text: str) -> Event | None:
    async def main() -> Event | None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            ctx = {"conversation_id": "ha-1", "satellite_id": "assist_satellite.kitchen"}
            await client.write_event(Transcript(text, context=ctx, language="en").event())
            return await asyncio.wait_for(client.read_event(), timeout=10)

    return asyncio.run(main())


def test_wyoming_handle_goes_through_the_daemons_pipeline(
    state_daemon: DaemonProcess, probe: Probe
) -> None:
    """Home Assistant's way in: the command is published to the device, the
    result goes out on edged/result like any other, and the sentence comes
    back in `handled`."""
    port = state_daemon.config["wyoming"]["port"]
    event = _wyoming(port, "switch on the coffee maker")
    assert event is not None and Handled.is_type(event.type), event
    assert Handled.from_event(event).text == "Turned on the Coffee Maker."
    probe.wait_for(lambda m: m.topic == "cmnd/coffee/POWER" and m.payload == b"ON")
    r = json.loads(
        probe.wait_for(
            lambda m: m.topic == "edged/result" and b"switch on the coffee maker" in m.payload
        )[0].payload
    )
    assert r["status"] == "executed" and r["site"] == "assist_satellite.kitchen"
    assert (r["speech"], r["response_type"]) == ("Turned on the Coffee Maker.", "action_done")
    # A question, answered from state; and gibberish, refused in plain words.
    probe.publish("home/garage_door/state", "closed")
    wait_quiet(0.2)
    event = _wyoming(port, "is the garage door open")
    assert event is not None and Handled.is_type(event.type), event
    assert Handled.from_event(event).text == "The Garage Door is closed."
    event = _wyoming(port, "purple monkey dishwasher")
    assert event is not None and NotHandled.is_type(event.type), event
    assert NotHandled.from_event(event).text == "Sorry, I couldn't understand that."


def test_a_bad_state_payload_is_skipped_and_logged_once(
    state_daemon: DaemonProcess, probe: Probe
) -> None:
    probe.publish("home/garage_door/state", "open")
    for _ in range(3):
        probe.publish("weather/station", "not json at all")
        probe.publish("home/garage_door/state", b"\xff\xfe")
    wait_quiet(0.3)
    r = ask(probe, "is the garage door open", "after-bad")
    assert r["status"] == "executed" and r["state"]["value"] == "open"
    log = state_daemon.output()
    assert log.count("state of outdoor_temperature on weather/station: skipped") == 1
    assert log.count("state of garage_door on home/garage_door/state: skipped") == 1


# --- relative heating --------------------------------------------------------------


def test_relative_heating_moves_the_setpoint_by_the_step(
    state_daemon: DaemonProcess, probe: Probe
) -> None:
    # The retained report says 20; the thermostat's step is 0.5 degrees.
    r = ask(probe, "turn up the heating in the bedroom", "heat-up")
    assert r["status"] == "executed", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [
        ("zigbee2mqtt/Bedroom TRV/set", '{"current_heating_setpoint":20.5}')
    ]
    # The device reports its new setpoint; the next step starts from it.
    probe.publish("zigbee2mqtt/Bedroom TRV", '{"current_heating_setpoint": 20.5}')
    wait_quiet(0.2)
    r = ask(probe, "turn the bedroom heating down", "heat-down")
    assert r["status"] == "executed", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [
        ("zigbee2mqtt/Bedroom TRV/set", '{"current_heating_setpoint":20}')
    ]
    wait_quiet(0.2)
    assert commands(probe) == [
        ("zigbee2mqtt/Bedroom TRV/set", '{"current_heating_setpoint":20.5}'),
        ("zigbee2mqtt/Bedroom TRV/set", '{"current_heating_setpoint":20}'),
    ]


@pytest.mark.skipif(
    not _model_knows("EdgedTemperatureUp"),
    reason="the shipped model has no EdgedTemperatureUp yet (the retrained model adds it)",
)
def test_warmer_with_the_relative_heating_intent(state_daemon: DaemonProcess, probe: Probe) -> None:
    probe.publish("zigbee2mqtt/Bedroom TRV", '{"current_heating_setpoint": 19}')
    wait_quiet(0.2)
    r = ask(probe, "make the bedroom warmer", "warmer")
    assert r["intent"] == "EdgedTemperatureUp", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [
        ("zigbee2mqtt/Bedroom TRV/set", '{"current_heating_setpoint":19.5}')
    ]


# --- media: the playing player, and only it -------------------------------------------


@pytest.fixture
def speaker_playing(state_daemon: DaemonProcess, probe: Probe) -> None:
    probe.publish("home/tv/state", '{"state": "idle", "volume": 30}')
    probe.publish("snapcast/living_room_speaker/status", '{"status": "playing"}')
    probe.publish("snapcast/bedroom_speaker/status", '{"status": "playing"}')
    wait_quiet(0.2)


SPEAKER = "snapcast/living_room_speaker/control"


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("crank up the volume", '{"action": "volume", "step": "10"}'),
        ("turn the volume down", '{"action": "volume", "step": "-10"}'),
        ("pause the music", '{"action": "pause", "step": ""}'),
        ("skip this track", '{"action": "next", "step": ""}'),
    ],
)
def test_media_without_a_device_acts_on_the_playing_player_only(
    speaker_playing: None, probe: Probe, text: str, payload: str
) -> None:
    r = ask(probe, text, f"media-{text}", site="living_room")
    assert r["status"] == "executed", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [(SPEAKER, payload)]
    wait_quiet(0.3)
    # Not the TV beside it, not the bedroom speaker that is playing too.
    assert commands(probe) == [(SPEAKER, payload)]


def test_a_volume_step_on_the_tv_is_made_absolute_from_its_state(
    speaker_playing: None, probe: Probe
) -> None:
    r = ask(probe, "turn up the tv", "tv-up", site="living_room")
    assert r["status"] == "executed", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [("home/tv/volume", "40")]


@pytest.mark.skipif(
    not _model_knows("HassMediaPlayerMute"),
    reason="the shipped model has no HassMediaPlayerMute yet (the retrained model adds it)",
)
def test_mute_acts_on_the_playing_player_only(speaker_playing: None, probe: Probe) -> None:
    r = ask(probe, "mute the music", "mute", site="living_room")
    assert r["intent"] == "HassMediaPlayerMute", r
    assert [(a["topic"], a["payload"]) for a in r["actions"]] == [
        (SPEAKER, '{"action": "mute", "step": ""}')
    ]
    wait_quiet(0.3)
    assert commands(probe) == [(SPEAKER, '{"action": "mute", "step": ""}')]
