"""Inference backends: the same two outputs from ONNX Runtime or LiteRT.

Every backend takes `input_ids` / `attention_mask` (int64, [batch, tokens])
and returns `(intent_logits [batch, intents], slot_logits [batch, tokens,
tags])` as float32, whatever the model file does inside (fixed length,
integer outputs, an Edge TPU delegate). `NluModel` stays backend-agnostic.

- `onnxruntime` (default): `model.onnx`, the dynamic INT8 model.
- `tflite`: `model.tflite` on the CPU with LiteRT (`ai-edge-litert`, or its
  older name `tflite-runtime`); see `edged.training.export_tflite`.
- `edgetpu`: the Edge TPU compiled model (`model_edgetpu.tflite`) through the
  `libedgetpu.so.1` delegate; without the library, the device or the compiled
  file it logs one warning and runs the CPU model instead.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_PROVIDERS: tuple[str, ...] = ("CPUExecutionProvider",)

# File names in a model directory (beside model.onnx).
TFLITE_NAME = "model.tflite"  # CPU: INT8 weights, float activations
TFLITE_INT8_NAME = "model_int8.tflite"  # full-integer, fixed length: edgetpu_compiler's input
# edgetpu_compiler writes <input>_edgetpu.tflite; either name is accepted.
EDGETPU_NAMES: tuple[str, ...] = ("model_edgetpu.tflite", "model_int8_edgetpu.tflite")
EDGETPU_LIBRARY = "libedgetpu.so.1"

BACKENDS: tuple[str, ...] = ("onnxruntime", "tflite", "edgetpu")


class Backend(Protocol):
    name: str

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(intent_logits [batch, intents], slot_logits [batch, tokens, tags])."""
        ...


def _model_load_error(message: str) -> Exception:
    # Imported late: edged.nlu.model imports this module.
    from edged.nlu.model import ModelLoadError

    return ModelLoadError(message)


