"""`edged train`: examples -> fine-tuned model -> INT8 ONNX model directory."""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edged.nlu.schema import INTENTS, OUT_OF_SCOPE, SLOTS
from edged.training.calibrate import calibrate, write_temperature
from edged.training.corpora import corpus_examples
from edged.training.data import (
    DEFAULT_COUNTS,
    generate_examples,
    own_slot_values,
    read_jsonl,
    split_examples,
    summarise,
    write_jsonl,
)
from edged.training.export import FP32_NAME, INT8_NAME, export_int8, export_onnx, save_tokenizer
from edged.training.sampler import Example
from edged.training.train import Labels, TrainConfig, save_labels, train

# Out-of-scope rows taken from the corpora at most: HWU64 and SLURP devel
# hold ~9,000, which would outweigh the generated commands (and cost Home
# Assistant's test sentences recall); 4,000 real ones beside the ~7,000
# generated negatives.
CORPUS_MAX_OUT_OF_SCOPE = 4000


def _key(text: str) -> str:
    """A text as compared for exclusion: lower case, words only (letters of
    any language: "Küche" is not "k che")."""
    return " ".join(re.findall(r"(?:[^\W_]|')+", text.lower()))


def excluded_texts(paths: list[Path]) -> set[str]:
    """The texts of held-out files, as `_key` compares them."""
    out: set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            out.update(_key(json.loads(line)["text"]) for line in f if line.strip())
    return out


def add_corpora(
    examples: list[Example],
    seed: int,
    corpora: list[Path] | None = None,
    exclude: list[Path] | None = None,
) -> tuple[list[Example], dict[str, Any]]:
    """The generated examples plus the corpora's rows (texts not generated
    already), shuffled for `seed`, without any text of `exclude`; and what
    was added and dropped, for metrics.json."""
    source: dict[str, Any] = {}
    if corpora:
        real = corpus_examples(
            corpora,
            seen={e.text.lower() for e in examples},
            max_out_of_scope=CORPUS_MAX_OUT_OF_SCOPE,
        )
        examples = examples + real
        random.Random(seed).shuffle(examples)
        source["corpora"] = {"files": [str(p) for p in corpora], "intents": summarise(real)}
    if exclude:
        banned = excluded_texts(exclude)
        before = len(examples)
        examples = [e for e in examples if _key(e.text) not in banned]
        source["excluded"] = {"files": [str(p) for p in exclude], "dropped": before - len(examples)}
    return examples, source


def labels_for(examples: list[Example], builtin: bool) -> Labels:
    """The schema's labels, plus any intents/slots the examples add."""
    intents = list(INTENTS) if builtin else []
    slots = list(SLOTS) if builtin else []
    for ex in examples:
        if ex.intent not in intents:
            intents.append(ex.intent)
        for _, _, name in ex.spans:
            if name not in slots:
                slots.append(name)
    return Labels(intents=intents, slots=slots)


