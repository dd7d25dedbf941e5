"""Temperature scaling and calibration measures (edged.nlu.calibration), the
trainer's fit (edged.training.calibrate) and the runtime's use of the stored
temperature (edged.nlu.model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edged.nlu.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    softmax,
)
from edged.nlu.model import ModelLoadError, NluModel
from edged.training.calibrate import calibrate, write_temperature
from edged.training.sampler import Example

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "edged-nlu"


def _sampled(
    true_t: float, n: int = 4000, k: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / true_t): the
    temperature that calibrates them is true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, k))
    p = softmax(logits, true_t)
    labels = np.array([rng.choice(k, p=row) for row in p])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.7, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_labels_were_drawn_at(true_t: float) -> None:
    logits, labels = _sampled(true_t)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.1)
    # It is the minimum of the NLL: a little either side is worse.
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 0.9), nll(logits, labels, t * 1.1))


def test_scaling_calibrates_overconfident_logits() -> None:
    logits, labels = _sampled(3.0)
    conf_raw = softmax(logits).max(axis=1)
    correct = softmax(logits).argmax(axis=1) == labels
    t = fit_temperature(logits, labels)
    conf = softmax(logits, t).max(axis=1)
    # Same predictions (argmax), far better calibrated.
    assert (softmax(logits, t).argmax(axis=1) == labels).tolist() == correct.tolist()
    assert expected_calibration_error(conf, correct) < 0.03
    assert expected_calibration_error(conf_raw, correct) > 0.15


def test_ece_by_hand() -> None:
    # Two bins used: [0.9, 1.0] holds 0.95 and 1.0 (one right: accuracy 0.5,
    # mean confidence 0.975); [0.5, 0.6) holds 0.55 (right).
    conf = np.array([0.95, 1.0, 0.55])
    correct = np.array([True, False, True])
    bins = reliability_bins(conf, correct, bins=10)
    assert bins[-1].n == 2 and bins[-1].accuracy == 0.5
    assert bins[-1].confidence == pytest.approx(0.975)
    assert bins[5].n == 1
    expected = 2 / 3 * abs(0.5 - 0.975) + 1 / 3 * abs(1.0 - 0.55)
    assert expected_calibration_error(conf, correct, bins=10) == pytest.approx(expected)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_fit_temperature_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((2, 3)), np.zeros(3, dtype=int))


def _copy_model(tmp_path: Path) -> Path:
    out = tmp_path / "m"
    out.mkdir()
    for name in ("model.onnx", "labels.json", "tokenizer.json"):
        shutil.copyfile(SHIPPED / name, out / name)
    return out


def test_runtime_divides_the_intent_logits_by_the_stored_temperature(tmp_path: Path) -> None:
    model_dir = _copy_model(tmp_path)
    write_temperature(model_dir, 1.0)
    text = "turn on the kitchen lights"
    plain = NluModel(model_dir, confidence_floor=0.0)
    logits = plain.intent_logits(text)
    assert plain.parse(text).confidence == pytest.approx(softmax(logits).max(), abs=1e-6)

    write_temperature(model_dir, 3.0)
    assert json.loads((model_dir / "labels.json").read_text())["intent_temperature"] == 3.0
    scaled = NluModel(model_dir, confidence_floor=0.0)
    assert scaled.info.intent_temperature == 3.0
    parse = scaled.parse(text)
    assert parse.confidence == pytest.approx(softmax(logits, 3.0).max(), abs=1e-6)
    assert parse.confidence < plain.parse(text).confidence
    assert parse.intent == plain.parse(text).intent  # the argmax does not move
    # The floor compares the scaled probability.
    floor = (parse.confidence + plain.parse(text).confidence) / 2
    assert NluModel(model_dir, confidence_floor=floor).parse(text).intent is None


@pytest.mark.parametrize("bad", [0, -1.0, 1000.0])
def test_a_temperature_out_of_range_is_refused(tmp_path: Path, bad: float) -> None:
    model_dir = _copy_model(tmp_path)
    meta = json.loads((model_dir / "labels.json").read_text())
    meta["intent_temperature"] = bad
    (model_dir / "labels.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="intent_temperature"):
        NluModel(model_dir)


def test_calibrate_fits_on_examples_and_reports_before_and_after(tmp_path: Path) -> None:
    model = NluModel(_copy_model(tmp_path), confidence_floor=0.0)
    examples = [
        Example("turn on the kitchen lights", "HassTurnOn"),
        Example("switch off the fan", "HassTurnOff"),
        Example("what's the weather like tomorrow", "OutOfScope"),
        Example("pause the music", "HassMediaPause"),
        # wrong on purpose: a confident model pays for it in NLL
        Example("turn off the kitchen lights", "HassTurnOn"),
        Example("a label the model lacks is skipped", "NoSuchIntent"),
    ]
    result = calibrate(model, examples)
    assert result["n"] == 5
    assert result["after"]["nll"] <= result["before"]["nll"]
    assert result["temperature"] > 1.0  # one confident mistake: soften
