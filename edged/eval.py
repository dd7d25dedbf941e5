"""`edged eval`: score a model on the bench-data JSONL format.

Slots are compared as (name, normalised value) pairs, so "50 percent" and
"50%" and HA's canonical "50" agree, and "Living Room" matches the words
"living room". Gold slots whose value is not said in the sentence (Home
Assistant's test data fills some from its fixtures: the area of the
satellite, the domain of a named entity) cannot be predicted from text and
are left out; so are slot names the model does not have. A device named by
area + kind words ("bedroom lamp" as area "bedroom" + domain "lamp") and by a
name ("bedroom lamp") resolve to the same device, so either form matches.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edged.lang import Language
from edged.nlu.schema import OUT_OF_SCOPE, SLOTS
from edged.nlu.types import Parse, Slot
from edged.nlu.values import ENGLISH, PERCENT_SLOTS, domain_for, normalise_value, tidy

# Slots scored against gold: the ones that pick devices and carry values.
# domain/device_class/state in Home Assistant's tests are canonical values
# resolved from its fixtures ("binary_sensor", "on" for "low"), not words.
SCORED_SLOTS = frozenset(
    {"name", "area", "floor", "brightness", "color", "temperature", "position", "volume_level"}
)
_ALWAYS_SAID = PERCENT_SLOTS | {"temperature", "color"}


class Parser(Protocol):
    def parse(self, text: str) -> Parse: ...

    @property
    def intents(self) -> tuple[str, ...]: ...


@dataclass
class Row:
    text: str
    intent: str
    slots: list[dict[str, Any]]
    source: str = ""


def read_rows(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.append(Row(r["text"], r["intent"], r.get("slots", []), r.get("source", "")))
    return rows


def _norm(name: str, value: Any, lang: Language = ENGLISH) -> Any:
    if isinstance(value, str) and name not in SLOTS:
        # Another schema's slot (SNIPS, a user's dataset): the words as they are.
        return " ".join(value.lower().split())
    if isinstance(value, str):
        v = normalise_value(name, value, lang)
        if v is None and name == "color" and lang is not ENGLISH:
            # Home Assistant's sets give colours by their English list value
            # ("rot" -> red) whatever the sentence's language.
            v = normalise_value(name, value)
        if isinstance(v, dict):  # colours compare by what they set, not the word
            if "rgb" in v:
                return tuple(v["rgb"])
            return v.get("kelvin", v.get("name"))
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _said(text: str, value: str) -> bool:
    v = tidy(str(value))
    return bool(v) and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", tidy(text)) is not None


def scored_slots(slot_names: Iterable[str] | None) -> frozenset[str]:
    """edged's own schema is scored on SCORED_SLOTS; a model trained on
    another schema (SNIPS, a user's dataset) on all of its slots."""
    if slot_names is None:
        return SCORED_SLOTS
    names = frozenset(slot_names)
    return SCORED_SLOTS & names if "domain" in names and "area" in names else names


def gold_slots(
    row: Row, slot_names: Iterable[str] | None = None, lang: Language = ENGLISH
) -> set[tuple[str, Any]]:
    allowed = scored_slots(slot_names)
    out = set()
    for s in row.slots:
        name, value = s["name"], s["value"]
        if name not in allowed:
            continue
        if name == "name" and tidy(str(value)) == "all":
            continue  # an upstream quirk: "turn off all fans" -> name "all"
        if s.get("start") is None and name not in _ALWAYS_SAID and not _said(row.text, value):
            continue
        out.add((name, _norm(name, value, lang)))
    return out


# "in the home": every area, as the resolver reads it, not an area called "home".
_WHOLE_HOME = frozenset(
    {"home", "house", "whole house", "whole home", "everywhere", "apartment", "flat"}
)


def pred_slots(
    parse: Parse, slot_names: Iterable[str] | None = None, lang: Language = ENGLISH
) -> set[tuple[str, Any]]:
    allowed = scored_slots(slot_names)
    return {
        (s.name, _norm(s.name, s.text, lang))
        for s in parse.slots
        if s.name in allowed and not (s.name == "area" and tidy(s.text) in _WHOLE_HOME)
    }


def _device_equivalents(
    parse: Parse, lang: Language = ENGLISH
) -> dict[tuple[str, Any], set[tuple[str, Any]]]:
    """Other spellings of the same target, each with the predicted slots it
    stands for: area + kind word <-> name, area + name <-> one name, a lone
    kind word <-> the one device of that kind."""
    name = parse.slot("name")
    alt: dict[tuple[str, Any], set[tuple[str, Any]]] = {}

    def key(s: Slot) -> tuple[str, Any]:
        return (s.name, _norm(s.name, s.text, lang))

    targets = sorted(
        (s for s in parse.slots if s.name in ("name", "area", "domain", "device_class")),
        key=lambda s: s.start,
    )
    kinds = {"domain", "device_class"}
    for a, b in itertools.pairwise(targets):
        if parse.text[a.end : b.start].strip():
            continue
        if {a.name, b.name} & kinds or {a.name, b.name} == {"area", "name"}:
            # "bedroom" + "lamp": one name, "Bedroom Lamp"
            alt[("name", tidy(parse.text[a.start : b.end], lang))] = {key(a), key(b)}
        if a.name == "name" and b.name in kinds:
            # "kitchen" (name) + "lights": the kitchen's lights
            alt[("area", tidy(a.text, lang))] = {key(a)}
    if name:
        words = tidy(name.text, lang).split()
        for k in range(1, len(words)):
            alt[("area", " ".join(words[:k]))] = {key(name)}
    else:
        # A kind word alone names the one device of that kind: "skip on the TV".
        for s in targets:
            if s.name in kinds:
                alt[("name", tidy(s.text, lang))] = {key(s)}
    return alt


def score_slots(
    gold: set[tuple[str, Any]],
    pred: set[tuple[str, Any]],
    alt: dict[tuple[str, Any], set[tuple[str, Any]]],
) -> tuple[int, int, int]:
    """(true positives, predicted, gold). A gold slot missed as spelled but
    matched by a device-equivalent spelling counts once, in place of the
    predicted slots that spell it."""
    matched = [g for g in gold - pred if g in alt]
    consumed: set[tuple[str, Any]] = set()
    for g in matched:
        consumed |= alt[g] - gold
    tp = len(gold & pred) + len(matched)
    return tp, max(len(pred - consumed) + len(matched), tp), len(gold)


def evaluate_examples(model: Parser, examples: Sequence[Any]) -> dict[str, Any]:
    rows = [
        Row(
            e.text,
            e.intent,
            [{"name": n, "value": e.text[s:t], "start": s, "end": t} for s, t, n in e.spans],
        )
        for e in examples
    ]
    return evaluate_rows(model, rows)


def operation_of(parse: Parse) -> str:
    """The intent as the operation the daemon would run: Home Assistant says
    "turn on the vacuum" with HassTurnOn, which resolve turns into
    vacuum_start on a vacuum."""
    intent = parse.intent or OUT_OF_SCOPE
    targets = [s for s in parse.slots if s.name in ("domain", "name")]
    if any(domain_for(s.text) == "vacuum" for s in targets):
        intent = {"HassTurnOn": "HassVacuumStart", "HassTurnOff": "HassVacuumReturnToBase"}.get(
            intent, intent
        )
    return intent


def evaluate_rows(
    model: Parser,
    rows: Sequence[Row],
    intent_map: dict[str, str] | None = None,
    restrict: bool = True,
    by_operation: bool = False,
) -> dict[str, Any]:
    """Intent accuracy, slot F1, frame accuracy, confusions, worst errors.

    `intent_map` maps gold intents to edged intents (e.g. SLURP's). With
    `restrict`, rows whose (mapped) intent the model does not know are skipped.
    """
    known = set(model.intents)
    model_slots = getattr(getattr(model, "info", None), "slots", None)
    # Slot words are read in the model's language ("la cuisine" -> cuisine).
    lang: Language = getattr(model, "language", ENGLISH)
    n = correct = frames = 0
    tp = n_pred = n_gold = 0
    tp_any = n_pred_any = 0  # slots scored whatever the intent
    confusion: Counter[tuple[str, str]] = Counter()
    errors: list[dict[str, Any]] = []
    skipped = 0
    for row in rows:
        gold_intent = (intent_map or {}).get(row.intent, row.intent)
        if restrict and gold_intent not in known:
            skipped += 1
            continue
        parse = model.parse(row.text)
        pred_intent = operation_of(parse) if by_operation else parse.intent or OUT_OF_SCOPE
        n += 1
        ok = pred_intent == gold_intent
        correct += ok
        g = gold_slots(row, model_slots, lang)
        p_any = pred_slots(parse, model_slots, lang)
        p = p_any if ok else set()
        alt = _device_equivalents(parse, lang)
        a, b, c = score_slots(g, p, alt)
        tp, n_pred, n_gold = tp + a, n_pred + b, n_gold + c
        a_any, b_any, _ = score_slots(g, p_any, alt) if not ok else (a, b, c)
        tp_any, n_pred_any = tp_any + a_any, n_pred_any + b_any
        frame_ok = ok and a == c and b == a
        frames += frame_ok
        if not ok:
            confusion[(gold_intent, pred_intent)] += 1
        if not frame_ok:
            errors.append(
                {
                    "text": row.text,
                    "gold": gold_intent,
                    "pred": pred_intent,
                    "confidence": round(parse.confidence, 3),
                    "gold_slots": sorted(map(str, g)),
                    "pred_slots": sorted(map(str, p)),
                }
            )
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # The slots of every row, also where the intent is wrong: how JointBERT
    # and seqeval-based papers score slot filling, the figure to hold beside
    # theirs. In `slot_f1` a wrong intent's gold slots count as missed and its
    # predicted ones are not scored; here they are, mostly as false positives
    # (a wrong intent's words are read as its own slots), so this one is
    # usually a little lower.
    f1_any = 2 * tp_any / (n_pred_any + n_gold) if n_pred_any + n_gold else 1.0
    # Worst first: confident wrong intents, then slot errors.
    errors.sort(key=lambda e: (e["gold"] == e["pred"], -e["confidence"]))
    return {
        "n": n,
        "skipped": skipped,
        "intent_accuracy": correct / n if n else 0.0,
        "slot_precision": precision,
        "slot_recall": recall,
        "slot_f1": f1,
        "slot_f1_any_intent": f1_any,
        "frame_accuracy": frames / n if n else 0.0,
        "confusions": [
            {"gold": gi, "pred": pi, "count": c} for (gi, pi), c in confusion.most_common(15)
        ],
        "worst_errors": errors[:20],
    }


# Built-in gold-intent maps for public sets, see the model card. Maps named in
# OPERATION_MAPS score the operation (operation_of), not the intent label.
OPERATION_MAPS = frozenset({"slurp-iot"})
INTENT_MAPS: dict[str, dict[str, str]] = {
    "slurp-iot": {
        "iot_hue_lighton": "HassTurnOn",
        "iot_wemo_on": "HassTurnOn",
        "iot_coffee": "HassTurnOn",
        "iot_hue_lightoff": "HassTurnOff",
        "iot_wemo_off": "HassTurnOff",
        "iot_hue_lightdim": "EdgedLightDim",
        "iot_hue_lightup": "EdgedLightBrighten",
        "iot_hue_lightchange": "HassLightSet",
        "iot_cleaning": "HassVacuumStart",
    },
}

# SLURP scenarios that are never a device command.
SLURP_NON_DEVICE_SCENARIOS = (
    "calendar",
    "email",
    "weather",
    "news",
    "qa",
    "general",
    "datetime",
    "cooking",
    "transport",
    "takeaway",
    "social",
    "recommendation",
    "lists",
)


# Intents that only ask or cancel: a false accept of one of these answers a
# question nobody asked, but moves nothing.
NON_ACTING_INTENTS = frozenset({"HassGetState", "HassClimateGetTemperature", "HassNevermind"})


def false_accepts(model: Parser, rows: Sequence[Row]) -> dict[str, Any]:
    """How many should-not-act utterances parse to an edged intent, and how
    many of those to one that would move a device (a command)."""
    accepted: list[dict[str, Any]] = []
    for row in rows:
        parse = model.parse(row.text)
        if parse.intent is not None:
            accepted.append(
                {
                    "text": row.text,
                    "gold": row.intent,
                    "pred": parse.intent,
                    "confidence": round(parse.confidence, 3),
                }
            )
    n = len(rows)
    commands = [e for e in accepted if e["pred"] not in NON_ACTING_INTENTS]
    return {
        "n": n,
        "false_accepts": len(accepted),
        "false_accept_rate": len(accepted) / n if n else 0.0,
        "device_commands": len(commands),
        "device_command_rate": len(commands) / n if n else 0.0,
        "examples": sorted(accepted, key=lambda e: -e["confidence"])[:20],
    }


def format_report(m: dict[str, Any]) -> str:
    lines = [
        f"n={m['n']} (skipped {m.get('skipped', 0)} with intents the model lacks)",
        f"intent accuracy  {m['intent_accuracy']:.4f}",
        f"slot F1          {m['slot_f1']:.4f}  (P {m['slot_precision']:.4f} "
        f"R {m['slot_recall']:.4f}; a wrong intent's slots count as missed)",
        f"slot F1, any int {m['slot_f1_any_intent']:.4f}  (every row's slots whatever its "
        "intent, as JointBERT and seqeval score)",
        f"frame accuracy   {m['frame_accuracy']:.4f}",
    ]
    if m["confusions"]:
        lines.append("confusions (gold -> predicted):")
        lines += [f"  {c['count']:4d}  {c['gold']} -> {c['pred']}" for c in m["confusions"]]
    if m["worst_errors"]:
        lines.append("worst errors:")
        for e in m["worst_errors"][:10]:
            lines.append(f"  [{e['gold']} -> {e['pred']} {e['confidence']}] {e['text']}")
            if e["gold"] == e["pred"]:
                lines.append(f"      gold {e['gold_slots']}  pred {e['pred_slots']}")
    return "\n".join(lines)
