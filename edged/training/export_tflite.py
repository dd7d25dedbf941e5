"""ONNX -> TFLite for LiteRT on the CPU and, full-integer, for the Coral Edge TPU.

    python -m edged.training.export_tflite --model models/edged-nlu
    python -m edged.training.export_tflite --model models/edged-nlu --full-int8 --calibration 300

Two processes, two virtual environments, one module:

- The *orchestrator* (this command) runs in edged's own venv. It finds the FP32
  ONNX model, writes calibration data (sentences from the training templates,
  tokenized to the fixed length), starts the converter, and checks the result
  against the ONNX model with edged's own runtime code.
- The *worker* (`--worker spec.json`) runs in the converter venv
  (scripts/tflite-export-env.sh): onnxsim, onnx2tf and TensorFlow. onnx2tf pins
  TensorFlow 2.19, numpy 1.26 and onnx 1.19, which must not meet the daemon's
  numpy 2 or the training torch: hence the separate venv (~2.6 GB) and a
  subprocess. The worker imports nothing from edged but this file.

What comes out, beside model.onnx:

- `model.tflite`: INT8 weights, float activations ("dynamic range"), for LiteRT
  on the CPU. Not Edge TPU compatible (float activations).
- `model_int8.tflite` (`--full-int8`): weights and activations INT8, ranges
  calibrated on generated sentences. The input to `edgetpu_compiler`, which the
  user runs on an x86-64 machine (docs/deploy.md, "Coral Edge TPU").

Conversion settings, and why (onnx2tf 1.29.24, TensorFlow 2.19):
- Fixed shapes [1, tokens], tokens = labels.json max_tokens (48): the Edge TPU
  has no dynamic shapes, and onnx2tf fails on our dynamic-length graph (an
  Expand of a constant in the embeddings; with the token axis left dynamic it
  also mistakes [1, T, 384] tensors for channels-first and transposes them).
  onnxsim folds all shape arithmetic at the fixed length. The CPU backend pads
  each utterance to that length with attention_mask 0 (exact: padded keys are
  masked and the mean pooling is masked too).
- Exact graph rewrites first (`_rewrite`), checked against the original with
  onnxruntime: the constant token-type lookup; the padding mask as one finite
  additive bias instead of a 0/-inf Where per layer plus a NaN guard; the
  masked mean pooling as one MatMul; and, with --full-int8 --rescale-outliers
  (experimental), the few outlier dimensions of the residual stream rescaled
  (`_scale_outliers`). The last
  three exist for full-integer quantization, where each tensor gets a single
  INT8 scale over its calibrated range (-inf, a 48-token sum or one dimension
  at 215 next to hundreds within +-3 would leave the real values a few levels).
- `replace_to_pseudo_operators=["erf"]` (`-rtpo Erf` on the command line):
  GELU's Erf otherwise becomes a Flex (TensorFlow) op, which LiteRT cannot run.
- onnx2tf writes the dynamic-range file itself; the full-integer file comes
  from `tf.lite.TFLiteConverter` on onnx2tf's Keras model with our calibration
  data, because onnx2tf's own full-integer path calibrates float (image)
  inputs only, and ours are token ids. The calibration samples are given by
  input name: as a list they are matched to the signature's inputs in its own
  (alphabetical) order, which swapped token ids and mask.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("edged.export_tflite")

FP32_NAME = "model.fp32.onnx"
TFLITE_NAME = "model.tflite"
TFLITE_INT8_NAME = "model_int8.tflite"
DEFAULT_TOKENS = 48
DEFAULT_CALIBRATION = 300
# The additive attention mask for padded keys (see _rewrite): e^-20 of a real
# key's softmax weight is nothing, and the scores' INT8 range stays modest.
MASK_BIAS = 20.0
ENV_PYTHON = "EDGED_TFLITE_PYTHON"
# The repository's converter venv, made by scripts/tflite-export-env.sh.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_VENV = REPO_ROOT / ".venv-tflite"


class ExportError(RuntimeError):
    """The conversion could not be done; the message says what to do."""


# --- orchestrator (edged's venv) ------------------------------------------------------


@dataclass
class ExportResult:
    tflite: Path
    int8: Path | None
    tokens: int
    seconds: float
    parity: dict[str, Any]


def find_fp32(model_dir: Path, fp32: Path | None = None) -> Path:
    """The FP32 ONNX model: the converter needs float weights to quantize itself.
    The shipped model.onnx is already dynamic-INT8 (MatMulInteger,
    DynamicQuantizeLinear), which onnx2tf cannot turn into TFLite builtins."""
    path = fp32 or model_dir / FP32_NAME
    if not path.is_file():
        raise ExportError(
            f"no FP32 ONNX model at {path}. Train with `edged train --keep-fp32` (it writes "
            f"{FP32_NAME} beside model.onnx) or pass --fp32 PATH."
        )
    return path


def find_converter_python(explicit: str | None = None) -> str:
    """The converter venv's python: --converter-python, $EDGED_TFLITE_PYTHON,
    the repository's .venv-tflite, or this interpreter if it has onnx2tf."""
    for candidate in (explicit, os.environ.get(ENV_PYTHON)):
        if candidate:
            return candidate
    venv_python = DEFAULT_VENV / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    try:
        import onnx2tf  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        raise ExportError(
            "no converter environment: run scripts/tflite-export-env.sh (it makes .venv-tflite "
            f"with onnx2tf and tensorflow-cpu), or point --converter-python / ${ENV_PYTHON} "
            "at a python that has them"
        ) from None
    return sys.executable


