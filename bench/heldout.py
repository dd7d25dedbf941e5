"""The held-out phrasing set (tests/heldout/): commands and remarks written
by hand before the training change of issue 21, never trained on nor used to
choose a model.

    python bench/heldout.py [--model DIR] [--floor 0.6] [--json]

Commands: right intent (one of the row's `accept` intents; a few complaints
such as "too dark in here" may be read as brighten or turn on), and right
frame (intent and the scored slots, as `edged eval` scores them). Remarks:
how many get a device intent (one that moves something) at or above the
confidence floor, i.e. would act. Per family too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HELDOUT = REPO / "tests" / "heldout"


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score(
    model: Any, commands: list[dict[str, Any]], remarks: list[dict[str, Any]]
) -> dict[str, Any]:
    from edged.eval import (
        NON_ACTING_INTENTS,
        Row,
        _device_equivalents,
        gold_slots,
        pred_slots,
        score_slots,
    )

    slot_names = getattr(getattr(model, "info", None), "slots", None)
    fams: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    errors = []
    right = frames = 0
    for r in commands:
        parse = model.parse(r["text"])
        ok = (parse.intent or "OutOfScope") in r["accept"]
        row = Row(r["text"], r["intent"], r["slots"])
        g = gold_slots(row, slot_names)
        p = pred_slots(parse, slot_names)
        tp, n_pred, n_gold = score_slots(g, p, _device_equivalents(parse))
        frame = ok and tp == n_gold == n_pred
        right += ok
        frames += frame
        f = fams[r["family"]]
        f[0] += 1
        f[1] += ok
        f[2] += frame
        if not frame:
            errors.append(
                {
                    "text": r["text"],
                    "gold": r["accept"],
                    "pred": parse.intent or f"({parse.best_guess})",
                    "confidence": round(parse.confidence, 3),
                    "gold_slots": sorted(map(str, g)),
                    "pred_slots": sorted(map(str, p)),
                }
            )
    acted = []
    for r in remarks:
        parse = model.parse(r["text"])
        if parse.intent is not None and parse.intent not in NON_ACTING_INTENTS:
            acted.append(
                {"text": r["text"], "pred": parse.intent, "confidence": round(parse.confidence, 3)}
            )
        f = fams["remark: " + r["family"]]
        f[0] += 1
        f[1] += parse.intent is None or parse.intent in NON_ACTING_INTENTS
    n = len(commands)
    return {
        "floor": model.confidence_floor,
        "commands": n,
        "commands_intent_right": right / n if n else 0.0,
        "commands_frame_right": frames / n if n else 0.0,
        "remarks": len(remarks),
        "remarks_acted": len(acted),
        "remarks_acted_rate": len(acted) / len(remarks) if remarks else 0.0,
        "families": {k: {"n": v[0], "right": v[1], "frame": v[2]} for k, v in fams.items()},
        "command_errors": errors,
        "remarks_acted_examples": sorted(acted, key=lambda e: -e["confidence"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--floor", type=float, default=0.6, help="confidence floor (daemon: 0.6)")
    ap.add_argument("--dir", type=Path, default=HELDOUT)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from edged.nlu.model import NluModel

    model = NluModel(args.model, threads=1, confidence_floor=args.floor)
    m = score(model, load(args.dir / "commands.jsonl"), load(args.dir / "remarks.jsonl"))
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(
        f"commands {m['commands']}: intent right {m['commands_intent_right']:.2%}, "
        f"frame right {m['commands_frame_right']:.2%}"
    )
    print(
        f"remarks {m['remarks']}: acted on (device intent >= floor {m['floor']}) "
        f"{m['remarks_acted']} ({m['remarks_acted_rate']:.2%})"
    )
    for fam, v in m["families"].items():
        print(f"  {fam:45s} {v['right']:3d}/{v['n']:3d}")
    print("command errors:")
    for e in m["command_errors"][:40]:
        print(f"  [{'/'.join(e['gold'])} -> {e['pred']} {e['confidence']}] {e['text']}")
    print("remarks acted on:")
    for e in m["remarks_acted_examples"][:30]:
        print(f"  [{e['pred']} {e['confidence']}] {e['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
