"""edged and Home Assistant's matcher (hassil + home-assistant-intents) side by side.

    python bench/hassil_compare.py [--model DIR] [--sizes 25 100 300] [--repeats 3]

Both see the same utterances (bench/utterances.jsonl) and the same home at
each size: edged as its YAML config (through `Engine.handle`, a dry run:
NLU + resolve + policy + render), hassil as the `name` / `area` slot lists
Home Assistant would build from the same devices (context `domain`, and
`device_class` where set, as HA's default agent does).

An utterance counts as right when the intent is right and the devices it
would act on are exactly the expected ones. hassil only names an intent and
entities; which devices that means is worked out here the way Home
Assistant's target matching does (`hassil_targets`). Chatter is scored apart:
a false accept is any chatter line that would send a device command.

The homes: `CORE_DEVICES` (25 devices, the ones the utterances talk about),
plus filler devices in filler areas for the larger sizes, so the expected
targets are the same at every size and only the matcher's search space grows.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _p in (str(REPO), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from benchstats import pct, summarize  # noqa: E402

from edged.eval import NON_ACTING_INTENTS  # noqa: E402

UTTERANCES = BENCH / "utterances.jsonl"
GROUPS = ("canonical", "paraphrase", "asr", "chatter")
SIZES = (25, 100, 300)

# edged intent -> the Home Assistant intent that does the same thing. Where HA
# has none (brighter/dimmer by a step), hassil cannot be right.
HA_EQUIVALENT = {
    "EdgedVolumeUp": "HassSetVolumeRelative",
    "EdgedVolumeDown": "HassSetVolumeRelative",
}

# The domain a Home Assistant intent handler assumes when the sentence named
# only an area (or nothing).
HA_INTENT_DOMAIN = {
    "HassLightSet": "light",
    "HassClimateSetTemperature": "climate",
    "HassClimateGetTemperature": "climate",
    "HassFanSetSpeed": "fan",
    "HassSetPosition": "cover",
    "HassVacuumStart": "vacuum",
    "HassVacuumReturnToBase": "vacuum",
    "HassMediaPause": "media_player",
    "HassMediaUnpause": "media_player",
    "HassMediaNext": "media_player",
    "HassMediaPrevious": "media_player",
    "HassSetVolume": "media_player",
    "HassSetVolumeRelative": "media_player",
}

AREAS: list[dict[str, Any]] = [
    {"id": "kitchen", "name": "Kitchen"},
    {"id": "living_room", "name": "Living Room", "aliases": ["lounge"]},
    {"id": "bedroom", "name": "Bedroom"},
    {"id": "den", "name": "Den"},
    {"id": "office", "name": "Office"},
    {"id": "bathroom", "name": "Bathroom"},
    {"id": "hallway", "name": "Hallway", "aliases": ["hall"]},
    {"id": "porch", "name": "Porch"},
    {"id": "garage", "name": "Garage"},
    {"id": "garden", "name": "Garden"},
]


def _device(
    id_: str, name: str, area: str | None, kind: str, protocol: str, **extra: Any
) -> dict[str, Any]:
    return {"id": id_, "name": name, "area": area, "kind": kind, "protocol": protocol, **extra}


def _z2m(id_: str, name: str, area: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    return _device(id_, name, area, kind, "zigbee2mqtt", topic=f"zigbee2mqtt/{name}", **extra)


def _tasmota(id_: str, name: str, area: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    return _device(id_, name, area, kind, "tasmota", topic=id_, **extra)


# The Home Assistant preset's command topic per value a kind takes.
_HA_VALUE_TOPICS = {
    "media_player": "volume",
    "climate": "temperature",
    "cover": "position",
    "fan": "percentage",
}


def _ha(id_: str, name: str, area: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    groups = {"command": f"home/{id_}/set"}
    if kind in _HA_VALUE_TOPICS:
        value = _HA_VALUE_TOPICS[kind]
        groups[value] = f"home/{id_}/{value}/set"
    return _device(id_, name, area, kind, "homeassistant", command_topics=groups, **extra)


def _template(id_: str, name: str, area: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    template = {"topic": f"home/{id_}/{{op}}", "payload": "{value}"}
    return _device(id_, name, area, kind, "template", template=template, **extra)


# The 25 devices the utterances are about. Mixed protocols, as a real home is,
# each able to do what the utterances ask of it (media players as templates:
# the homeassistant preset has no relative volume or state request), so a
# miss is a miss of understanding or resolution, not of a protocol.
CORE_DEVICES: list[dict[str, Any]] = [
    _z2m("kitchen_ceiling", "Kitchen Ceiling Light", "kitchen", "light"),
    _z2m("kitchen_spots", "Kitchen Spots", "kitchen", "light"),
    _tasmota("coffee_maker", "Coffee Maker", "kitchen", "switch"),
    _tasmota("kettle", "Kettle", "kitchen", "switch"),
    _z2m("kitchen_blind", "Kitchen Blind", "kitchen", "cover", device_class="blind"),
    _z2m("living_main", "Living Room Main Light", "living_room", "light"),
    _tasmota("reading_lamp", "Reading Lamp", "living_room", "light"),
    _template(
        "living_tv", "Living Room TV", "living_room", "media_player", aliases=["TV", "telly"]
    ),
    _z2m("living_blinds", "Living Room Blinds", "living_room", "cover", device_class="blind"),
    _z2m("bedroom_light", "Bedroom Light", "bedroom", "light"),
    _z2m("bedside_lamp", "Bedside Lamp", "bedroom", "light"),
    _ha("bedroom_fan", "Bedroom Fan", "bedroom", "fan"),
    _z2m("den_lamp", "Den Lamp", "den", "light"),
    _template("den_speaker", "Den Speaker", "den", "media_player"),
    _z2m("den_radiator", "Den Radiator", "den", "climate"),
    _tasmota("desk_lamp", "Desk Lamp", "office", "light"),
    _ha("office_fan", "Office Fan", "office", "fan"),
    _z2m("bathroom_light", "Bathroom Light", "bathroom", "light"),
    _z2m("hallway_light", "Hallway Light", "hallway", "light"),
    _z2m("thermostat", "Thermostat", "hallway", "climate", aliases=["heating"]),
    _z2m("front_door", "Front Door", "hallway", "lock"),
    _ha("robot_vacuum", "Robot Vacuum", "hallway", "vacuum", aliases=["roomba"]),
    _tasmota("porch_light", "Porch Light", "porch", "light"),
    _z2m("garage_door", "Garage Door", "garage", "cover", device_class="garage"),
    _z2m("garden_lights", "Garden Lights", "garden", "light"),
]
assert len(CORE_DEVICES) == 25

# Filler areas: nouns none of the core areas use, with a few prefixes.
_FILLER_ROOMS = (
    "Guest Room",
    "Study",
    "Nursery",
    "Playroom",
    "Gym",
    "Library",
    "Workshop",
    "Pantry",
    "Laundry Room",
    "Sunroom",
    "Loft",
    "Cellar",
    "Attic",
    "Studio",
    "Mudroom",
    "Conservatory",
    "Utility Room",
    "Landing",
    "Cinema Room",
    "Games Room",
    "Music Room",
    "Craft Room",
    "Boot Room",
    "Wine Cellar",
    "Sauna",
)
_FILLER_PREFIXES = ("", "North ", "South ", "East ", "West ", "Upper ", "Lower ")
# (name suffix, kind, device_class, weight): mostly lights, as in real homes.
_FILLER_KINDS = (
    ("Ceiling Light", "light", None, 5),
    ("Lamp", "light", None, 4),
    ("Wall Light", "light", None, 2),
    ("LED Strip", "light", None, 2),
    ("Plug", "switch", None, 3),
    ("Heater Switch", "switch", None, 1),
    ("Blinds", "cover", "blind", 2),
    ("Fan", "fan", None, 1),
    ("Speaker", "media_player", None, 1),
    ("Temperature Sensor", "sensor", "temperature", 2),
)


def generate_home(n_devices: int, seed: int = 0) -> dict[str, Any]:
    """The core home plus `n_devices - 25` filler devices (same seed, same home)."""
    if n_devices < len(CORE_DEVICES):
        raise ValueError(f"a home has at least the {len(CORE_DEVICES)} core devices")
    rng = random.Random(seed)
    areas = [dict(a) for a in AREAS]
    devices = [dict(d) for d in CORE_DEVICES]
    rooms = [p + r for p in _FILLER_PREFIXES for r in _FILLER_ROOMS]
    weights = [k[3] for k in _FILLER_KINDS]
    used_names = {d["name"].lower() for d in devices}
    room_i = 0
    while len(devices) < n_devices:
        room = rooms[room_i % len(rooms)]
        room_i += 1
        area_id = room.lower().replace(" ", "_")
        if not any(a["id"] == area_id for a in areas):
            areas.append({"id": area_id, "name": room})
        for _ in range(rng.randint(2, 6)):
            if len(devices) >= n_devices:
                break
            suffix, kind, device_class, _w = rng.choices(_FILLER_KINDS, weights)[0]
            name = f"{room} {suffix}"
            k = 2
            while name.lower() in used_names:
                name = f"{room} {suffix} {k}"
                k += 1
            used_names.add(name.lower())
            ident = name.lower().replace(" ", "_")
            extra = {"device_class": device_class} if device_class else {}
            if kind == "sensor":
                maker = _z2m
            elif kind == "media_player":
                maker = _template
            else:
                maker = rng.choice((_z2m, _tasmota, _ha))
            devices.append(maker(ident, name, area_id, kind, **extra))
    return {"areas": areas, "devices": devices}


def edged_config(
    home: dict[str, Any], port: int = 1883, model_dir: Path | str | None = None, **extra: Any
) -> dict[str, Any]:
    """The YAML config edged reads for this home."""
    cfg: dict[str, Any] = {
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "client_id": f"edged-bench-{uuid.uuid4().hex[:8]}",
        },
        "areas": home["areas"],
        "devices": home["devices"],
    }
    if model_dir is not None:
        cfg["nlu"] = {"model_dir": str(model_dir)}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def build_engine(home: dict[str, Any], model: Any) -> Any:
    import yaml

    from edged.config import parse_config
    from edged.engine import Engine

    cfg = parse_config(yaml.safe_dump(edged_config(home)))
    return Engine.from_config(cfg, model)


# --- hassil --------------------------------------------------------------------


def load_hassil() -> Any:
    from hassil import Intents
    from home_assistant_intents import get_intents

    return Intents.from_dict(get_intents("en"))


def hassil_slot_lists(home: dict[str, Any]) -> dict[str, Any]:
    """What Home Assistant's default agent builds from its entity and area registries."""
    from hassil.intents import TextSlotList

    names: list[tuple[str, Any, dict[str, Any]]] = []
    for d in home["devices"]:
        context = {"domain": d["kind"]}
        if d.get("device_class"):
            context["device_class"] = d["device_class"]
        for spoken in (d["name"], *d.get("aliases", [])):
            names.append((spoken, d["id"], context))
    areas: list[tuple[str, Any]] = []
    for a in home["areas"]:
        for spoken in (a.get("name") or a["id"].replace("_", " "), *a.get("aliases", [])):
            areas.append((spoken, a["id"]))
    return {
        "name": TextSlotList.from_tuples(names, allow_template=False),
        "area": TextSlotList.from_tuples(areas, allow_template=False),
        "floor": TextSlotList(name="floor", values=[]),
    }


