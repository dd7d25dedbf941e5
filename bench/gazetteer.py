"""What finding the home's names in an utterance costs, at 25, 100 and 300 devices.

    python bench/gazetteer.py [--sizes 25 100 300] [--runs 5]

The homes are bench/hassil_compare.py's (its 25 core devices plus filler
devices and areas); the utterances are every line of bench/utterances.jsonl
and tests/homes/plain_home_cases.jsonl (about 440, commands and chatter).
Timed: `Gazetteer.spans(text)`, the matching `find` (what the resolver calls
once per utterance) does for a text it has not seen before; `find` then
remembers the text, so a repeated command costs a dict lookup.

  cold: a new gazetteer per run, so each distinct spoken word that is not one
        of the home's own meets the vocabulary for the first time in that run
        (one rapidfuzz pass);
  warm: the same utterances again on that gazetteer, every word known (the
        daemon's steady state for new sentences made of words it has heard).

Also the one-off cost of building the gazetteer when the config loads, and
"300 diverse": 300 devices named with two words each drawn from the
tokenizer's English words (several hundred distinct name words where the
bench home has 75), the worst case for the per-word comparison.
Prints median-over-runs p50/p99 per size (bench/benchstats.summarize).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _p in (str(REPO), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from benchstats import summarize  # noqa: E402

SIZES = (25, 100, 300)


def texts() -> list[str]:
    out = []
    for path in (BENCH / "utterances.jsonl", REPO / "tests" / "homes" / "plain_home_cases.jsonl"):
        with path.open(encoding="utf-8") as f:
            out += [json.loads(line)["text"] for line in f if line.strip()]
    return out


def home_of(size: int) -> Any:
    import hassil_compare
    import yaml

    from edged.config import parse_config
    from edged.home.registry import Home

    cfg = parse_config(
        yaml.safe_dump(hassil_compare.edged_config(hassil_compare.generate_home(size)))
    )
    return Home.from_config(cfg)


def diverse_home_of(size: int, seed: int = 0) -> Any:
    """`size` devices with two-word names drawn from the tokenizer's English
    words, in 30 areas likewise named: a vocabulary far wider than the bench
    home's (whose filler names repeat a few nouns), the worst case for the
    per-word comparison."""
    import random

    from edged.home.registry import Area, Device, Home

    vocab = json.loads((REPO / "models" / "edged-nlu" / "tokenizer.json").read_text())
    words = sorted(
        w
        for w in vocab["model"]["vocab"]
        if w.isascii() and w.isalpha() and len(w) >= 4 and w not in ("turn", "switch")
    )
    rng = random.Random(seed)
    areas = [Area(f"a{i}", " ".join(rng.sample(words, 1)).title()) for i in range(30)]
    kinds = ("light", "switch", "fan", "cover", "media_player")
    devices = [
        Device(
            f"d{i}",
            " ".join(rng.sample(words, 2)).title(),
            rng.choice(kinds),
            "zigbee2mqtt",
            area=areas[i % len(areas)].id,
        )
        for i in range(size)
    ]
    return Home(devices, areas)


def measure(size: int, runs: int, utterances: list[str], diverse: bool = False) -> dict[str, Any]:
    from edged.home.gazetteer import Gazetteer

    home = diverse_home_of(size) if diverse else home_of(size)
    cold: list[list[float]] = []
    warm: list[list[float]] = []
    build: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        g = Gazetteer(home)
        build.append((time.perf_counter() - t0) * 1e3)
        for sink in (cold, warm):
            lat = []
            for text in utterances:
                t0 = time.perf_counter()
                g.spans(text)
                lat.append((time.perf_counter() - t0) * 1e3)
            sink.append(lat)
    keep = ("p50_ms", "p99_ms", "max_ms", "n")
    return {
        "devices": len(home.devices),
        "vocabulary": len(g.vocabulary),
        "build_ms": round(sorted(build)[len(build) // 2], 2),
        "cold": {k: v for k, v in summarize(cold).items() if k in keep},
        "warm": {k: v for k, v in summarize(warm).items() if k in keep},
    }


def run(sizes: tuple[int, ...] = SIZES, runs: int = 5) -> dict[str, Any]:
    """Per size, the bench home; and "<size> diverse" for the largest size."""
    utterances = texts()
    out = {str(size): measure(size, runs, utterances) for size in sizes}
    big = max(sizes)
    out[f"{big} diverse"] = measure(big, runs, utterances, diverse=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(tuple(args.sizes), args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Gazetteer.spans per utterance, {args.runs} runs (median of per-run p50/p99)")
    for size, r in result.items():
        c, w = r["cold"], r["warm"]
        print(
            f"  {size:>11} devices ({r['vocabulary']} words, built in {r['build_ms']} ms): "
            f"cold p50 {c['p50_ms'] * 1e3:.1f} us p99 {c['p99_ms'] * 1e3:.1f} us; "
            f"warm p50 {w['p50_ms'] * 1e3:.1f} us p99 {w['p99_ms'] * 1e3:.1f} us  (n={w['n']})"
        )


if __name__ == "__main__":
    main()
