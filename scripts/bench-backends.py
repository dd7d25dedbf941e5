#!/usr/bin/env python3
"""Latency of the NLU backends on one model directory, batch 1, one thread.

    .venv/bin/python scripts/bench-backends.py [--model models/edged-nlu] [--threads 1] [--runs 2000]

For each backend that can load (onnxruntime; tflite when model.tflite and
ai-edge-litert are there): p50/p99 of the inference call alone and of the
whole `NluModel.parse` (tokenize + infer + decode), over a fixed set of
utterances of 3 to 20 words, in rounds so every backend sees the same load.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edged.nlu.model import ModelLoadError, NluModel

UTTERANCES = (
    "lights on",
    "turn on the kitchen light",
    "set the bedroom light to 40 percent",
    "what's the temperature in the living room",
    "could you please close the blinds in the bedroom and the office",
    "set the thermostat in the upstairs hallway to twenty one degrees please",
    "hey can you dim the lights in the living room to about thirty percent for the movie",
    "pause the music",
)


def percentiles(samples: list[float]) -> str:
    a = np.asarray(samples)
    return f"p50 {np.percentile(a, 50):6.2f} ms  p99 {np.percentile(a, 99):6.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/edged-nlu"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--backends", nargs="+", default=["onnxruntime", "tflite"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models: dict[str, NluModel] = {}
    for name in args.backends:
        try:
            models[name] = NluModel(args.model, threads=args.threads, backend=name)
        except ModelLoadError as e:
            print(f"{name}: skipped ({e})")
    infer: dict[str, list[float]] = {n: [] for n in models}
    parse: dict[str, list[float]] = {n: [] for n in models}
    encoded = [
        np.asarray([next(iter(models.values())).tokenizer.encode(u).ids], dtype=np.int64)
        for u in UTTERANCES
    ]
    for model in models.values():  # warm up: first calls allocate
        for u in UTTERANCES:
            model.parse(u)
    for i in range(args.runs):
        ids = encoded[i % len(encoded)]
        mask = np.ones_like(ids)
        for name, model in models.items():
            t0 = time.perf_counter()
            model.backend.run(ids, mask)
            infer[name].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            model.parse(UTTERANCES[i % len(UTTERANCES)])
            parse[name].append((time.perf_counter() - t0) * 1e3)
    tokens = [e.shape[1] for e in encoded]
    print(
        f"model {args.model}, threads {args.threads}, {args.runs} runs, {min(tokens)}-{max(tokens)} tokens"
    )
    for name in models:
        backend = models[name].backend
        shape = getattr(backend, "fixed_tokens", None)
        note = f" (padded to {shape})" if shape else ""
        print(
            f"{name:12s} infer {percentiles(infer[name])}   parse {percentiles(parse[name])}{note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
