"""Fit a model's intent temperature on held-out examples and store it.

    python -m edged.training.calibrate --model DIR --valid FILE.jsonl [--write]
    python -m edged.training.calibrate --model DIR --generated [--corpus F ...] [--exclude F ...] [--write]

`edged train` does this itself on its validation split (the generated
held-out sentences plus the corpus rows hashed into it); this command does it
for a model directory trained before, on a validation file or (`--generated`)
on the validation split `edged train` would make with the same seed, corpora
and exclusions (hashed by text, so none of its texts is in the training split
of a model trained with that seed). Never fit it on an evaluation set: the
temperature is chosen on it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edged.nlu.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
)


def logits_and_labels(model: Any, examples: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Raw intent logits of the examples the model has an intent for, and
    the index of each one's intent."""
    index = {name: i for i, name in enumerate(model.intents)}
    rows = [e for e in examples if e.intent in index]
    if not rows:
        raise ValueError("no example has an intent the model knows")
    logits = np.stack([model.intent_logits(e.text) for e in rows])
    return logits, np.asarray([index[e.intent] for e in rows], dtype=np.int64)


def calibrate(model: Any, examples: Sequence[Any]) -> dict[str, Any]:
    """The fitted temperature, with the NLL and ECE before and after it."""
    logits, labels = logits_and_labels(model, examples)
    t = fit_temperature(logits, labels)

    def measures(temp: float) -> dict[str, float]:
        p = softmax(logits, temp)
        correct = p.argmax(axis=1) == labels
        return {
            "nll": round(nll(logits, labels, temp), 4),
            "ece": round(expected_calibration_error(p.max(axis=1), correct), 4),
        }

    return {
        "n": len(labels),
        "temperature": round(t, 4),
        "before": measures(1.0),
        "after": measures(t),
    }


def write_temperature(model_dir: Path, temperature: float) -> None:
    """Store the temperature in the directory's labels.json (other keys kept)."""
    path = model_dir / "labels.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["intent_temperature"] = round(float(temperature), 4)
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from edged.nlu.model import NluModel
    from edged.training.data import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--valid", type=Path, help="held-out JSONL (never an evaluation set)")
    src.add_argument(
        "--generated", action="store_true", help="the validation split edged train makes"
    )
    ap.add_argument("--seed", type=int, default=13, help="with --generated (edged train's default)")
    ap.add_argument("--corpus", type=Path, action="append", default=[], help="with --generated")
    ap.add_argument("--exclude", type=Path, action="append", default=[], help="with --generated")
    ap.add_argument("--write", action="store_true", help="store the temperature in labels.json")
    args = ap.parse_args(argv)
    # Fitted on the raw logits, whatever temperature the directory has now.
    model = NluModel(args.model, confidence_floor=0.0)
    if args.generated:
        from edged.training.data import generate_examples, split_examples
        from edged.training.pipeline import add_corpora

        examples, _ = add_corpora(
            generate_examples(seed=args.seed), args.seed, args.corpus, args.exclude
        )
        valid = split_examples(examples)[1]
    else:
        valid = list(read_jsonl(args.valid))
    result = calibrate(model, valid)
    print(json.dumps(result, indent=2))
    if args.write:
        write_temperature(args.model, result["temperature"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