def hassil_targets(result: Any, home: dict[str, Any]) -> tuple[str | None, set[str]]:
    """(intent, devices) as Home Assistant would act on a hassil match: a named
    entity; else every entity of the domain (and device class) in the area;
    else, with no area, every such entity in the home."""
    if result is None:
        return None, set()
    intent = result.intent.name
    ents = {k: v.value for k, v in result.entities.items()}
    if "name" in ents:
        return intent, {str(ents["name"])}
    domain = ents.get("domain") or HA_INTENT_DOMAIN.get(intent)
    device_class = ents.get("device_class")
    area = ents.get("area")
    if domain is None and area is None:
        return intent, set()
    out = set()
    for d in home["devices"]:
        if area is not None and d.get("area") != area:
            continue
        if domain is not None and d["kind"] != domain:
            continue
        if device_class is not None and d.get("device_class") != device_class:
            continue
        out.add(d["id"])
    return intent, out


def edged_targets(outcome: Any) -> tuple[str | None, set[str]]:
    """(intent, devices) from a dry run: what it executed, or would after a confirmation."""
    r = outcome.result
    if r.status not in ("executed", "needs_confirmation"):
        return r.intent, set()
    return r.intent, {a.device for a in r.actions}


# --- scoring -------------------------------------------------------------------


