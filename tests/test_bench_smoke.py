"""The benchmark harness on tiny N: every piece runs and the results have the
promised shape. No timing is asserted: machines are noisy, and a quick run's
numbers mean nothing."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import hassil_compare  # noqa: E402

MODEL = REPO / "models" / "edged-nlu"


def _numbers(obj: Any) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return []


def test_homes_are_valid_configs_with_the_core_devices() -> None:
    from edged.config import parse_config

    for size in hassil_compare.SIZES:
        home = hassil_compare.generate_home(size)
        assert len(home["devices"]) == size
        ids = [d["id"] for d in home["devices"]]
        assert len(set(ids)) == size
        assert ids[:25] == [d["id"] for d in hassil_compare.CORE_DEVICES]
        cfg = parse_config(yaml.safe_dump(hassil_compare.edged_config(home)))
        assert len(cfg.devices) == size
    # Filler devices never land in a core area: expected targets hold at every size.
    core_areas = {a["id"] for a in hassil_compare.AREAS}
    big = hassil_compare.generate_home(300)
    assert all(d["area"] not in core_areas for d in big["devices"][25:])


def test_utterance_set_is_well_formed() -> None:
    rows = hassil_compare.load_utterances()
    ids = {d["id"] for d in hassil_compare.CORE_DEVICES}
    groups = {g: [r for r in rows if r["group"] == g] for g in hassil_compare.GROUPS}
    assert all(len(groups[g]) >= 45 for g in hassil_compare.GROUPS)
    assert len({r["text"] for r in rows}) == len(rows)
    for r in rows:
        if r["group"] == "chatter":
            assert r["intent"] is None and r["targets"] == []
        else:
            assert r["intent"] and r["targets"] and set(r["targets"]) <= ids, r


def test_scoring_counts_intent_and_exact_targets() -> None:
    rows = [
        {"text": "a", "group": "canonical", "intent": "HassTurnOn", "targets": ["x", "y"]},
        {"text": "b", "group": "asr", "intent": "HassTurnOff", "targets": ["x"]},
        {"text": "c", "group": "paraphrase", "intent": "EdgedVolumeUp", "targets": ["tv"]},
        {"text": "d", "group": "chatter", "intent": None, "targets": []},
        {"text": "e", "group": "chatter", "intent": None, "targets": []},
    ]
    preds = [
        ("HassTurnOn", {"x", "y"}),
        ("HassTurnOff", {"x", "z"}),  # a device too many: wrong
        ("HassSetVolumeRelative", {"tv"}),  # HA's name for the same thing
        ("HassGetState", {"x"}),  # answering is not acting
        ("HassTurnOn", {"x"}),  # a false accept
    ]
    s = hassil_compare.score(rows, preds, "hassil")
    assert s["accuracy"] == pytest.approx(2 / 3)
    assert s["by_group"] == {"canonical": 1.0, "paraphrase": 1.0, "asr": 0.0}
    assert s["false_accepts"] == 1 and s["false_accept_rate"] == 0.5
    assert hassil_compare.score(rows, preds, "edged")["by_group"]["paraphrase"] == 0.0


def test_hassil_side_resolves_names_and_areas() -> None:
    home = hassil_compare.generate_home(25)
    intents = hassil_compare.load_hassil()
    lists = hassil_compare.hassil_slot_lists(home)

    def targets(text: str) -> tuple[str | None, set[str]]:
        return hassil_compare.hassil_targets(
            hassil_compare.hassil_recognize(text, intents, lists), home
        )

    assert targets("turn on the kitchen lights") == (
        "HassTurnOn",
        {"kitchen_ceiling", "kitchen_spots"},
    )
    assert targets("turn off the porch light") == ("HassTurnOff", {"porch_light"})
    assert targets("open the garage door") == ("HassTurnOn", {"garage_door"})
    assert targets("the den looks great") == (None, set())


@pytest.mark.skipif(not (MODEL / "model.onnx").is_file(), reason="no shipped model yet")
def test_quick_run_writes_results_with_every_key(tmp_path: Path) -> None:
    import run_all
    from e2e import mosquitto_binary

    mqtt = mosquitto_binary() is not None
    run_all.run(MODEL, tmp_path, run_all.QUICK, log=lambda s: None, mqtt=mqtt)
    results = json.loads((tmp_path / "results.json").read_text())
    keys = ["nlu_p50_ms", "nlu_p99_ms", "model_mb", "machine", "targets", "accuracy_sets"]
    if mqtt:
        keys += ["e2e_p50_ms", "e2e_p99_ms", "throughput_per_s", "rss_mb", "cold_start_s"]
        keys += ["import_build_ms", "import_startup_s", "import_rss_mb"]
    for key in keys:
        assert results.get(key) is not None, key
    for system in ("hassil", "edged"):
        for size in ("25", "100", "300"):
            r = results[system][size]
            for key in ("p50_ms", "p99_ms", "accuracy"):
                assert isinstance(r[key], int | float) and math.isfinite(r[key]), (
                    system,
                    size,
                    key,
                )
            assert 0.0 <= r["accuracy"] <= 1.0
    for size in ("25", "100", "300"):
        g = results["gazetteer"][size]
        assert g["warm"]["p50_ms"] > 0 and g["cold"]["p99_ms"] > 0 and g["devices"] == int(size)
    assert results["gazetteer"]["300 diverse"]["vocabulary"] > 300
    for home in ("plain_home", "bench_home"):
        assert results["homes"][home]["commands"] > 100
    assert "## The home as evidence" in (tmp_path / "results.md").read_text()
    assert results["machine"]["cores"] >= 1 and results["machine"]["onnxruntime"]
    assert all(math.isfinite(x) for x in _numbers(results))
    assert "| measure | result | target | met |" in (tmp_path / "results.md").read_text()
    if mqtt:
        assert results["import"]["build"]["devices"] == 40
        assert "imported from the broker" in (tmp_path / "results.md").read_text()
    png = (tmp_path / "latency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
