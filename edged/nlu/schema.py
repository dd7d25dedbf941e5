"""The intents and slots edged understands.

Home Assistant's intent and slot names where Home Assistant has one, so hub
users recognise them; `Edged*` names for the relative changes Home Assistant
has no intent for. `OutOfScope` is a trained class: chatter, questions, and
requests for things edged does not control.
"""

from __future__ import annotations

OUT_OF_SCOPE = "OutOfScope"

INTENTS: tuple[str, ...] = (
    OUT_OF_SCOPE,
    "HassTurnOn",
    "HassTurnOff",
    "HassToggle",
    "HassLightSet",
    "EdgedLightBrighten",
    "EdgedLightDim",
    "HassClimateSetTemperature",
    "HassClimateGetTemperature",
    "HassSetPosition",
    "HassGetState",
    "HassMediaPause",
    "HassMediaUnpause",
    "HassMediaNext",
    "HassMediaPrevious",
    "HassSetVolume",
    "EdgedVolumeUp",
    "EdgedVolumeDown",
    "HassVacuumStart",
    "HassVacuumReturnToBase",
    "HassFanSetSpeed",
    "HassNevermind",
    # Issue 21: mute/unmute (Home Assistant's names) and relative heating
    # (an optional `temperature` slot is the step: "up by 2 degrees").
    "HassMediaPlayerMute",
    "HassMediaPlayerUnmute",
    "EdgedTemperatureUp",
    "EdgedTemperatureDown",
)

SLOTS: tuple[str, ...] = (
    "name",
    "area",
    "floor",
    "domain",
    "device_class",
    "brightness",
    "color",
    "temperature",
    "position",
    "volume_level",
    "volume_step",
    "percentage",
    "state",
)


def bio_labels(slots: tuple[str, ...] = SLOTS) -> list[str]:
    labels = ["O"]
    for s in slots:
        labels += [f"B-{s}", f"I-{s}"]
    return labels