def load_utterances(path: Path = UTTERANCES) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("//"):
                rows.append(json.loads(line))
    for r in rows:
        if r["group"] not in GROUPS:
            raise ValueError(f"{r['text']!r}: unknown group {r['group']!r}")
    return rows


def _intent_ok(expected: str | None, got: str | None, system: str) -> bool:
    if expected is None or got is None:
        return False
    if system == "hassil":
        return got == HA_EQUIVALENT.get(expected, expected)
    return got == expected


def acts(intent: str | None, targets: set[str]) -> bool:
    return intent is not None and intent not in NON_ACTING_INTENTS and bool(targets)


def score(
    rows: Sequence[dict[str, Any]], predictions: Sequence[tuple[str | None, set[str]]], system: str
) -> dict[str, Any]:
    """Accuracy (commands: intent and exactly the expected devices) per group,
    and false accepts on chatter (would send a device command)."""
    per_group: dict[str, list[bool]] = {g: [] for g in GROUPS}
    misses = []
    for row, (intent, targets) in zip(rows, predictions, strict=True):
        if row["group"] == "chatter":
            ok = not acts(intent, targets)
        else:
            ok = _intent_ok(row["intent"], intent, system) and targets == set(row["targets"])
        per_group[row["group"]].append(ok)
        if not ok:
            misses.append(
                {
                    "text": row["text"],
                    "group": row["group"],
                    "got": intent,
                    "targets": sorted(targets),
                }
            )
    commands = [ok for g in GROUPS if g != "chatter" for ok in per_group[g]]
    chatter = per_group["chatter"]
    return {
        "accuracy": sum(commands) / len(commands) if commands else 0.0,
        "n_commands": len(commands),
        "by_group": {
            g: (sum(v) / len(v) if v else None) for g, v in per_group.items() if g != "chatter"
        },
        "n_by_group": {g: len(v) for g, v in per_group.items()},
        "false_accepts": sum(not ok for ok in chatter),
        "false_accept_rate": (sum(not ok for ok in chatter) / len(chatter)) if chatter else 0.0,
        "misses": misses,
    }


