"""Every shipped language model beside the English one: size, NLU p50/p99, accuracy.

    python bench/languages.py [--model DIR] [--runs 5] [--n 500] [--data DIR] [--limit N] [--json]

The models are the English one (`--model`, default models/edged-nlu) and
every directory beside it that the daemon would load for a language other
than English: `<english dir>-<code>` whose labels.json says `language: <code>`
(edged.nlu.model.default_model_dir). The language is read from labels.json,
never from the name, so an English teacher such as models/edged-nlu-l6 is
left out, and so is a model whose directory is not the one its language picks
(a German teacher in edged-nlu-de-l12); both are listed under `skipped`.

Per model:
  - model.onnx in MB (bench/memory.py's model_size), encoder layers (from the
    ONNX graph's initializer names; needs the `onnx` package, else n/a) and
    the tokenizer's vocabulary size;
  - NLU latency, tokenization to decoded parse, 1 thread, batch 1, measured
    interleaved: each round runs `n` parses on every model in turn (the order
    rotates from round to round), `runs` rounds, and each model's p50/p99 is
    the median over rounds of that round's p50/p99. A busy machine slows
    every model in a round alike, so the ratio to English stays fair;
  - each model parses sentences of its own language: 24 distinct texts of
    `<data>/ha-intents-<code>/test.jsonl` whose intent the model has, evenly
    spaced through the file (the same every run), or, without the file, the
    eight plain commands per language in BUILTIN;
  - p50 against the English model's (issue 25: at most 2x) and model.onnx
    against 30 MB;
  - intent accuracy and slot F1 on `<data>/ha-intents-<code>/test.jsonl`
    (edged.eval.evaluate_rows, as `edged eval`) at the daemon's default
    confidence floor; `--limit N` scores N rows evenly spaced through the file.

Step 9 of `make bench` (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for p in (str(REPO), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import nlu_latency  # noqa: E402
from accuracy import DEFAULT_DATA  # noqa: E402
from benchstats import pct  # noqa: E402

# Issue 25: a multilingual model is at most 30 MB INT8 and its NLU p50 at most
# 2x the English model's on the same machine.
MAX_P50_RATIO = 2.0
MAX_MODEL_MB = 30.0
SAMPLE = 24  # distinct sentences per language from the test set

# Plain commands per language, used when ../shared/bench-data is absent.
BUILTIN: dict[str, tuple[str, ...]] = {
    "en": (
        "turn off the kitchen lights",
        "switch on the living room lamp",
        "set the bedroom to 21 degrees",
        "dim the hallway light to 30 percent",
        "open the garage door",
        "close the blinds in the office",
        "pause the tv",
        "what is the temperature in the bathroom",
    ),
    "de": (
        "schalte das Licht in der Küche aus",
        "mach die Lampe im Wohnzimmer an",
        "stelle die Heizung im Schlafzimmer auf 21 Grad",
        "dimme das Licht im Flur auf 30 Prozent",
        "öffne das Garagentor",
        "schließe die Rollläden im Büro",
        "pausiere den Fernseher",
        "wie warm ist es im Badezimmer",
    ),
    "fr": (
        "éteins la lumière de la cuisine",
        "allume la lampe du salon",
        "règle le chauffage de la chambre sur 21 degrés",
        "baisse la lumière du couloir à 30 pour cent",
        "ouvre la porte du garage",
        "ferme les volets du bureau",
        "mets la télé en pause",
        "quelle est la température dans la salle de bain",
    ),
    "es": (
        "apaga la luz de la cocina",
        "enciende la lámpara del salón",
        "pon la calefacción del dormitorio a 21 grados",
        "baja la luz del pasillo al 30 por ciento",
        "abre la puerta del garaje",
        "cierra las persianas de la oficina",
        "pausa la tele",
        "qué temperatura hace en el baño",
    ),
    "nl": (
        "doe het licht in de keuken uit",
        "zet de lamp in de woonkamer aan",
        "zet de verwarming in de slaapkamer op 21 graden",
        "dim het licht in de gang naar 30 procent",
        "open de garagedeur",
        "sluit de rolluiken in het kantoor",
        "pauzeer de tv",
        "hoe warm is het in de badkamer",
    ),
    "it": (
        "spegni la luce della cucina",
        "accendi la lampada del soggiorno",
        "imposta il riscaldamento della camera da letto a 21 gradi",
        "abbassa la luce del corridoio al 30 per cento",
        "apri la porta del garage",
        "chiudi le tapparelle dello studio",
        "metti in pausa la tv",
        "che temperatura c'è in bagno",
    ),
}


def model_language(model_dir: Path) -> str:
    """labels.json `language`; models written before it was recorded are English."""
    meta = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    return str(meta.get("language") or "en")


def discover(english_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """({language: model dir}, {skipped dir name: why}). English first, then
    every `<english dir>-<code>` with model.onnx whose labels.json language is
    <code> (not English): the directory the daemon picks for that language."""
    models = {"en": english_dir}
    skipped: dict[str, str] = {}
    for d in sorted(english_dir.parent.glob(english_dir.name + "-*")):
        if not d.is_dir():
            continue
        if not (d / "labels.json").is_file() or not (d / "model.onnx").is_file():
            skipped[d.name] = "no labels.json or model.onnx"
            continue
        try:
            lang = model_language(d)
        except (OSError, ValueError) as e:
            skipped[d.name] = f"unreadable labels.json: {e}"
            continue
        if lang == "en":
            skipped[d.name] = "an English model (labels.json language en)"
        elif d != english_dir.with_name(f"{english_dir.name}-{lang}"):
            skipped[d.name] = (
                f"language {lang}, but not the directory `language: {lang}` loads "
                f"({english_dir.name}-{lang})"
            )
        else:
            models[lang] = d
    return models, skipped


def ha_intents_file(data: Path, lang: str) -> Path:
    return data / f"ha-intents-{lang}" / "test.jsonl"


def evenly(items: Sequence[Any], k: int | None) -> list[Any]:
    """k items evenly spaced through `items` (all of them when k is None or larger)."""
    if k is None or k >= len(items):
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


def sentences(
    lang: str, intents: Sequence[str], data: Path, k: int = SAMPLE
) -> tuple[list[str], str]:
    """(texts, where from): k distinct test-set texts of intents the model
    has, or the built-in commands of `lang`."""
    path = ha_intents_file(data, lang)
    if path.is_file():
        from edged.eval import read_rows

        known = set(intents)
        texts = list(dict.fromkeys(r.text for r in read_rows(path) if r.intent in known))
        if texts:
            return evenly(texts, k), str(path.relative_to(data.parent))
    if lang in BUILTIN:
        return list(BUILTIN[lang]), "built-in"
    raise ValueError(f"no sentences for language {lang!r}: no {path}, none built in")


def graph_info(model_path: Path) -> dict[str, int | None]:
    """Encoder layers from the ONNX graph (None without the onnx package)."""
    try:
        import onnx
    except ImportError:
        return {"layers": None}
    graph = onnx.load(str(model_path), load_external_data=False).graph
    layers = {
        int(m.group(1)) for i in graph.initializer if (m := re.search(r"\.layer\.(\d+)\.", i.name))
    }
    if layers:
        return {"layers": len(layers)}
    attention = sum(n.op_type in ("Attention", "QAttention") for n in graph.node)
    return {"layers": attention or None}


def interleaved(
    models: Mapping[str, Any], texts: Mapping[str, Sequence[str]], runs: int, n: int
) -> dict[str, dict[str, Any]]:
    """Each round: `n` parses on every model in turn, the order rotating by
    one each round. Per model: the median over rounds of each round's p50/p99."""
    order = list(models)
    p50s: dict[str, list[float]] = {k: [] for k in order}
    p99s: dict[str, list[float]] = {k: [] for k in order}
    for r in range(runs):
        for k in order[r % len(order) :] + order[: r % len(order)]:
            xs = nlu_latency.measure(models[k], n, texts[k])
            p50s[k].append(pct(xs, 0.5))
            p99s[k].append(pct(xs, 0.99))
    return {
        k: {
            "p50_ms": round(statistics.median(p50s[k]), 3),
            "p99_ms": round(statistics.median(p99s[k]), 3),
            "rounds_p50_ms": [round(x, 3) for x in p50s[k]],
        }
        for k in order
    }