# --- ONNX Runtime -----------------------------------------------------------------


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(
        self, model_path: Path, threads: int = 1, providers: Sequence[str] | None = None
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # intra-op threads split one inference; inter-op threads only help graphs
        # with parallel branches, which this encoder has not. Setting the count
        # explicitly also keeps ORT from pinning threads to cores, which the
        # systemd sandbox forbids (see docs/deploy.md).
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A daemon that answers one utterance at a time gains nothing from
        # spinning threads between calls; they only burn a Pi's CPU.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = opts.intra_op_num_threads
        self.requested_providers = list(providers or DEFAULT_PROVIDERS)
        chosen = choose_providers(self.requested_providers, ort.get_available_providers())
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=chosen)
        self.providers: list[str] = list(self.session.get_providers())

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        intent, slots = self.session.run(
            None, {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return intent, slots


def choose_providers(wanted: Sequence[str], available: Sequence[str]) -> list[str]:
    """The wanted providers this onnxruntime build has, in the wanted order,
    always ending with the CPU provider.

    One warning names any that are missing: a config written for another
    machine (say XNNPACK, which the PyPI aarch64 wheel does not include) must
    still start, on the CPU, rather than refuse to run the daemon.
    """
    chosen = [p for p in dict.fromkeys(wanted) if p in available]
    # CPU last, as the fallback for nodes another provider does not take.
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    missing = [p for p in wanted if p not in available]
    if missing:
        log.warning(
            "onnxruntime execution provider(s) %s not available in this build "
            "(available: %s); using %s",
            ", ".join(missing),
            ", ".join(available),
            ", ".join(chosen),
        )
    return chosen


# --- LiteRT / TFLite ----------------------------------------------------------------


def _litert() -> tuple[Any, Any]:
    """(Interpreter, load_delegate) from ai-edge-litert, or tflite-runtime."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
    except ImportError:
        try:
            from tflite_runtime.interpreter import (
                Interpreter,
                load_delegate,
            )
        except ImportError:
            raise _model_load_error(
                "the tflite/edgetpu backend needs LiteRT: pip install 'edged[tflite]' "
                "(ai-edge-litert; tflite-runtime also works)"
            ) from None
    return Interpreter, load_delegate


def _dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Integer outputs of a full-integer model back to float logits."""
    if values.dtype == np.float32:
        return values
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        return values.astype(np.float32)
    return ((values.astype(np.float32) - float(zero_point)) * float(scale)).astype(np.float32)


class TfliteBackend:
    """One LiteRT interpreter on a .tflite file from `export_tflite`.

    Token length: a model with a fixed length (what export_tflite writes: the
    Edge TPU has no dynamic shapes, and onnx2tf could not keep our token axis
    dynamic) gets each utterance padded with attention_mask 0, which leaves the
    logits of the real tokens unchanged, and the slot logits are cut back to
    the real tokens. A model with a dynamic token axis (from another converter)
    is resized when the length changes and runs on the real tokens only;
    `pad_to` pads instead.
    """

    def __init__(
        self,
        model_path: Path,
        threads: int = 1,
        delegates: Sequence[Any] = (),
        name: str = "tflite",
        pad_to: int | None = None,
    ) -> None:
        interpreter_cls, _ = _litert()
        self.name = name
        self.model_path = Path(model_path)
        self.threads = max(1, threads)
        try:
            self.interpreter = interpreter_cls(
                model_path=str(model_path),
                num_threads=self.threads,
                experimental_delegates=list(delegates) or None,
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError, OSError) as e:
            raise _model_load_error(f"cannot load {model_path}: {e}") from e
        # LiteRT interpreters are not thread-safe; NluModel promises to be.
        self._lock = threading.Lock()
        self._ids, self._mask = self._input_details()
        self._intent_out, self._slot_out = self._output_details()
        signature = [int(d) for d in self._ids.get("shape_signature", self._ids["shape"])]
        self.dynamic = len(signature) == 2 and signature[1] == -1
        self._shape = (int(self._ids["shape"][0]), int(self._ids["shape"][1]))
        self.fixed_tokens: int | None = None
        if pad_to is not None:
            self.fixed_tokens = pad_to
            if self.dynamic:
                self._resize(1, pad_to)
        elif not self.dynamic:
            self.fixed_tokens = self._shape[1]
        self._warned_truncation = False

    def _input_details(self) -> tuple[dict[str, Any], dict[str, Any]]:
        details = self.interpreter.get_input_details()
        if len(details) != 2:
            raise _model_load_error(
                f"{self.model_path}: expected 2 inputs (input_ids, attention_mask), "
                f"found {len(details)}"
            )
        # Converters decorate names ("serving_default_input_ids:0"); match on
        # the ONNX names, else keep the ONNX order.
        by_name = {
            key: d for d in details for key in ("input_ids", "attention_mask") if key in d["name"]
        }
        if len(by_name) == 2:
            return by_name["input_ids"], by_name["attention_mask"]
        return details[0], details[1]

    def _output_details(self) -> tuple[dict[str, Any], dict[str, Any]]:
        details = self.interpreter.get_output_details()
        # Output names do not survive every converter ("Identity", "Identity_1")
        # but the ranks tell them apart: intents [batch, n], slots [batch, tokens, n].
        by_rank = {len(d["shape"]): d for d in details}
        if len(details) != 2 or set(by_rank) != {2, 3}:
            raise _model_load_error(
                f"{self.model_path}: expected outputs intent_logits [batch, intents] and "
                f"slot_logits [batch, tokens, tags], found "
                f"{[(d['name'], list(d['shape'])) for d in details]}"
            )
        return by_rank[2], by_rank[3]

    def _resize(self, batch: int, tokens: int) -> None:
        for detail in (self._ids, self._mask):
            self.interpreter.resize_tensor_input(detail["index"], [batch, tokens])
        self.interpreter.allocate_tensors()
        self._shape = (batch, tokens)

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if input_ids.shape[0] != 1:
            # The exported models have batch 1 (the daemon parses one
            # utterance at a time); a batch is run row by row.
            rows = [
                self.run(input_ids[i : i + 1], attention_mask[i : i + 1])
                for i in range(len(input_ids))
            ]
            return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
        tokens = int(input_ids.shape[1])
        ids, mask = input_ids, attention_mask
        if self.fixed_tokens is not None:
            ids, mask = self._pad(ids, mask, self.fixed_tokens)
        with self._lock:
            if self.fixed_tokens is None and self._shape != (1, tokens):
                self._resize(1, tokens)
            self.interpreter.set_tensor(self._ids["index"], ids.astype(self._ids["dtype"]))
            self.interpreter.set_tensor(self._mask["index"], mask.astype(self._mask["dtype"]))
            self.interpreter.invoke()
            intent = self.interpreter.get_tensor(self._intent_out["index"])
            slots = self.interpreter.get_tensor(self._slot_out["index"])
        intent = _dequantize(intent, self._intent_out)
        slots = _dequantize(slots, self._slot_out)[:, : min(tokens, slots.shape[1])]
        return intent, slots

    def _pad(self, ids: np.ndarray, mask: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = ids.shape[1]
        if tokens > length:
            # NluModel truncates to labels.json max_tokens; a model exported
            # shorter than that loses the tail (and its slot tags).
            if not self._warned_truncation:
                log.warning(
                    "%s takes %d tokens; longer utterances are cut (export it with "
                    "--tokens %d or more)",
                    self.model_path.name,
                    length,
                    tokens,
                )
                self._warned_truncation = True
            return ids[:, :length], mask[:, :length]
        pad = ((0, 0), (0, length - tokens))
        # Pad id 0 is [PAD] in the BERT vocabulary; mask 0 keeps it out of
        # attention and of the mean pooling.
        return np.pad(ids, pad), np.pad(mask, pad)


def _edgetpu_delegate(load_delegate: Any, library: str = EDGETPU_LIBRARY) -> tuple[Any, str]:
    """(delegate or None, why not)."""
    try:
        # Probe with ctypes first: LiteRT's load_delegate leaves a half-built
        # object behind on a missing library, which prints a traceback at exit.
        ctypes.CDLL(library)
    except OSError as e:
        return None, f"{library} is not installed ({e}); install libedgetpu1-std"
    try:
        return load_delegate(library), ""
    except (ValueError, RuntimeError, OSError) as e:
        # The library loads but finds no device: unplugged, no permission on
        # /dev/apex_0 or the USB device, or the service sandbox hides it.
        reason = " ".join(str(e).split())
        return None, f"no Edge TPU device found ({reason})"


def load_tflite_backend(
    model_dir: Path, threads: int = 1, edgetpu: bool = False, pad_to: int | None = None
) -> TfliteBackend:
    """The CPU model, or with `edgetpu` the compiled model on the Edge TPU.

    Falls back to the CPU with exactly one warning when the Edge TPU cannot be
    used, so a Coral that is unplugged or not yet set up degrades the daemon
    to a few milliseconds slower instead of stopping it.
    """
    cpu_models = [p for p in (model_dir / TFLITE_NAME, model_dir / TFLITE_INT8_NAME) if p.is_file()]
    if edgetpu:
        _, load_delegate = _litert()
        compiled = next((model_dir / n for n in EDGETPU_NAMES if (model_dir / n).is_file()), None)
        if compiled is None:
            why = (
                f"no Edge TPU compiled model ({' or '.join(EDGETPU_NAMES)}) in {model_dir}: "
                f"compile {TFLITE_INT8_NAME} with edgetpu_compiler (docs/deploy.md)"
            )
        else:
            delegate, why = _edgetpu_delegate(load_delegate)
            if delegate is not None:
                return TfliteBackend(compiled, threads, delegates=[delegate], name="edgetpu")
        if not cpu_models:
            raise _model_load_error(
                f"backend edgetpu: {why}; and no {TFLITE_NAME} to run on the CPU instead"
            )
        log.warning(
            "Edge TPU not used: %s. Running %s on the CPU instead.", why, cpu_models[0].name
        )
    if not cpu_models:
        raise _model_load_error(
            f"model directory {model_dir} has no {TFLITE_NAME}: make one with "
            f"`python -m edged.training.export_tflite --model {model_dir}`"
        )
    return TfliteBackend(cpu_models[0], threads, pad_to=pad_to)


def load_backend(
    name: str, model_dir: Path, threads: int = 1, providers: list[str] | None = None
) -> Backend:
    """`providers` applies to onnxruntime only."""
    if name == "onnxruntime":
        path = model_dir / "model.onnx"
        if not path.is_file():
            raise _model_load_error(f"model directory {model_dir} has no model.onnx")
        return OnnxRuntimeBackend(path, threads=threads, providers=providers)
    if name in ("tflite", "edgetpu"):
        return load_tflite_backend(model_dir, threads=threads, edgetpu=name == "edgetpu")
    raise ValueError(f"unknown NLU backend {name!r} (known: {', '.join(BACKENDS)})")