def hassil_recognize(text: str, intents: Any, slot_lists: dict[str, Any]) -> Any:
    """As Home Assistant's default agent calls it: the best match, preferring
    custom sentences and matches that name an entity."""
    from hassil import recognize_best

    return recognize_best(
        text,
        intents,
        slot_lists=slot_lists,
        best_metadata_key="hass_custom_sentence",
        best_slot_name="name",
    )


def run_hassil(
    rows: Sequence[dict[str, Any]], home: dict[str, Any], intents: Any, repeats: int
) -> tuple[dict[str, Any], list[float]]:
    slot_lists = hassil_slot_lists(home)
    # The first call builds hassil's caches (~0.1-0.5 s); HA pays it once at start.
    hassil_recognize("turn on the kitchen lights", intents, slot_lists)
    runs: list[list[float]] = []
    preds: list[tuple[str | None, set[str]]] = []
    for rep in range(repeats):
        lat = []
        for row in rows:
            t0 = time.perf_counter()
            result = hassil_recognize(row["text"], intents, slot_lists)
            lat.append((time.perf_counter() - t0) * 1e3)
            if rep == 0:
                preds.append(hassil_targets(result, home))
        runs.append(lat)
    out = {**summarize(runs), **score(rows, preds, "hassil")}
    return out, runs[-1]


