"""Does the model read a plain on/off command by its verb frame, whatever the
device is called? Parses "turn off the {noun}" and three other frames for
nouns homes name devices by, and prints intent and confidence per noun.

    python bench/noun_probe.py [--model DIR]

A model that learnt names by their nouns prints OOS for "computer", "oven" or
"alarm" (issue 21's retrained runs did); the home, not the model, decides
whether a noun is a device.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edged.nlu.model import NluModel

NOUNS = [
    "lamp",
    "computer",
    "printer",
    "kettle",
    "dishwasher",
    "tv",
    "radio",
    "alarm",
    "heater",
    "fan",
    "aquarium",
    "monitor",
    "router",
    "washing_machine",
    "oven",
    "toaster",
    "xbox",
    "console",
    "projector",
    "fridge",
    "bob",
    "stereo",
    "speaker",
    "laptop",
    "pc",
]
FRAMES = ("turn off the {}", "turn on the {}", "{} off", "switch the {} on")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", type=Path, default=Path(__file__).parent.parent / "models" / "edged-nlu"
    )
    args = ap.parse_args()
    model = NluModel(args.model, confidence_floor=0.0)
    for frame in FRAMES:
        cells = []
        oos = 0
        for noun in NOUNS:
            p = model.parse(frame.format(noun.replace("_", " ")))
            intent = p.intent or "OOS"
            oos += intent == "OOS"
            cells.append(f"{noun}:{intent.removeprefix('Hass')}:{p.confidence:.2f}")
        print(f"{frame!r}: out of scope for {oos}/{len(NOUNS)}")
        print("   " + " ".join(cells))


if __name__ == "__main__":
    main()
