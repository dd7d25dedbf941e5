"""Inference backends: the same two outputs from ONNX Runtime or LiteRT."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class Backend(Protocol):
    name: str

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(intent_logits [batch, intents], slot_logits [batch, tokens, tags])."""
        ...


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(
        self, model_path: Path, threads: int = 1, providers: list[str] | None = None
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A daemon that answers one utterance at a time gains nothing from
        # spinning threads between calls; they only burn a Pi's CPU.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        wanted = providers or ["CPUExecutionProvider"]
        chosen = [p for p in wanted if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            log.warning("execution providers not available here: %s (have %s)", missing, available)
        self.session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=chosen or ["CPUExecutionProvider"]
        )
        self.providers = self.session.get_providers()

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        intent, slots = self.session.run(
            None, {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return intent, slots


def load_backend(
    name: str, model_dir: Path, threads: int = 1, providers: list[str] | None = None
) -> Backend:
    if name == "onnxruntime":
        path = model_dir / "model.onnx"
        if not path.is_file():
            from edged.nlu.model import ModelLoadError

            raise ModelLoadError(f"model directory {model_dir} has no model.onnx")
        return OnnxRuntimeBackend(path, threads=threads, providers=providers)
    raise ValueError(f"unknown NLU backend {name!r} (known: onnxruntime)")