def calibration_sentences(count: int, seed: int = 7) -> list[str]:
    """Generated sentences over every intent, out-of-scope included: the
    activation ranges must cover what the daemon will see, not one intent."""
    from edged.training.data import DEFAULT_COUNTS, generate_examples

    per = max(2, count // 20 + 1)
    examples = generate_examples(seed=seed, per_intent=per, counts={k: per for k in DEFAULT_COUNTS})
    rng = random.Random(seed)
    rng.shuffle(examples)
    return [ex.text for ex in examples[:count]]


def tokenize_fixed(tokenizer_path: Path, texts: Sequence[str], tokens: int) -> dict[str, Any]:
    """input_ids / attention_mask [n, tokens] int64, padded with 0 as the
    fixed-length backends pad at run time."""
    import numpy as np
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    tok.enable_truncation(tokens)
    ids = np.zeros((len(texts), tokens), dtype=np.int64)
    mask = np.zeros((len(texts), tokens), dtype=np.int64)
    for i, text in enumerate(texts):
        enc = tok.encode(text)
        ids[i, : len(enc.ids)] = enc.ids
        mask[i, : len(enc.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def parity(
    model_dir: Path, tflite: Path, texts: Sequence[str], reference: str = "model.onnx"
) -> dict[str, Any]:
    """Intent agreement of the TFLite file with the ONNX model, through the
    same backends the daemon uses (so padding and output mapping are checked too)."""
    import numpy as np
    from tokenizers import Tokenizer

    from edged.nlu.backends import OnnxRuntimeBackend, TfliteBackend

    onnx = OnnxRuntimeBackend(model_dir / reference)
    lite = TfliteBackend(tflite)
    meta = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(int(meta.get("max_tokens", DEFAULT_TOKENS)))
    same = 0
    slot_same = 0
    tokens_same = tokens_total = 0
    max_diff = 0.0
    disagreements: list[dict[str, str]] = []
    for text in texts:
        ids = np.asarray([tok.encode(text).ids], dtype=np.int64)
        mask = np.ones_like(ids)
        a_int, a_slot = onnx.run(ids, mask)
        b_int, b_slot = lite.run(ids, mask)
        ia, ib = int(a_int[0].argmax()), int(b_int[0].argmax())
        same += ia == ib
        tags_equal = a_slot[0].argmax(-1) == b_slot[0].argmax(-1)
        slot_same += bool(tags_equal.all())
        tokens_same += int(tags_equal.sum())
        tokens_total += tags_equal.size
        max_diff = max(max_diff, float(np.abs(a_int - b_int).max()))
        if ia != ib and len(disagreements) < 10:
            disagreements.append(
                {"text": text, "onnx": meta["intents"][ia], "tflite": meta["intents"][ib]}
            )
    n = max(1, len(texts))
    return {
        "reference": reference,
        "sentences": len(texts),
        "intent_agreement": same / n,
        "slot_tags_agreement": slot_same / n,
        "slot_token_agreement": tokens_same / max(1, tokens_total),
        "max_intent_logit_diff": round(max_diff, 4),
        "disagreements": disagreements,
    }


def export_tflite(
    model_dir: Path,
    out: Path | None = None,
    fp32: Path | None = None,
    full_int8: bool = False,
    calibration: int = DEFAULT_CALIBRATION,
    tokens: int | None = None,
    converter_python: str | None = None,
    check: int = 100,
    keep_work: Path | None = None,
    rescale_outliers: bool = False,
) -> ExportResult:
    started = time.perf_counter()
    model_dir = Path(model_dir)
    source = find_fp32(model_dir, fp32)
    meta = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    # The fixed length: labels.json max_tokens, the most the tokenizer keeps,
    # so padding never cuts an utterance.
    length = tokens or int(meta.get("max_tokens", DEFAULT_TOKENS))
    out = out or model_dir / TFLITE_NAME
    int8_out = out.with_name(TFLITE_INT8_NAME) if full_int8 else None
    python = find_converter_python(converter_python)
    work = keep_work or Path(tempfile.mkdtemp(prefix="edged-tflite-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        spec: dict[str, Any] = {
            "fp32": str(source),
            "work": str(work),
            "tokens": length,
            "dynamic_range": str(out),
            "full_int8": str(int8_out) if int8_out else None,
            "calibration": None,
            "rescale_outliers": rescale_outliers,
        }
        if full_int8:
            import numpy as np

            texts = calibration_sentences(calibration)
            arrays = tokenize_fixed(model_dir / "tokenizer.json", texts, length)
            np.savez(work / "calibration.npz", **arrays)
            spec["calibration"] = str(work / "calibration.npz")
            log.info("calibration: %d sentences, %d tokens", len(texts), length)
        (work / "spec.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
        _run_worker(python, work)
        # The check uses sentences of another seed than the calibration's.
        texts = calibration_sentences(check, seed=101) if check else []
        checks: dict[str, Any] = {}
        for path in (out, int8_out):
            if path is None or not texts:
                continue
            try:
                checks[path.name] = parity(model_dir, path, texts)
            except RuntimeError as e:  # ModelLoadError: e.g. a Flex op slipped in
                raise ExportError(f"{path} does not run in LiteRT: {e}") from e
        return ExportResult(out, int8_out, length, time.perf_counter() - started, checks)
    finally:
        if keep_work is None:
            shutil.rmtree(work, ignore_errors=True)


def _run_worker(python: str, work: Path) -> None:
    env = dict(os.environ)
    # The worker imports this file as edged.training.export_tflite from the
    # source tree, without installing edged (and its numpy 2) into that venv.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    logfile = work / "convert.log"
    cmd = [python, "-m", "edged.training.export_tflite", "--worker", str(work / "spec.json")]
    log.info("converting in %s (log: %s)", python, logfile)
    with logfile.open("w", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if rc.returncode != 0:
        tail = logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        raise ExportError(
            f"the converter failed (exit {rc.returncode}); last lines of {logfile}:\n"
            + "\n".join(tail)
        )


# --- worker (converter venv: onnxsim, onnx2tf, tensorflow) ------------------------------


def worker(spec_path: Path) -> None:  # pragma: no cover - runs in the converter venv
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    work = Path(spec["work"])
    length = int(spec["tokens"])
    # --rescale-outliers (with --full-int8): the outlier rescaling joins the
    # rewrites; both files then come from that graph (exact in float: the
    # dynamic-range file's parity is the same either way).
    calibration = (
        Path(spec["calibration"])
        if spec.get("calibration") and spec.get("rescale_outliers")
        else None
    )
    source = _simplify(_rewrite(Path(spec["fp32"]), work, calibration=calibration), work, length)
    saved = work / "saved_model"
    keras_model = _onnx2tf(source, saved)
    produced = saved / f"{source.stem}_dynamic_range_quant.tflite"
    if not produced.is_file():
        raise SystemExit(f"onnx2tf wrote no {produced.name}; see the log above")
    shutil.copyfile(produced, spec["dynamic_range"])
    size = produced.stat().st_size / 1e6
    print(f"wrote {spec['dynamic_range']} ({size:.1f} MB, [1, {length}])", flush=True)
    if spec.get("full_int8"):
        _full_int8(keras_model, Path(spec["calibration"]), Path(spec["full_int8"]), length)


def _rewrite(
    fp32: Path, work: Path, mask_bias: float = MASK_BIAS, calibration: Path | None = None
) -> Path:  # pragma: no cover
    """Exact rewrites of the exported BERT graph, checked against the original
    with onnxruntime before anything else runs. They leave fewer, plainer ops
    for the converter and the Edge TPU compiler, and tensors whose ranges one
    INT8 scale can hold:

    - token type embeddings: edged never passes token_type_ids, so the model
      looks up row 0 through Expand/GatherElements on a constant buffer (an
      Expand of a constant that onnx2tf cannot convert unless onnxsim folds
      it); it becomes that row, a constant broadcast over the tokens.
    - the attention mask: transformers builds a boolean [batch, 1, T, T] mask
      with Range/Gather/And/Expand, turns it into 0 / -inf with a Where in
      every layer, adds that to the scores, and guards the softmax against the
      NaN of an all-masked row (IsNaN, Where). For a padding-only mask this is
      one additive bias (attention_mask - 1) * MASK_BIAS as [batch, 1, 1, T],
      computed once. A finite bias matters for full-integer quantization: each
      tensor gets one INT8 scale over its calibrated range, and a range that
      reaches -inf (or float32 min) leaves every real score the same INT8
      value. MASK_BIAS is small enough to keep the scores' scale fine and
      large enough that a padded key's softmax weight (e^-MASK_BIAS of a real
      one) vanishes; with a finite bias no row can be NaN, so the guard goes.
    - the masked mean pooling: Mul by the mask, ReduceSum, ReduceSum of the
      mask, Clip, Div becomes one MatMul of the weights mask / count
      [batch, 1, T] with the hidden states: the same mean, but no [batch, 384]
      sum over 48 tokens whose INT8 range is ~48 times the hidden states'.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    token_type = [
        n
        for n in graph.node
        if n.op_type == "Gather" and n.input[0].endswith("token_type_embeddings.weight")
    ]
    wheres = [
        n for n in graph.node if n.op_type == "Where" and n.name.endswith("attention/self/Where")
    ]
    conditions = {n.input[0] for n in wheres}
    if len(token_type) != 1 or len(conditions) != 1:
        # Another exporter's graph: onnxsim's folding at a fixed length may
        # still be enough, so convert it as it is.
        print("graph rewrite skipped: not the graph edged's exporter writes", flush=True)
        return fp32
    row = numpy_helper.to_array(inits[token_type[0].input[0]])[0:1][None].astype(np.float32)
    graph.node.remove(token_type[0])
    graph.initializer.append(numpy_helper.from_array(row, token_type[0].output[0]))

    def constant(name: str, value: Any) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def rename_input(old: str, new: str) -> None:
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new

    # One bias for all layers: (mask - 1) * C, [batch, 1, 1, T].
    bias_nodes = [
        helper.make_node(
            "Cast", ["attention_mask"], ["edged_mask_f"], to=TensorProto.FLOAT, name="edged_cast"
        ),
        helper.make_node(
            "Sub",
            ["edged_mask_f", constant("edged_one", np.float32(1.0))],
            ["edged_mask_m1"],
            name="edged_mask_sub",
        ),
        helper.make_node(
            "Mul",
            ["edged_mask_m1", constant("edged_mask_c", np.float32(mask_bias))],
            ["edged_mask_bias2d"],
            name="edged_mask_mul",
        ),
        helper.make_node(
            "Unsqueeze",
            ["edged_mask_bias2d", constant("edged_mask_axes", np.array([1, 2], dtype=np.int64))],
            ["edged_mask_bias"],
            name="edged_mask",
        ),
    ]
    for where in wheres:
        graph.node.remove(where)
        rename_input(where.output[0], "edged_mask_bias")
    # The NaN guard after each softmax: IsNaN(p) -> Where(isnan, 0, p) is p.
    for nan in [n for n in graph.node if n.op_type == "IsNaN"]:
        guard = [n for n in graph.node if n.op_type == "Where" and n.input[0] == nan.output[0]]
        if len(guard) != 1 or guard[0].input[2] != nan.input[0]:
            raise SystemExit(f"graph rewrite: unexpected NaN guard at {nan.name}")
        graph.node.remove(nan)
        graph.node.remove(guard[0])
        rename_input(guard[0].output[0], nan.input[0])
    # The masked mean pooling, if it is the one edged's model writes.
    pooled = _rewrite_pooling(graph, constant)
    for node in reversed(bias_nodes):
        graph.node.insert(0, node)
    scaled = _scale_outliers(model, calibration) if calibration is not None else []
    for line in scaled:
        print(f"graph rewrite: outlier dimensions rescaled in {line}", flush=True)
    # The old condition's producers are now dead ends; onnxsim drops them.
    path = work / "model_rewritten.onnx"
    onnx.save(model, str(path))
    print(
        f"graph rewrite: token types constant, mask bias -{mask_bias:g} in "
        f"{len(wheres)} layers, pooling {'as a MatMul' if pooled else 'left as is'}",
        flush=True,
    )
    # The rewrite must not change a single decision: compare with the original,
    # unpadded and padded, before spending minutes on the conversion.
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    before = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
    after = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for real, padded in ((5, 5), (17, 17), (9, 32), (3, 48), (20, 48)):
        ids = np.zeros((1, padded), dtype=np.int64)
        ids[0, :real] = rng.integers(1000, 20000, size=real)
        ids[0, 0], ids[0, real - 1] = 101, 102
        mask = (ids != 0).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        for a, b in zip(before.run(None, feed), after.run(None, feed), strict=True):
            # Slot logits of padded positions are never read.
            a, b = a[..., :real, :] if a.ndim == 3 else a, b[..., :real, :] if b.ndim == 3 else b
            diff = float(np.abs(a - b).max())
            worst = max(worst, diff)
            if diff > 1e-3 or (a.argmax(-1) != b.argmax(-1)).any():
                raise SystemExit(f"graph rewrite changed the outputs by {diff}")
    print(f"graph rewrite checked against the original: max diff {worst:.1e}", flush=True)
    return path


def _rewrite_pooling(graph: Any, constant: Any) -> bool:  # pragma: no cover
    """Mul(h, mask) -> ReduceSum / Clip(ReduceSum(mask), 1) as
    MatMul(mask / Clip(ReduceSum(mask), 1) as [batch, 1, T], h) -> [batch, 384].
    False (and the graph untouched) if the pooling is not that pattern."""
    import numpy as np
    from onnx import helper

    by_output = {o: n for n in graph.node for o in n.output}
    divs = [n for n in graph.node if n.op_type == "Div" and n.input[1] in by_output]
    for div in divs:
        clip, total = by_output.get(div.input[1]), by_output.get(div.input[0])
        if clip is None or total is None or clip.op_type != "Clip" or total.op_type != "ReduceSum":
            continue
        count = by_output.get(clip.input[0])
        mul = by_output.get(total.input[0])
        if count is None or mul is None or count.op_type != "ReduceSum" or mul.op_type != "Mul":
            continue
        mask3d = count.input[0]  # [batch, T, 1] float
        if mask3d not in mul.input:
            continue
        hidden = next(i for i in mul.input if i != mask3d)
        weights = [
            helper.make_node(
                "Div", [mask3d, clip.output[0]], ["edged_pool_w"], name="edged_pool_w"
            ),
            helper.make_node(
                "Transpose",
                ["edged_pool_w"],
                ["edged_pool_wt"],
                perm=[0, 2, 1],
                name="edged_pool_t",
            ),
            helper.make_node(
                "MatMul", ["edged_pool_wt", hidden], ["edged_pool_m"], name="edged_pool"
            ),
            helper.make_node(
                "Squeeze",
                ["edged_pool_m", constant("edged_pool_axes", np.array([1], dtype=np.int64))],
                [div.output[0]],
                name="edged_pool_squeeze",
            ),
        ]
        # Where the Div was: after the Clip (Mul and ReduceSum, both before
        # the Div, go too), before the heads.
        index = list(graph.node).index(div) - 2
        for node in (div, total, mul):
            graph.node.remove(node)
        for offset, node in enumerate(weights):
            graph.node.insert(index + offset, node)
        return True
    return False


def _scale_outliers(model: Any, calibration: Path) -> list[str]:  # pragma: no cover
    """Per-dimension rescaling of the residual stream before each block's last
    layer norm, exact in float, so that one INT8 scale per tensor fits it.

    MiniLM (like BERT) carries a few hidden dimensions whose values after the
    feed-forward residual reach ~200 (dimension 99: 215 in layer 0) while the
    others stay within ~3: with one scale for the whole tensor every ordinary
    dimension rounds to a handful of levels, and the layer norm after it
    breaks. For a block with such dimensions (calibrated max above twice the
    99th percentile of the per-dimension maxima, T), with s_i = max_i / T on
    those dimensions and 1 elsewhere, the graph computes x' = x / s instead
    of x (the feed-forward output projection's columns and bias divided by s,
    the residual multiplied by 1/s) and the layer norm of x from x':

        mean = mean(x') + sum_o (s_o - 1) x'_o / N
        d'   = x' - mean / s                        (d' = (x - mean) / s)
        var  = mean(d'^2) + sum_o (s_o^2 - 1) d'_o^2 / N
        y    = d' * (var + eps)^-1/2 * (gamma * s) + beta

    the two sums over the outlier dimensions o as a MatMul with one-hot
    columns, so each weight is exact in INT8. Returns the layers rewritten."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    by_output = {o: n for n in graph.node for o in n.output}
    blocks = []
    for ln in graph.node:
        if ln.op_type != "LayerNormalization" or not ln.name.endswith(
            "/output/LayerNorm/LayerNormalization"
        ):
            continue
        if "attention" in ln.name:
            continue
        add = by_output.get(ln.input[0])
        if add is None or add.op_type != "Add":
            continue
        dense_add = next(
            (
                by_output.get(i)
                for i in add.input
                if by_output.get(i) is not None and by_output[i].name.endswith("output/dense/Add")
            ),
            None,
        )
        if dense_add is None:
            continue
        matmul = next((by_output.get(i) for i in dense_add.input if i in by_output), None)
        bias = next((i for i in dense_add.input if i in inits), None)
        if (
            matmul is None
            or matmul.op_type != "MatMul"
            or bias is None
            or matmul.input[1] not in inits
        ):
            continue
        residual = next(i for i in add.input if i != dense_add.output[0])
        blocks.append((ln, add, dense_add, matmul, bias, residual))
    if not blocks:
        return []
    # Calibrated per-dimension maxima of each block's x, padded positions too
    # (they are in the same tensors).
    probe = type(model)()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    for _, add, *_ in blocks:
        probe.graph.output.append(
            helper.make_tensor_value_info(add.output[0], TensorProto.FLOAT, None)
        )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    data = np.load(calibration)
    maxima = None
    for i in range(min(100, len(data["input_ids"]))):
        feed = {
            "input_ids": data["input_ids"][i : i + 1],
            "attention_mask": data["attention_mask"][i : i + 1],
        }
        outs = np.stack([np.abs(o[0]).max(0) for o in session.run(None, feed)])
        maxima = outs if maxima is None else np.maximum(maxima, outs)
    assert maxima is not None
    rewritten = []
    for k, (ln, add, dense_add, matmul, bias, residual) in enumerate(blocks):
        m = maxima[k].astype(np.float64)
        typical = float(np.percentile(m, 99))
        outliers = np.flatnonzero(m > 2 * typical)
        if len(outliers) == 0:
            continue
        n = m.shape[0]
        scale = np.ones(n)
        scale[outliers] = m[outliers] / typical
        p = f"edged_ln{k}_"

        def const(name: str, value: Any, dtype: Any = np.float32, p: str = p) -> str:
            graph.initializer.append(
                numpy_helper.from_array(np.asarray(value, dtype=dtype), p + name)
            )
            return p + name

        w = numpy_helper.to_array(inits[matmul.input[1]]).astype(np.float64)
        b = numpy_helper.to_array(inits[bias]).astype(np.float64)
        matmul.input[1] = const("w_out", w / scale)
        dense_add.input[list(dense_add.input).index(bias)] = const("b_out", b / scale)
        gamma = numpy_helper.to_array(inits[ln.input[1]]).astype(np.float64)
        beta = numpy_helper.to_array(inits[ln.input[2]]).astype(np.float64)
        eps = next((a.f for a in ln.attribute if a.name == "epsilon"), 1e-5)
        mean_w = np.zeros((n, len(outliers)))
        var_w = np.zeros((n, len(outliers)))
        for j, o in enumerate(outliers):
            mean_w[o, j] = (scale[o] - 1) / n
            var_w[o, j] = (scale[o] ** 2 - 1) / n
        x, y = add.output[0], ln.output[0]
        res = p + "res"
        add.input[list(add.input).index(residual)] = res
        nodes = [
            helper.make_node("Mul", [residual, const("inv_s", 1 / scale)], [res], name=p + "res"),
            helper.make_node("ReduceMean", [x], [p + "m0"], axes=[-1], keepdims=1, name=p + "m0"),
            helper.make_node("MatMul", [x, const("mean_w", mean_w)], [p + "m1"], name=p + "m1"),
            helper.make_node(
                "ReduceSum",
                [p + "m1", const("axes", [-1], np.int64)],
                [p + "m2"],
                keepdims=1,
                name=p + "m2",
            ),
            helper.make_node("Add", [p + "m0", p + "m2"], [p + "mean"], name=p + "mean"),
            helper.make_node("Mul", [p + "mean", p + "inv_s"], [p + "ms"], name=p + "ms"),
            helper.make_node("Sub", [x, p + "ms"], [p + "d"], name=p + "d"),
            helper.make_node("Mul", [p + "d", p + "d"], [p + "d2"], name=p + "d2"),
            helper.make_node(
                "ReduceMean", [p + "d2"], [p + "v0"], axes=[-1], keepdims=1, name=p + "v0"
            ),
            helper.make_node(
                "MatMul", [p + "d2", const("var_w", var_w)], [p + "v1"], name=p + "v1"
            ),
            helper.make_node(
                "ReduceSum", [p + "v1", p + "axes"], [p + "v2"], keepdims=1, name=p + "v2"
            ),
            helper.make_node("Add", [p + "v0", p + "v2"], [p + "v3"], name=p + "v3"),
            helper.make_node("Add", [p + "v3", const("eps", eps)], [p + "var"], name=p + "var"),
            helper.make_node(
                "Pow", [p + "var", const("half", -0.5)], [p + "rstd"], name=p + "rstd"
            ),
            helper.make_node("Mul", [p + "d", p + "rstd"], [p + "n"], name=p + "n"),
            helper.make_node(
                "Mul", [p + "n", const("gamma", gamma * scale)], [p + "g"], name=p + "g"
            ),
            helper.make_node("Add", [p + "g", const("beta", beta)], [y], name=p + "y"),
        ]
        index = list(graph.node).index(ln)
        graph.node.remove(ln)
        for offset, node in enumerate(nodes[1:]):
            graph.node.insert(index + offset, node)
        graph.node.insert(list(graph.node).index(add), nodes[0])
        rewritten.append(
            f"{ln.name.split('/')[-4]}: dims {', '.join(f'{o} (/{scale[o]:.0f})' for o in outliers)}"
        )
    return rewritten


def _simplify(onnx_path: Path, work: Path, length: int) -> Path:  # pragma: no cover
    """Fixed shapes [1, length]; onnxsim then folds all the shape arithmetic."""
    import onnx
    from onnxsim import simplify

    model = onnx.load(str(onnx_path))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_value = 1
        # The token axis, where there is one: not intent_logits' [batch, 22].
        if len(dims) > 1 and not dims[1].dim_value:
            dims[1].dim_value = length
    simplified, ok = simplify(model)
    if not ok:
        raise SystemExit("onnxsim could not validate the simplified model")
    # onnx2tf rewrites its input file in place: it only ever sees this copy.
    path = work / "model_static.onnx"
    onnx.save(simplified, str(path))
    print(f"[1, {length}] graph: {len(simplified.graph.node)} nodes", flush=True)
    return path


def _onnx2tf(onnx_path: Path, saved: Path) -> Any:  # pragma: no cover
    """The Keras model onnx2tf builds; it also writes the SavedModel and the
    float and dynamic-range .tflite files into `saved`."""
    import onnx2tf

    return onnx2tf.convert(
        input_onnx_file_path=str(onnx_path),
        output_folder_path=str(saved),
        output_signaturedefs=True,
        copy_onnx_input_output_names_to_tflite=True,
        output_dynamic_range_quantized_tflite=True,
        replace_to_pseudo_operators=["erf"],  # lower case: the API does not fold it
        non_verbose=True,
    )


def _full_int8(
    keras_model: Any, calibration: Path, out: Path, length: int
) -> None:  # pragma: no cover
    """Full-integer conversion of onnx2tf's Keras model (not its SavedModel:
    the SavedModel keeps tf.Erf, a Flex op, where the Keras model has the
    builtin-op replacement that `replace_to_pseudo_operators` asked for)."""
    import numpy as np
    import tensorflow as tf

    data = np.load(calibration)
    arrays = {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}
    inputs = list(keras_model.inputs)
    names = [next(k for k in arrays if k in t.name) for t in inputs]
    for t in inputs:
        if list(t.shape) != [1, length]:
            raise SystemExit(f"expected fixed inputs [1, {length}], found {t.name} {t.shape}")

    def representative() -> Any:
        # By name, not as a list: the converter takes a list in the order of
        # its signature's inputs (attention_mask, input_ids: alphabetical),
        # not of keras_model.inputs (input_ids, attention_mask). A list fed
        # the token ids as the mask and the mask as token ids, and every
        # activation range was calibrated on that (3.5 % intent agreement).
        for i in range(len(arrays["input_ids"])):
            yield {
                name: arrays[name][i : i + 1].astype(t.dtype.as_numpy_dtype)
                for name, t in zip(names, inputs, strict=True)
            }

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Ask for builtin INT8 kernels only. TF 2.19 still leaves ops it cannot
    # quantize in float between QUANTIZE/DEQUANTIZE pairs (for our encoder:
    # 26/32 of them) instead of failing; the compiler's report shows them.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # INT8 logits out; the backend dequantizes them with the output scale.
    converter.inference_output_type = tf.int8
    out.write_bytes(converter.convert())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, [1, {length}])", flush=True)


# --- command line -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m edged.training.export_tflite",
        description="Convert the FP32 ONNX model to TFLite (CPU) and, with --full-int8, to a "
        "full-integer model for edgetpu_compiler.",
    )
    ap.add_argument("--model", type=Path, default=Path("models/edged-nlu"), help="model directory")
    ap.add_argument("--out", type=Path, default=None, help="CPU model (default MODEL/model.tflite)")
    ap.add_argument(
        "--fp32", type=Path, default=None, help=f"FP32 ONNX (default MODEL/{FP32_NAME})"
    )
    ap.add_argument(
        "--full-int8",
        action="store_true",
        help=f"also write {TFLITE_INT8_NAME} (full-integer, for the Edge TPU)",
    )
    ap.add_argument(
        "--calibration", type=int, default=DEFAULT_CALIBRATION, help="calibration sentences"
    )
    ap.add_argument(
        "--tokens", type=int, default=None, help="fixed length (default labels.json max_tokens)"
    )
    ap.add_argument(
        "--check", type=int, default=100, help="sentences for the parity check (0: none)"
    )
    ap.add_argument(
        "--converter-python", default=None, help=f"python of the converter venv (${ENV_PYTHON})"
    )
    ap.add_argument("--keep-work", type=Path, default=None, help="keep intermediate files here")
    ap.add_argument(
        "--rescale-outliers",
        action="store_true",
        help="with --full-int8: also rescale the residual stream's outlier dimensions "
        "(exact in float; experimental, its INT8 agreement is not measured yet)",
    )
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker is not None:  # pragma: no cover - the converter venv's side
        worker(args.worker)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = export_tflite(
            args.model,
            out=args.out,
            fp32=args.fp32,
            full_int8=args.full_int8,
            calibration=args.calibration,
            tokens=args.tokens,
            converter_python=args.converter_python,
            check=args.check,
            keep_work=args.keep_work,
            rescale_outliers=args.rescale_outliers,
        )
    except ExportError as e:
        print(f"export_tflite: {e}", file=sys.stderr)
        return 1
    for path in (result.tflite, result.int8):
        if path is not None:
            print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, [1, {result.tokens}] tokens")
    for name, p in result.parity.items():
        print(
            f"{name} vs {p['reference']}: intents {p['intent_agreement']:.1%}, "
            f"all slot tags {p['slot_tags_agreement']:.1%} of {p['sentences']} sentences "
            f"({p['slot_token_agreement']:.1%} of tokens) "
            f"(max intent logit diff {p['max_intent_logit_diff']})"
        )
        for d in p["disagreements"]:
            print(f"  {d['text']!r}: onnx {d['onnx']}, tflite {d['tflite']}")
    print(f"done in {result.seconds:.0f} s")
    if result.int8 is not None:
        print(
            f"Next, on an x86-64 machine with the Edge TPU compiler: "
            f"edgetpu_compiler -s -o {result.int8.parent} {result.int8}  (docs/deploy.md)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
