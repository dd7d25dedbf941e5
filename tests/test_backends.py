"""Backend choice: ONNX Runtime providers and threads, LiteRT loading rules.

The ONNX tests run on a tiny model built here with the same interface as
ours (input_ids / attention_mask int64 -> intent_logits, slot_logits), so
they need no trained model.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edged.config import NluConfig, parse_config
from edged.nlu import backends
from edged.nlu.backends import (
    OnnxRuntimeBackend,
    TfliteBackend,
    choose_providers,
    load_backend,
    load_tflite_backend,
)
from edged.nlu.model import ModelLoadError

CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx: intents = mean over tokens of ids*w, slots = ids*v per token."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    intents, tags = 3, 4
    w = numpy_helper.from_array(np.arange(intents, dtype=np.float32).reshape(1, intents), "w")
    v = numpy_helper.from_array(np.arange(tags, dtype=np.float32).reshape(1, tags), "v")
    axes = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "mask_f"], ["masked"]),
        helper.make_node("Unsqueeze", ["masked", "axes"], ["col"]),  # [b, t, 1]
        helper.make_node("MatMul", ["col", "v"], ["slot_logits"]),  # [b, t, tags]
        helper.make_node("ReduceMean", ["masked"], ["mean"], axes=[1], keepdims=1),  # [b, 1]
        helper.make_node("MatMul", ["mean", "w"], ["intent_logits"]),  # [b, intents]
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [
            helper.make_tensor_value_info("intent_logits", TensorProto.FLOAT, ["batch", intents]),
            helper.make_tensor_value_info(
                "slot_logits", TensorProto.FLOAT, ["batch", "tokens", tags]
            ),
        ],
        initializer=[w, v, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime edged allows
    out = tmp_path_factory.mktemp("tiny")
    onnx.save(model, str(out / "model.onnx"))
    return out


def _run(backend: Any) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([[101, 7, 9, 102]], dtype=np.int64)
    return backend.run(ids, np.ones_like(ids))


# --- ONNX Runtime providers ---------------------------------------------------------


def test_choose_providers_keeps_order_and_ends_with_cpu() -> None:
    available = ["XnnpackExecutionProvider", "AzureExecutionProvider", CPU]
    assert choose_providers([CPU], available) == [CPU]
    assert choose_providers(["XnnpackExecutionProvider"], available) == [
        "XnnpackExecutionProvider",
        CPU,
    ]
    assert choose_providers([CPU, "XnnpackExecutionProvider", CPU], available) == [
        CPU,
        "XnnpackExecutionProvider",
    ]


def test_unknown_provider_warns_once_and_runs_on_cpu(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edged.nlu.backends"):
        backend = load_backend("onnxruntime", tiny_model_dir, providers=["NoSuchExecutionProvider"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "NoSuchExecutionProvider" in warnings[0].getMessage()
    assert isinstance(backend, OnnxRuntimeBackend)
    assert backend.providers == [CPU]
    intent, slots = _run(backend)
    assert intent.shape == (1, 3) and slots.shape == (1, 4, 4)


def test_available_provider_is_used_without_warning(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edged.nlu.backends"):
        backend = load_backend("onnxruntime", tiny_model_dir, providers=[CPU])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert isinstance(backend, OnnxRuntimeBackend)
    assert backend.providers == [CPU]


@pytest.mark.parametrize("threads", [1, 3])
def test_ort_thread_count_is_honoured(tiny_model_dir: Path, threads: int) -> None:
    backend = load_backend("onnxruntime", tiny_model_dir, threads=threads)
    assert isinstance(backend, OnnxRuntimeBackend)
    opts = backend.session.get_session_options()
    assert opts.intra_op_num_threads == threads
    # One utterance at a time: no inter-op pool, no spinning between calls.
    assert opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_ort_threads_below_one_mean_one(tiny_model_dir: Path) -> None:
    backend = OnnxRuntimeBackend(tiny_model_dir / "model.onnx", threads=0)
    assert backend.session.get_session_options().intra_op_num_threads == 1


def test_missing_onnx_model_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        load_backend("onnxruntime", tmp_path)


def test_unknown_backend_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="onnxruntime, tflite, edgetpu"):
        load_backend("coreml", tmp_path)


# --- config -> engine ---------------------------------------------------------------

CONFIG = """\
mqtt: {host: localhost, port: 1883}
nlu:
  threads: 2
  providers: [XnnpackExecutionProvider, CPUExecutionProvider]