def accuracy(model: Any, data: Path, lang: str, limit: int | None) -> dict[str, Any]:
    from edged.eval import evaluate_rows, read_rows

    path = ha_intents_file(data, lang)
    if not path.is_file():
        return {"note": f"{path} not found"}
    rows = read_rows(path)
    # Rows of intents the model does not have are skipped (as `edged eval`
    # does); a limit samples the others, so a quick run still scores some.
    intents = set(model.intents)
    known = [r for r in rows if r.intent in intents]
    m = evaluate_rows(model, evenly(known, limit))
    return {
        "set": f"ha-intents-{lang}/test",
        "n": m["n"],
        "skipped": len(rows) - len(known),
        "intent_accuracy": round(m["intent_accuracy"], 4),
        "slot_f1": round(m["slot_f1"], 4),
    }


def run(
    english_dir: Path,
    runs: int = 5,
    n: int = 500,
    data: Path = DEFAULT_DATA,
    limit: int | None = None,
    confidence_floor: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from memory import model_size

    from edged.config import parse_config
    from edged.nlu.model import NluModel

    floor = (
        parse_config("{}").nlu.confidence_floor if confidence_floor is None else confidence_floor
    )
    if model_language(english_dir) != "en":
        note = f"{english_dir} is not an English model (labels.json): languages skipped"
        log("  " + note)
        return {"note": note}
    dirs, skipped = discover(english_dir)
    models: dict[str, Any] = {}
    texts: dict[str, list[str]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for lang, d in dirs.items():
        model = NluModel(d, threads=1, confidence_floor=floor)
        try:
            texts[lang], source = sentences(lang, model.intents, data)
        except ValueError as e:
            skipped[d.name] = str(e)
            continue
        model.warm_up()
        for t in texts[lang]:
            model.parse(t)  # warm the tokenizer and the session on these lengths
        models[lang] = model
        tokens = [len(model.tokenizer.encode(t).ids) for t in texts[lang]]
        rows[lang] = {
            "dir": str(d.relative_to(REPO)) if d.is_relative_to(REPO) else str(d),
            "model_mb": model_size(d)["model_mb"],
            **graph_info(d / "model.onnx"),
            "vocab_size": model.tokenizer.get_vocab_size(),
            "sentences": {"source": source, "n": len(texts[lang])},
            "mean_tokens": round(statistics.mean(tokens), 1),
        }
    timing = interleaved(models, texts, runs, n)
    en_p50 = timing["en"]["p50_ms"]
    for lang, row in rows.items():
        row.update(timing[lang])
        row["p50_ratio"] = round(row["p50_ms"] / en_p50, 2) if en_p50 else None
        row["p50_ratio_met"] = row["p50_ratio"] is not None and row["p50_ratio"] <= MAX_P50_RATIO
        row["size_met"] = row["model_mb"] <= MAX_MODEL_MB
        row["accuracy"] = (
            accuracy(models[lang], data, lang, limit)
            if data.is_dir()
            else {"note": f"{data} not found: accuracy skipped"}
        )
        log("  " + summary_line(lang, row))
    for name, why in skipped.items():
        log(f"  skipped {name}: {why}")
    return {
        "threads": 1,
        "runs": runs,
        "n_per_run": n,
        "confidence_floor": floor,
        "max_p50_ratio": MAX_P50_RATIO,
        "max_model_mb": MAX_MODEL_MB,
        "models": rows,
        "skipped": skipped,
    }


def summary_line(lang: str, row: dict[str, Any]) -> str:
    acc = row.get("accuracy") or {}
    scored = (
        f"intent {acc['intent_accuracy']:.3f}  slot F1 {acc['slot_f1']:.3f}  n={acc['n']}"
        if "n" in acc
        else acc.get("note", "no accuracy")
    )
    return (
        f"{lang}: model.onnx {row['model_mb']} MB ({row.get('layers') or '?'} layers, "
        f"vocabulary {row['vocab_size']:,}), p50/p99 {row['p50_ms']}/{row['p99_ms']} ms "
        f"= {_ratio(row['p50_ratio'])} English; {scored}"
    )


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def _mark(met: bool) -> str:
    return "yes" if met else "**no**"


def table(res: dict[str, Any]) -> list[str]:
    """The markdown table of `run`'s result."""
    if "note" in res:
        return [res["note"]]
    lines = [
        f"NLU latency at 1 thread, batch 1, interleaved: {res['runs']} rounds, each "
        f"{res['n_per_run']} parses per model, every model on sentences of its own "
        "language; p50 / p99 are the median over rounds. Accuracy on "
        f"`ha-intents-<code>/test.jsonl` at confidence floor {res['confidence_floor']}. "
        f"Targets (issue 25): p50 at most {res['max_p50_ratio']}x the English model's, "
        f"model.onnx at most {res['max_model_mb']:g} MB. The English p50 here is on "
        "its own sample, so it differs a little from step 1's.",
        "",
        "| language | model | model.onnx MB | layers | vocabulary | sentences (mean tokens) "
        "| p50 ms | p99 ms | p50 / English | <= 2x | <= 30 MB | intent accuracy | slot F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lang, r in res["models"].items():
        acc = r.get("accuracy") or {}
        if "n" in acc:
            intent = f"{acc['intent_accuracy']:.3f} (n={acc['n']})"
            f1 = f"{acc['slot_f1']:.3f}"
        else:
            intent, f1 = "n/a", "n/a"
        lines.append(
            f"| {lang} | `{r['dir']}` | {r['model_mb']} | {r.get('layers') or 'n/a'} "
            f"| {r['vocab_size']:,} | {r['sentences']['n']} {r['sentences']['source']} "
            f"({r['mean_tokens']}) | {r['p50_ms']} | {r['p99_ms']} | {_ratio(r['p50_ratio'])} "
            f"| {_mark(r['p50_ratio_met']) if lang != 'en' else '-'} | {_mark(r['size_met'])} "
            f"| {intent} | {f1} |"
        )
    if res.get("skipped"):
        lines += [
            "",
            "Not measured: "
            + "; ".join(f"`{name}`: {why}" for name, why in res["skipped"].items())
            + ".",
        ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model", type=Path, default=None, help="the English model (default models/edged-nlu)"
    )
    ap.add_argument("--runs", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--n", type=int, default=500, help="parses per model per round")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="test rows scored per language")
    ap.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = ap.parse_args()
    from edged.nlu.model import default_model_dir

    english = (args.model or default_model_dir("en")).resolve()
    if not (english / "model.onnx").is_file():
        raise SystemExit(f"no model at {english} (model.onnx missing)")
    res = run(english, args.runs, args.n, args.data, args.limit)
    print()
    print("\n".join(table(res)))
    if args.json:
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
