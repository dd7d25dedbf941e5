"""Export a trained joint model to ONNX and quantize it to INT8.

Why plain `torch.onnx.export` + `onnxruntime.quantization.quantize_dynamic`
rather than optimum's exporter: our model is an encoder with two custom heads,
not one of optimum's registered task architectures, and optimum's
`ORTQuantizer` calls the same `quantize_dynamic` underneath while pinning
transformers to an older major version. The result is the same file with two
fewer heavy dependencies.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

FP32_NAME = "model.fp32.onnx"
INT8_NAME = "model.onnx"


def export_onnx(model: Any, out_path: Path, opset: int = 17) -> Path:
    import torch

    model.eval()
    ids = torch.tensor([[101, 2735, 2125, 1996, 3829, 4597, 102]], dtype=torch.long)
    mask = torch.ones_like(ids)
    torch.onnx.export(
        model,
        (ids, mask),
        str(out_path),
        input_names=["input_ids", "attention_mask"],
        output_names=["intent_logits", "slot_logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "intent_logits": {0: "batch"},
            "slot_logits": {0: "batch", 1: "tokens"},
        },
        opset_version=opset,
        dynamo=False,
    )
    return out_path


def quantize_int8(fp32_path: Path, int8_path: Path) -> Path:
    """Dynamic INT8: weights quantized ahead of time, activations at run time.
    No calibration data needed, and accuracy stays within noise of FP32."""

    import logging

    # The quantizer logs every tensor it skips at INFO on the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        return _quantize(fp32_path, int8_path)
    finally:
        root.setLevel(level)


def _quantize(fp32_path: Path, int8_path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = fp32_path.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
    except Exception:  # pre-processing is an optimisation; fall back to the raw graph
        shutil.copyfile(fp32_path, pre)
    quantize_dynamic(
        str(pre),
        str(int8_path),
        weight_type=QuantType.QInt8,
        per_channel=False,
        op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        extra_options={"EnableSubgraph": False},
    )
    pre.unlink(missing_ok=True)
    return int8_path


def save_tokenizer(tokenizer: Any, out_dir: Path) -> None:
    """The runtime needs only tokenizer.json (the `tokenizers` format)."""
    tmp = out_dir / ".tok"
    tokenizer.save_pretrained(str(tmp))
    shutil.copyfile(tmp / "tokenizer.json", out_dir / "tokenizer.json")
    shutil.rmtree(tmp)
