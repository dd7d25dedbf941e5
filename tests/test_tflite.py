"""The shipped TFLite model against the shipped ONNX model, and the Edge TPU
fallback, on the real files in models/edged-nlu.

Needs LiteRT: `pip install -e '.[tflite]'` (ai-edge-litert). Without it, or
without models/edged-nlu/model.tflite, these tests skip and say why.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edged.nlu.backends import EDGETPU_LIBRARY, TfliteBackend, load_backend
from edged.nlu.model import NluModel
from edged.nlu.types import Parse

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "models" / "edged-nlu"
TFLITE = MODEL_DIR / "model.tflite"

_HAVE_LITERT = any(
    importlib.util.find_spec(name) is not None for name in ("ai_edge_litert", "tflite_runtime")
)
pytestmark = [
    pytest.mark.skipif(
        not _HAVE_LITERT,
        reason="ai-edge-litert is not installed: `pip install -e '.[tflite]'` "
        "(add the tflite extra to the test set-up)",
    ),
    pytest.mark.skipif(
        not TFLITE.is_file(),
        reason=f"{TFLITE} is missing: python -m edged.training.export_tflite --model {MODEL_DIR}",
    ),
]

# Fixed, hand-written: commands of every kind, colloquial and terse ones,
# numbers, and out-of-scope sentences. Never generated, so the set cannot drift.
SENTENCES: tuple[str, ...] = (
    "turn on the kitchen light",
    "switch off the living room lamp",
    "lights off in the bedroom please",
    "could you turn the hallway lights on",
    "toggle the porch light",
    "set the bedroom light to 40 percent",
    "dim the lights in the office",
    "make the kitchen brighter",
    "brighten the living room a bit",
    "set the desk lamp to blue",
    "make the lights warm white",
    "set the thermostat to 21 degrees",
    "what's the temperature in the living room",
    "how warm is it upstairs",
    "open the garage door",
    "close the blinds in the bedroom",
    "set the living room shades to 50 percent",
    "is the front door locked",
    "lock the front door",
    "unlock the back door",
    "is the garage door open",
    "pause the music",
    "resume playback in the kitchen",
    "next song",
    "go back to the previous track",
    "set the volume to 30",
    "turn the volume up",
    "turn it down a little",
    "start the vacuum",
    "send the robot vacuum back to its dock",
    "set the bedroom fan to 50 percent",
    "turn off all the lights downstairs",
    "turn on the tv",
    "switch on the coffee maker",
    "kill the lights",
    "never mind",
    "cancel that",
    "what's the weather like tomorrow",
    "tell me a joke",
    "what time is it",
    "add milk to my shopping list",
    "set a timer for ten minutes",
    "who won the football game last night",
    "play some jazz",
    "how are you today",
    "order a pizza",
    "call mom",
    "remind me to water the plants",
    "what's the capital of france",
    "good morning",
)


def _parses(model: NluModel) -> list[Parse]:
    return [model.parse(text) for text in SENTENCES]


@pytest.fixture(scope="module")
def onnx_parses() -> list[Parse]:
    return _parses(NluModel(MODEL_DIR, backend="onnxruntime"))


@pytest.fixture(scope="module")
def tflite_model() -> NluModel:
    return NluModel(MODEL_DIR, backend="tflite")


@pytest.fixture(scope="module")
def tflite_parses(tflite_model: NluModel) -> list[Parse]:
    return _parses(tflite_model)


def test_sentence_set_is_fixed() -> None:
    assert len(SENTENCES) == 50 and len(set(SENTENCES)) == 50


def test_tflite_gives_the_same_intents_as_onnx(
    onnx_parses: list[Parse], tflite_parses: list[Parse]
) -> None:
    # best_guess: the arg-max label before the confidence floor, so the
    # comparison does not hinge on a confidence sitting right at the floor.
    diff = [
        (p.text, p.best_guess, q.best_guess)
        for p, q in zip(onnx_parses, tflite_parses, strict=True)
        if p.best_guess != q.best_guess
    ]
    assert diff == [], f"TFLite disagrees with ONNX on {len(diff)}/50: {diff}"


def test_tflite_confidences_and_slots_are_close(
    onnx_parses: list[Parse], tflite_parses: list[Parse]
) -> None:
    # Both are INT8-weight models quantized by different tools, so logits
    # differ slightly; decisions (slots, rejection) must not.
    conf = np.array(
        [abs(p.confidence - q.confidence) for p, q in zip(onnx_parses, tflite_parses, strict=True)]
    )
    assert float(np.median(conf)) < 0.02, conf
    same_slots = sum(
        [(s.name, s.text) for s in p.slots] == [(s.name, s.text) for s in q.slots]
        for p, q in zip(onnx_parses, tflite_parses, strict=True)
    )
    assert same_slots >= 48, f"slots agree on {same_slots}/50"


def test_tflite_handles_every_length(tflite_model: NluModel) -> None:
    """Short, long, short again: a dynamic model is resized back and forth,
    a fixed-length one padded; the result must not depend on the previous call."""
    backend = tflite_model.backend
    assert isinstance(backend, TfliteBackend)
    onnx = load_backend("onnxruntime", MODEL_DIR)
    long = "please " + " and ".join(["turn on the kitchen light"] * 12)  # > 48 tokens
    results = []
    for text in ("lights on", long, "set the thermostat to 21 degrees", "lights on"):
        ids = np.asarray([tflite_model.tokenizer.encode(text).ids], dtype=np.int64)
        mask = np.ones_like(ids)
        intent, slots = backend.run(ids, mask)
        ref_intent, ref_slots = onnx.run(ids, mask)
        assert slots.shape == ref_slots.shape
        assert int(intent.argmax()) == int(ref_intent.argmax()), text
        results.append(intent)
    assert results[0].shape == results[-1].shape
    np.testing.assert_array_equal(results[0], results[-1])


def test_shipped_tflite_is_small_enough_for_git() -> None:
    assert TFLITE.stat().st_size <= 25 * 1024 * 1024


def _one_backend_warning(caplog: pytest.LogCaptureFixture) -> str:
    records = [
        r for r in caplog.records if r.name == "edged.nlu.backends" and r.levelno >= logging.WARNING
    ]
    assert len(records) == 1, [r.getMessage() for r in records]
    return records[0].getMessage()


def test_edgetpu_without_compiled_model_falls_back_with_one_warning(
    caplog: pytest.LogCaptureFixture, tflite_parses: list[Parse]
) -> None:
    if any(
        (MODEL_DIR / n).is_file() for n in ("model_edgetpu.tflite", "model_int8_edgetpu.tflite")
    ):
        pytest.skip("an Edge TPU compiled model is present in models/edged-nlu")
    with caplog.at_level(logging.WARNING):
        model = NluModel(MODEL_DIR, backend="edgetpu")
    message = _one_backend_warning(caplog)
    assert "edgetpu_compiler" in message and "model.tflite" in message
    assert model.backend.name == "tflite"
    assert [(p.best_guess, p.confidence) for p in _parses(model)] == [
        (p.best_guess, p.confidence) for p in tflite_parses
    ]


def test_edgetpu_without_the_library_falls_back_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tflite_parses: list[Parse]
) -> None:
    """A compiled model is there but libedgetpu is not (this machine): the
    delegate cannot load, so the CPU model runs, with the same results."""
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)
    except OSError:
        pass
    else:
        pytest.skip(f"{EDGETPU_LIBRARY} is installed here; this test wants it missing")
    for name in ("labels.json", "tokenizer.json", "model.tflite"):
        os.symlink(MODEL_DIR / name, tmp_path / name)
    # Any file will do: with no delegate it is never opened.
    shutil.copyfile(MODEL_DIR / "labels.json", tmp_path / "model_edgetpu.tflite")
    with caplog.at_level(logging.WARNING):
        model = NluModel(tmp_path, backend="edgetpu")
    message = _one_backend_warning(caplog)
    assert EDGETPU_LIBRARY in message and "CPU" in message
    assert model.backend.name == "tflite"
    parses = _parses(model)
    assert [(p.best_guess, p.confidence, p.slots) for p in parses] == [
        (p.best_guess, p.confidence, p.slots) for p in tflite_parses
    ]
