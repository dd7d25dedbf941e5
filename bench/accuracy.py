"""Accuracy of the shipped model on the public sets in ../shared/bench-data.

    python bench/accuracy.py [--model DIR] [--data ../shared/bench-data] [--limit N]

Through the library behind `edged eval` (edged/eval.py), so these are the
numbers the CLI prints:
  - ha-intents-en/test.jsonl and test_subdirs.jsonl: Home Assistant's own
    test sentences, restricted to the intents edged has;
  - slurp/iot_test.jsonl with the `slurp-iot` intent map;
  - false accepts (a non-device sentence parsed to any intent) on
    slurp/test.jsonl rows of the non-device scenarios, and on snips/test.jsonl
    (music, weather, restaurants, books, films: none is a device command).
Evaluation only: nothing here is ever used for training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "bench-data"

SCORED = (
    # name, file, intent map
    ("ha-intents-en/test", "ha-intents-en/test.jsonl", None),
    ("ha-intents-en/test_subdirs", "ha-intents-en/test_subdirs.jsonl", None),
    ("slurp/iot_test", "slurp/iot_test.jsonl", "slurp-iot"),
)
REJECTED = (
    # name, file, only rows whose intent starts with one of these scenarios (None: all)
    ("slurp/test non-device", "slurp/test.jsonl", "slurp-non-device"),
    ("snips/test", "snips/test.jsonl", None),
)


def _brief(m: dict[str, Any], slots_comparable: bool = True) -> dict[str, Any]:
    return {
        "n": m["n"],
        "skipped": m.get("skipped", 0),
        "intent_accuracy": round(m["intent_accuracy"], 4),
        # SLURP's slot names (device_type, house_place, ...) are not edged's,
        # so no gold slot is scored and F1 / frame accuracy would be noise.
        "slot_f1": round(m["slot_f1"], 4) if slots_comparable else None,
        "frame_accuracy": round(m["frame_accuracy"], 4) if slots_comparable else None,
        "confusions": m["confusions"][:5],
    }


def evaluate(model: Any, data: Path = DEFAULT_DATA, limit: int | None = None) -> dict[str, Any]:
    """{"sets": {name: metrics}, "false_accepts": {name: metrics}} or a note when absent."""
    from edged.eval import (
        INTENT_MAPS,
        SLURP_NON_DEVICE_SCENARIOS,
        evaluate_rows,
        false_accepts,
        read_rows,
    )

    if not data.is_dir():
        return {"note": f"{data} not found: public-set accuracy skipped"}
    out: dict[str, Any] = {"data": str(data), "sets": {}, "false_accepts": {}, "missing": []}
    for name, rel, map_name in SCORED:
        path = data / rel
        if not path.is_file():
            out["missing"].append(rel)
            continue
        rows = read_rows(path)[:limit]
        m = evaluate_rows(model, rows, INTENT_MAPS[map_name] if map_name else None)
        comparable = not name.startswith("slurp")
        out["sets"][name] = {**_brief(m, comparable), "map": map_name}
    for name, rel, which in REJECTED:
        path = data / rel
        if not path.is_file():
            out["missing"].append(rel)
            continue
        rows = read_rows(path)
        if which == "slurp-non-device":
            wanted = tuple(s + "_" for s in SLURP_NON_DEVICE_SCENARIOS)
            rows = [r for r in rows if r.intent.startswith(wanted)]
        rows = rows[:limit]
        fa = false_accepts(model, rows)
        out["false_accepts"][name] = {
            "n": fa["n"],
            "false_accepts": fa["false_accepts"],
            "false_accept_rate": round(fa["false_accept_rate"], 4),
            "device_commands": fa["device_commands"],
            "device_command_rate": round(fa["device_command_rate"], 4),
            "examples": fa["examples"][:5],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    from edged.nlu.model import NluModel

    print(json.dumps(evaluate(NluModel(args.model), args.data, args.limit), indent=2))


if __name__ == "__main__":
    main()