def only_negatives(examples: list[Example], seed: int, language: str = "en") -> list[Example]:
    """Out-of-scope examples for a model of a user's intents alone
    (`--only`): chatter (a third as many as the user's examples, at least
    200) and some of each built-in command ("turn off the lights", "what is
    the temperature"), since for this model they are not its intents either:
    they must be 'not recognised', not the nearest of the user's intents.
    None has the text of one of the user's examples."""
    chatter = max(200, len(examples) // 3)
    commands = chatter // 2
    per = max(5, commands // len(INTENTS))  # spread over the built-in intents
    drawn = generate_examples(
        seed=seed,
        counts={k: per for k in DEFAULT_COUNTS} | {OUT_OF_SCOPE: chatter},
        per_intent=per,
        language=language,
    )
    own = {e.text.lower() for e in examples}
    return [Example(e.text, OUT_OF_SCOPE, [], e.source) for e in drawn if e.text.lower() not in own]


def intent_slots(examples: list[Example], labels: Labels) -> dict[str, list[str]]:
    """The slots each intent's examples carry, in the labels' order: at run
    time an intent's words may take only these (labels.json `intent_slots`).

    For the intents of a dataset or of a user's sentences, where the examples
    are all there is to know of an intent. Edged's built-in intents are left
    out, so unconstrained: they take any of the schema's slots and the
    resolver decides what the words mean, and their generated examples do not
    show every pairing ("toggle the lights upstairs" has no template with a
    floor; held to its examples it lost the floor and toggled every light).
    Out of scope, one of them, thus stays unconstrained too: reading a slot
    in chatter can take weight from an intent, never from 'not recognised'."""
    carried: dict[str, set[str]] = {}
    for ex in examples:
        carried.setdefault(ex.intent, set()).update(name for _, _, name in ex.spans)
    return {
        intent: [s for s in labels.slots if s in carried[intent]]
        for intent in labels.intents
        if intent in carried and intent not in INTENTS
    }


def build_model_dir(
    out_dir: Path,
    cfg: TrainConfig,
    sentences: list[Path] | None = None,
    only_sentences: bool = False,
    data: Path | None = None,
    valid: Path | None = None,
    per_intent: int | None = None,
    progress: bool = True,
    keep_fp32: bool = False,
    corpora: list[Path] | None = None,
    exclude: list[Path] | None = None,
) -> dict[str, Any]:
    """Train and write a loadable model directory; returns its metrics.

    `corpora`: crowd-sourced files mapped to edged's schema
    (`edged.training.corpora`) and added to the generated examples.
    `exclude`: JSONL files whose texts must never be trained on (a held-out
    set): any example with one of their texts is dropped."""
    import yaml
    from tqdm import tqdm

    from edged.eval import evaluate_examples
    from edged.nlu.model import NluModel

    started = time.monotonic()
    builtin = data is None
    if data is not None:
        train_ex = list(read_jsonl(data))
        valid_ex = list(read_jsonl(valid)) if valid else []
        if not valid_ex:
            train_ex, valid_ex = split_examples(train_ex)
        source: dict[str, Any] = {"data": str(data), "valid": str(valid) if valid else None}
    else:
        extra = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sentences or []]
        kwargs: dict[str, Any] = {}
        if per_intent is not None:
            kwargs["per_intent"] = per_intent
            kwargs["counts"] = {
                k: per_intent for k in ("HassTurnOn", "HassTurnOff", "HassLightSet", "HassGetState")
            } | {OUT_OF_SCOPE: per_intent * 3}
        examples = generate_examples(
            seed=cfg.seed,
            extra_templates=extra,
            own_templates=[] if only_sentences else None,
            progress=(lambda it: tqdm(list(it), desc="generating", unit="intent"))
            if progress
            else None,
            builtin=not only_sentences,
            language=cfg.language,
            **kwargs,
        )
        if only_sentences:
            examples += only_negatives(examples, cfg.seed, cfg.language)
            random.Random(cfg.seed).shuffle(examples)
        source = {
            "templates": "home-assistant-intents + edged/training/templates",
            "language": cfg.language,
            "extra": [str(p) for p in sentences or []],
            "only": only_sentences,
        }
        examples, added = add_corpora(examples, cfg.seed, corpora, exclude)
        source |= added
        train_ex, valid_ex = split_examples(examples)
    # A model of a dataset's or a user's own labels alone, not edged's schema.
    own_labels = not builtin or only_sentences
    labels = labels_for(train_ex + valid_ex, builtin=not own_labels)
    if OUT_OF_SCOPE not in labels.intents and builtin:
        labels.intents.insert(0, OUT_OF_SCOPE)
    # From the training examples alone: the validation set chooses, never teaches.
    labels.intent_slots = intent_slots(train_ex, labels)
    if data is None:
        labels.slot_values = {
            k: v for k, v in own_slot_values(extra, cfg.language).items() if k in labels.slots
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(valid_ex, out_dir / "valid.jsonl")
    # A model of a dataset's or a user's own labels alone also learns how its
    # tags follow each other. Edged's built-in schema does not: its generated
    # sentences follow the templates' word orders, not how people talk, and
    # tags the templates never put side by side would be penalised.
    model, tokenizer, history = train(
        train_ex, valid_ex, labels, cfg, progress=progress, learn_transitions=own_labels
    )

    fp32 = export_onnx(model, out_dir / FP32_NAME)
    int8_export = export_int8(model, fp32, out_dir / INT8_NAME)
    save_tokenizer(tokenizer, out_dir)
    # The language the runtime checks against the config's `language`.
    save_labels(labels, out_dir, cfg.max_tokens, {"language": cfg.language})

    int8_model = NluModel(out_dir, threads=cfg.threads, confidence_floor=0.0)
    metrics_int8 = evaluate_examples(int8_model, valid_ex)
    # Temperature scaling on the validation split (never an evaluation set),
    # so the runtime's confidence floor compares a calibrated probability.
    calibration = calibrate(int8_model, valid_ex)
    write_temperature(out_dir, calibration["temperature"])
    fp32_dir = out_dir / ".fp32"
    fp32_dir.mkdir(exist_ok=True)
    for name in ("tokenizer.json", "labels.json"):
        shutil.copyfile(out_dir / name, fp32_dir / name)
    shutil.copyfile(fp32, fp32_dir / INT8_NAME)
    metrics_fp32 = evaluate_examples(
        NluModel(fp32_dir, threads=cfg.threads, confidence_floor=0.0), valid_ex
    )
    shutil.rmtree(fp32_dir)
    if not keep_fp32:
        fp32.unlink()

    metrics = {
        "source": source,
        "train_examples": len(train_ex),
        "valid_examples": len(valid_ex),
        "intents": summarise(train_ex),
        "train": history,
        "valid_int8": _headline(metrics_int8),
        "valid_fp32": _headline(metrics_fp32),
        "model_mb": round((out_dir / INT8_NAME).stat().st_size / 1e6, 2),
        "int8_export": int8_export,
        "calibration": calibration,
        "total_seconds": round(time.monotonic() - started, 1),
        "train_config": asdict(cfg),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    return {
        k: m[k] for k in ("n", "intent_accuracy", "slot_f1", "slot_f1_any_intent", "frame_accuracy")
    }