def run_edged(
    rows: Sequence[dict[str, Any]], home: dict[str, Any], model: Any, repeats: int
) -> tuple[dict[str, Any], list[float]]:
    from edged.messages import Utterance

    engine = build_engine(home, model)
    runs: list[list[float]] = []
    preds: list[tuple[str | None, set[str]]] = []
    stages: Counter[str] = Counter()
    # Per run, the resolve stage and the model (tokenize + infer + decode) alone.
    stage_runs: dict[str, list[list[float]]] = {"resolve": [], "nlu": []}
    for rep in range(repeats):
        lat = []
        for runs_of in stage_runs.values():
            runs_of.append([])
        for row in rows:
            # Each utterance on its own: no "it" carried over from the previous one.
            engine.context.forget(None)
            now = time.time()
            utt = Utterance(row["text"], uuid.uuid4().hex, None, None, None, "bench", now, True)
            t0 = time.perf_counter()
            outcome = engine.handle(utt, now)
            lat.append((time.perf_counter() - t0) * 1e3)
            st = outcome.result.stages_ms
            if "resolve" in st:
                stage_runs["resolve"][-1].append(st["resolve"])
            stage_runs["nlu"][-1].append(
                st.get("tokenize", 0.0) + st.get("infer", 0.0) + st.get("decode", 0.0)
            )
            if rep == 0:
                preds.append(edged_targets(outcome))
                for k, v in outcome.result.stages_ms.items():
                    stages[k] += v
        runs.append(lat)
    out = {**summarize(runs), **score(rows, preds, "edged")}
    out["mean_stages_ms"] = {k: round(v / len(rows), 3) for k, v in stages.items()}
    out["stages"] = {
        name: {k: v for k, v in summarize(r).items() if k in ("p50_ms", "p99_ms")}
        for name, r in stage_runs.items()
    }
    # The first run meets every name for the first time (a fresh engine: no
    # cached matches); later runs repeat the same 204 utterances.
    out["first_run"] = {
        "p50_ms": round(pct(runs[0], 0.5), 3),
        "p99_ms": round(pct(runs[0], 0.99), 3),
        "resolve_p99_ms": round(pct(stage_runs["resolve"][0], 0.99), 3),
    }
    return out, runs[-1]


def compare(
    model: Any,
    sizes: Iterable[int] = SIZES,
    repeats: int = 3,
    rows: Sequence[dict[str, Any]] | None = None,
    log: Any = print,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[float]]]]:
    """{"hassil": {"25": {...}}, "edged": {...}} and the raw latencies of the last run."""
    rows = list(rows) if rows is not None else load_utterances()
    intents = load_hassil()
    results: dict[str, dict[str, Any]] = {"hassil": {}, "edged": {}}
    samples: dict[str, dict[str, list[float]]] = {"hassil": {}, "edged": {}}
    for size in sizes:
        home = generate_home(size)
        for system in ("hassil", "edged"):
            if system == "hassil":
                res, lat = run_hassil(rows, home, intents, repeats)
            else:
                res, lat = run_edged(rows, home, model, repeats)
            results[system][str(size)] = res
            samples[system][str(size)] = lat
            log(
                f"  {system:6s} {size:3d} devices: p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  "
                f"accuracy {res['accuracy']:.3f} "
                + " ".join(f"{g} {v:.2f}" for g, v in res["by_group"].items() if v is not None)
                + f"  false accepts {res['false_accepts']}/{res['n_by_group']['chatter']}"
            )
            if system == "edged":
                st, first = res["stages"], res["first_run"]
                log(
                    f"  {'':6s} {'':3s}          resolve p50 {st['resolve']['p50_ms']:.3f} ms  "
                    f"p99 {st['resolve']['p99_ms']:.3f} ms; model p50 {st['nlu']['p50_ms']:.2f} ms  "
                    f"p99 {st['nlu']['p99_ms']:.2f} ms; first run (nothing cached) p99 "
                    f"{first['p99_ms']:.2f} ms, resolve p99 {first['resolve_p99_ms']:.3f} ms"
                )
    return results, samples


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--misses", action="store_true", help="print what each system got wrong")
    args = ap.parse_args()
    from edged.nlu.model import NluModel

    model = NluModel(args.model, threads=1)
    model.warm_up()
    results, _ = compare(model, args.sizes, args.repeats)
    if args.misses:
        for system, by_size in results.items():
            size = str(max(args.sizes))
            print(f"\n{system} at {size} devices, misses:")
            for m in by_size[size]["misses"]:
                print(f"  [{m['group']}] {m['text']!r} -> {m['got']} {m['targets']}")


if __name__ == "__main__":
    main()
