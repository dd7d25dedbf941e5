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

import accuracy  # noqa: E402
import hassil_compare  # noqa: E402
import languages  # noqa: E402

MODEL = REPO / "models" / "edged-nlu"


def _shipped_languages(english: Path) -> set[str]:
    """The languages whose model the daemon would load beside `english`,
    read straight from each labels.json."""
    out = set()
    for d in english.parent.glob(english.name + "-*"):
        if (d / "model.onnx").is_file() and (d / "labels.json").is_file():
            lang = json.loads((d / "labels.json").read_text()).get("language") or "en"
            if lang != "en" and d.name == f"{english.name}-{lang}":
                out.add(lang)
    return out


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


def _model_dir(root: Path, name: str, language: str | None, onnx: bool = True) -> None:
    d = root / name
    d.mkdir()
    labels: dict[str, Any] = {"intents": ["OutOfScope"]}
    if language is not None:
        labels["language"] = language
    (d / "labels.json").write_text(json.dumps(labels))
    if onnx:
        (d / "model.onnx").write_bytes(b"")


def test_language_models_are_found_by_their_labels_not_their_names(tmp_path: Path) -> None:
    _model_dir(tmp_path, "edged-nlu", None)
    _model_dir(tmp_path, "edged-nlu-de", "de")
    _model_dir(tmp_path, "edged-nlu-pt", "pt")  # a language nobody listed
    _model_dir(tmp_path, "edged-nlu-l6", None)  # an English teacher
    _model_dir(tmp_path, "edged-nlu-en2", "en")
    _model_dir(tmp_path, "edged-nlu-de-l12", "de")  # a German teacher
    _model_dir(tmp_path, "edged-nlu-fr", "it")  # labels.json disagrees with the name
    _model_dir(tmp_path, "edged-nlu-nl", "nl", onnx=False)
    _model_dir(tmp_path, "other-de", "de")
    found, skipped = languages.discover(tmp_path / "edged-nlu")
    assert found == {
        "en": tmp_path / "edged-nlu",
        "de": tmp_path / "edged-nlu-de",
        "pt": tmp_path / "edged-nlu-pt",
    }
    assert next(iter(found)) == "en"
    assert set(skipped) == {
        "edged-nlu-l6",
        "edged-nlu-en2",
        "edged-nlu-de-l12",
        "edged-nlu-fr",
        "edged-nlu-nl",
    }
    assert _shipped_languages(tmp_path / "edged-nlu") == {"de", "pt"}


def test_language_sentences_sample_the_test_set_or_fall_back(tmp_path: Path) -> None:
    (tmp_path / "ha-intents-de").mkdir()
    rows = [{"text": f"schalte Lampe {i} an", "intent": "HassTurnOn"} for i in range(60)]
    rows += [{"text": "schalte Lampe 0 an", "intent": "HassTurnOn"}]  # a repeat
    rows += [{"text": f"sag {i}", "intent": "HassBroadcast"} for i in range(30)]
    (tmp_path / "ha-intents-de" / "test.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n"
    )
    texts, source = languages.sentences("de", ["OutOfScope", "HassTurnOn"], tmp_path)
    assert source == f"{tmp_path.name}/ha-intents-de/test.jsonl"
    assert len(texts) == languages.SAMPLE == len(set(texts))
    assert all(t.startswith("schalte Lampe") for t in texts)  # intents the model has
    assert texts[:3] == ["schalte Lampe 0 an", "schalte Lampe 2 an", "schalte Lampe 5 an"]
    assert languages.sentences("de", ["HassTurnOn"], tmp_path) == (texts, source)
    assert languages.sentences("fr", ["HassTurnOn"], tmp_path) == (
        list(languages.BUILTIN["fr"]),
        "built-in",
    )
    with pytest.raises(ValueError, match="'pt'"):
        languages.sentences("pt", ["HassTurnOn"], tmp_path)


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
    # Every shipped language model beside the English one (not the English teacher).
    langs = results["languages"]
    assert set(langs["models"]) == {"en"} | _shipped_languages(MODEL)
    assert langs["runs"] == run_all.QUICK.languages_runs
    for lang, row in langs["models"].items():
        assert row["model_mb"] > 0 and row["vocab_size"] > 0, lang
        assert 0 < row["p50_ms"] <= row["p99_ms"], lang
        assert len(row["rounds_p50_ms"]) == run_all.QUICK.languages_runs, lang
        assert row["p50_ratio"] == pytest.approx(
            row["p50_ms"] / langs["models"]["en"]["p50_ms"], abs=0.01
        )
        assert isinstance(row["p50_ratio_met"], bool) and isinstance(row["size_met"], bool)
        acc = row["accuracy"]
        if languages.ha_intents_file(accuracy.DEFAULT_DATA, lang).is_file():
            assert acc["n"] > 0 and 0 <= acc["intent_accuracy"] <= 1 and 0 <= acc["slot_f1"] <= 1
        else:
            assert "not found" in acc["note"], lang
        if lang != "en":
            assert results["targets"][f"language_{lang}_nlu_p50_vs_english"]["met"] in (True, False)
    assert langs["models"]["en"]["p50_ratio"] == 1.0
    md = (tmp_path / "results.md").read_text()
    assert "## Languages" in md
    assert all(f"| {lang} | `" in md for lang in langs["models"])
    assert results["machine"]["cores"] >= 1 and results["machine"]["onnxruntime"]
    assert all(math.isfinite(x) for x in _numbers(results))
    assert "| measure | result | target | met |" in (tmp_path / "results.md").read_text()
    if mqtt:
        assert results["import"]["build"]["devices"] == 40
        assert "imported from the broker" in (tmp_path / "results.md").read_text()
    png = (tmp_path / "latency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
