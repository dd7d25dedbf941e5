"""Calibration of the intent confidence: expected calibration error (ECE)
and a reliability plot on evaluation sets.

    python bench/calibration.py before=DIR after=DIR [--png docs/calibration.png] [--json]

For each model, on SLURP test (every row: IoT and audio intents mapped as
`edged.training.corpora` maps them, everything else out of scope), Home
Assistant's English tests (the intents the model has) and the held-out set
of tests/heldout (commands: one of the row's `accept` intents; remarks: out
of scope; a row whose intent a model lacks is a miss for it): the top intent's probability as the daemon computes it (with the
directory's `intent_temperature`) and, where that is not 1, also at T = 1
(raw softmax). A prediction is right when the top intent is (SLURP: the
operation, as `edged eval --map slurp-iot` scores it). Evaluation only:
nothing here fits anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "bench-data"
if not DATA.is_dir():  # a git worktree one level further down
    DATA = REPO.parent.parent / "shared" / "bench-data"


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sets(data: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """name -> [(text, intents that count as right)]."""
    from edged.nlu.schema import OUT_OF_SCOPE
    from edged.training.corpora import DEVICE_INTENTS

    out: dict[str, list[tuple[str, list[str]]]] = {}
    slurp = data / "slurp" / "test.jsonl"
    if slurp.is_file():
        out["SLURP test"] = [
            (r["text"], [DEVICE_INTENTS.get(r["intent"], OUT_OF_SCOPE)]) for r in _rows(slurp)
        ]
    ha = data / "ha-intents-en" / "test.jsonl"
    if ha.is_file():
        out["HA tests"] = [(r["text"], [r["intent"]]) for r in _rows(ha)]
    held = REPO / "tests" / "heldout"
    out["held-out"] = [(r["text"], r["accept"]) for r in _rows(held / "commands.jsonl")] + [
        (r["text"], [OUT_OF_SCOPE]) for r in _rows(held / "remarks.jsonl")
    ]
    return out


_VACUUM_OPS = frozenset({"HassVacuumStart", "HassVacuumReturnToBase"})


def measure(model_dir: Path, data: dict[str, list[tuple[str, list[str]]]]) -> dict[str, Any]:
    from edged.eval import operation_of
    from edged.nlu.calibration import expected_calibration_error, reliability_bins, softmax
    from edged.nlu.model import NluModel

    model = NluModel(model_dir, confidence_floor=0.0)
    t = model.info.intent_temperature
    known = set(model.intents)
    out: dict[str, Any] = {"temperature": t, "sets": {}}
    for name, rows in data.items():
        if name == "HA tests":  # as `edged eval`: the intents edged has
            rows = [(text, ok) for text, ok in rows if set(ok) & known]
        correct, raw, scaled = [], [], []
        for text, ok in rows:
            logits = model.intent_logits(text)
            pred = model.intents[int(logits.argmax())]
            if pred in ("HassTurnOn", "HassTurnOff") and set(ok) & _VACUUM_OPS:
                pred = operation_of(model.parse(text))  # "turn on the vacuum" starts it
            correct.append(pred in ok)
            raw.append(float(softmax(logits).max()))
            scaled.append(float(softmax(logits, t).max()))
        variants = {"T=1": np.asarray(raw)}
        if t != 1.0:
            variants[f"T={t:g}"] = np.asarray(scaled)
        ok_arr = np.asarray(correct)
        out["sets"][name] = {
            "n": len(rows),
            "accuracy": round(float(ok_arr.mean()), 4),
            "ece": {
                k: round(expected_calibration_error(v, ok_arr), 4) for k, v in variants.items()
            },
            "bins": {
                k: [b.__dict__ for b in reliability_bins(v, ok_arr)] for k, v in variants.items()
            },
        }
    return out


def plot(results: dict[str, dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(results.values()))["sets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    for ax, set_name in zip(axes[0], names, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
        for model_name, res in results.items():
            s = res["sets"][set_name]
            for variant, bins in s["bins"].items():
                pts = [(b["confidence"], b["accuracy"]) for b in bins if b["n"]]
                xs, ys = zip(*pts, strict=True)
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    markersize=3,
                    label=f"{model_name} {variant} (ECE {s['ece'][variant]:.3f})",
                )
        ax.set_title(f"{set_name} (n={res['sets'][set_name]['n']})")
        ax.set_xlabel("confidence (top intent probability)")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "models", nargs="+", help="NAME=DIR, e.g. before=/tmp/old after=models/edged-nlu"
    )
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = sets(args.data)
    results = {}
    for spec in args.models:
        name, _, path = spec.partition("=")
        results[name] = measure(Path(path), data)
    if args.png:
        plot(results, args.png)
    if args.json:
        print(
            json.dumps(
                {
                    k: {
                        **v,
                        "sets": {
                            s: {x: y for x, y in d.items() if x != "bins"}
                            for s, d in v["sets"].items()
                        },
                    }
                    for k, v in results.items()
                },
                indent=2,
            )
        )
    else:
        for name, res in results.items():
            for set_name, s in res["sets"].items():
                eces = ", ".join(f"ECE {k} {v:.4f}" for k, v in s["ece"].items())
                print(f"{name:10s} {set_name:11s} n={s['n']:5d} acc {s['accuracy']:.4f}  {eces}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