devices:
  - id: kitchen_ceiling
    name: Kitchen Ceiling Light
    area: kitchen
    kind: light
    protocol: zigbee2mqtt
    topic: zigbee2mqtt/Kitchen Ceiling
"""


def test_nlu_config_providers_default_and_validation() -> None:
    assert NluConfig().providers == [CPU]
    assert NluConfig().threads == 1  # latency first on a Pi: see docs/deploy.md
    with pytest.raises(ValueError):
        NluConfig(providers=[])


def test_engine_passes_providers_and_threads_to_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edged.engine

    seen: dict[str, Any] = {}

    class FakeModel:
        def __init__(self, model_dir: Path, **kwargs: Any) -> None:
            seen.update(kwargs)

        def warm_up(self) -> None:
            pass

    monkeypatch.setattr(edged.engine, "NluModel", FakeModel)
    cfg = parse_config(textwrap.dedent(CONFIG), source="home.yaml")
    edged.engine.Engine.from_config(cfg)
    assert seen["providers"] == ["XnnpackExecutionProvider", CPU]
    assert seen["threads"] == 2
    assert seen["backend"] == "onnxruntime"


# --- LiteRT loading rules (no model needed) --------------------------------------------


class _FakeInterpreter:
    """Records what TfliteBackend asks of LiteRT; one fixed-length model."""

    created: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        type(self).created.append(kwargs)

    def allocate_tensors(self) -> None:
        pass

    def get_input_details(self) -> list[dict[str, Any]]:
        shape = np.array([1, 8])
        return [
            {"name": "serving_default_attention_mask:0", "index": 1, "shape": shape,
             "shape_signature": shape, "dtype": np.int64},
            {"name": "serving_default_input_ids:0", "index": 0, "shape": shape,
             "shape_signature": shape, "dtype": np.int64},
        ]  # fmt: skip

    def get_output_details(self) -> list[dict[str, Any]]:
        return [
            {"name": "Identity_1", "index": 3, "shape": np.array([1, 8, 4]),
             "dtype": np.int8, "quantization": (0.5, -1)},
            {"name": "Identity", "index": 2, "shape": np.array([1, 3]),
             "dtype": np.float32, "quantization": (0.0, 0)},
        ]  # fmt: skip

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        self.inputs = {**getattr(self, "inputs", {}), index: value}

    def invoke(self) -> None:
        pass

    def get_tensor(self, index: int) -> np.ndarray:
        if index == 2:
            return np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
        return np.full((1, 8, 4), 3, dtype=np.int8)


@pytest.fixture
def fake_litert(monkeypatch: pytest.MonkeyPatch) -> type[_FakeInterpreter]:
    _FakeInterpreter.created = []

    def load_delegate(library: str) -> Any:
        raise ValueError(f"Failed to load delegate from {library}")

    monkeypatch.setattr(backends, "_litert", lambda: (_FakeInterpreter, load_delegate))
    return _FakeInterpreter


def test_tflite_threads_are_passed_to_the_interpreter(
    tmp_path: Path, fake_litert: type[_FakeInterpreter]
) -> None:
    (tmp_path / "model.tflite").write_bytes(b"")
    backend = load_backend("tflite", tmp_path, threads=3)
    assert fake_litert.created[-1]["num_threads"] == 3
    assert backend.name == "tflite"


def test_tflite_fixed_length_pads_maps_by_name_and_dequantizes(
    tmp_path: Path, fake_litert: type[_FakeInterpreter]
) -> None:
    (tmp_path / "model.tflite").write_bytes(b"")
    backend = load_tflite_backend(tmp_path)
    assert isinstance(backend, TfliteBackend)
    assert backend.fixed_tokens == 8 and not backend.dynamic
    intent, slots = _run(backend)
    interp = backend.interpreter
    # Inputs found by name although listed mask-first; padded with zeros.
    assert interp.inputs[0].tolist() == [[101, 7, 9, 102, 0, 0, 0, 0]]
    assert interp.inputs[1].tolist() == [[1, 1, 1, 1, 0, 0, 0, 0]]
    # Outputs found by rank; INT8 slot logits dequantized: (3 - -1) * 0.5.
    assert intent.tolist() == [[0.0, 1.0, 0.0]]
    assert slots.shape == (1, 4, 4) and slots.dtype == np.float32
    assert np.all(slots == 2.0)


def test_full_int8_outputs_are_dequantized_with_their_own_scale_and_zero_point() -> None:
    """model_int8.tflite (and its Edge TPU build) returns INT8 logits, each
    output with its own scale and zero point (as export_tflite writes them:
    intents (0.0446, -5), slots (0.0645, -30)); its token-id inputs stay
    int64, so only the outputs need mapping back."""
    intent_detail = {"dtype": np.int8, "quantization": (0.0446, -5)}
    slot_detail = {"dtype": np.int8, "quantization": (0.0645, -30)}
    raw_intent = np.array([[-128, -5, 100, 127]], dtype=np.int8)
    intent = backends._dequantize(raw_intent, intent_detail)
    assert intent.dtype == np.float32
    np.testing.assert_allclose(
        intent, [[-123 * 0.0446, 0.0, 105 * 0.0446, 132 * 0.0446]], rtol=1e-6
    )
    assert int(intent.argmax()) == int(raw_intent.astype(np.int32).argmax())
    slots = backends._dequantize(np.full((1, 2, 3), -30, dtype=np.int8), slot_detail)
    assert slots.dtype == np.float32 and np.all(slots == 0.0)
    # uint8 (older converters) and float outputs pass through the same path.
    assert backends._dequantize(
        np.array([[130]], dtype=np.uint8), {"quantization": (0.5, 128)}
    ).tolist() == [[1.0]]
    floats = np.array([[0.25, -1.0]], dtype=np.float32)
    assert backends._dequantize(floats, {"quantization": (0.0, 0)}) is floats
    # An integer output without quantization parameters is taken as it is.
    assert backends._dequantize(
        np.array([[3]], dtype=np.int8), {"quantization": (0.0, 0)}
    ).tolist() == [[3.0]]


def test_tflite_without_a_model_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="export_tflite"):
        load_tflite_backend(tmp_path)


def test_edgetpu_with_no_device_warns_once_and_uses_cpu(
    tmp_path: Path,
    fake_litert: type[_FakeInterpreter],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """libedgetpu is installed but finds no Coral: load_delegate raises."""
    (tmp_path / "model.tflite").write_bytes(b"")
    (tmp_path / "model_edgetpu.tflite").write_bytes(b"")
    monkeypatch.setattr(backends.ctypes, "CDLL", lambda name: object())
    with caplog.at_level(logging.WARNING, logger="edged.nlu.backends"):
        backend = load_backend("edgetpu", tmp_path, threads=2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "no Edge TPU device" in warnings[0] and "model.tflite" in warnings[0]
    assert backend.name == "tflite"
    assert fake_litert.created[-1]["model_path"].endswith("model.tflite")
    assert fake_litert.created[-1]["experimental_delegates"] is None


def test_edgetpu_with_a_delegate_uses_the_compiled_model(
    tmp_path: Path,
    fake_litert: type[_FakeInterpreter],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "model.tflite").write_bytes(b"")
    (tmp_path / "model_int8_edgetpu.tflite").write_bytes(b"")
    delegate = object()
    monkeypatch.setattr(backends.ctypes, "CDLL", lambda name: object())
    monkeypatch.setattr(backends, "_litert", lambda: (_FakeInterpreter, lambda lib: delegate))
    with caplog.at_level(logging.WARNING, logger="edged.nlu.backends"):
        backend = load_backend("edgetpu", tmp_path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert backend.name == "edgetpu"
    assert fake_litert.created[-1]["model_path"].endswith("model_int8_edgetpu.tflite")
    assert fake_litert.created[-1]["experimental_delegates"] == [delegate]


def test_edgetpu_with_nothing_to_run_is_a_load_error(
    tmp_path: Path, fake_litert: type[_FakeInterpreter]
) -> None:
    with pytest.raises(ModelLoadError, match="edgetpu_compiler"):
        load_backend("edgetpu", tmp_path)
