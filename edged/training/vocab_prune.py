"""Prune a Unigram (SentencePiece) encoder's vocabulary to the pieces a domain uses.

multilingual-e5-small has 250,037 embedding rows for about 100 languages;
in INT8 they alone are 96 MB, where the whole of edged's English model is 19.
A smart-home model for six European languages needs a small part of them:

* every piece the tokenizer produces on Home Assistant's template sentences
  of those languages (the model's domain),
* the special pieces (`<s>`, `<pad>`, `</s>`, `<unk>`),
* a fallback for words no template has (users' device and room names): every
  single-character piece of the scripts those languages write, so any word
  still splits into known pieces and never into `<unk>`, and the most
  probable multi-character pieces of those scripts (by the Unigram model's own
  log-probability), so common words keep pieces of a useful size.

Unigram tokenization picks the most probable segmentation; the best
segmentation of every corpus sentence uses only kept pieces, so pruning
leaves the corpus's token sequences exactly as they were (the ids are
renumbered). Words outside it may split into smaller pieces than before.

This is a different thing from `edged.training.vocab` (generated device and
room names for training sentences); it only reads tokenizer.json and the
model's weights. Training-time only.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

METASPACE = "\u2581"
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
LANGUAGES = ("en", "de", "fr", "es", "nl", "it")

# A few names, areas and floors per language, only to give templates words.
FILL: dict[str, dict[str, list[str]]] = {
    "en": {
        "name": ["ceiling light", "reading lamp", "front door"],
        "area": ["kitchen", "living room"],
        "floor": ["ground floor"],
    },
    "de": {
        "name": ["Deckenlampe", "Stehlampe", "Haustür"],
        "area": ["Küche", "Wohnzimmer", "Schlafzimmer"],
        "floor": ["Erdgeschoss"],
    },
    "fr": {
        "name": ["plafonnier", "lampe de chevet", "porte d'entrée"],
        "area": ["cuisine", "salon", "chambre"],
        "floor": ["rez-de-chaussée"],
    },
    "es": {
        "name": ["lámpara del techo", "luz de lectura", "puerta principal"],
        "area": ["cocina", "salón", "dormitorio"],
        "floor": ["planta baja"],
    },
    "nl": {
        "name": ["plafondlamp", "leeslamp", "voordeur"],
        "area": ["keuken", "woonkamer", "slaapkamer"],
        "floor": ["begane grond"],
    },
    "it": {
        "name": ["plafoniera", "lampada da lettura", "porta d'ingresso"],
        "area": ["cucina", "soggiorno", "camera da letto"],
        "floor": ["piano terra"],
    },
}


def template_sentences(language: str, per_intent: int = 2000) -> list[str]:
    """Home Assistant's template sentences for `language`, enumerated by
    hassil (the first `per_intent` of each intent), with `FILL`'s words."""
    from hassil.intents import Intents, TextSlotList
    from hassil.sample import sample_intents
    from home_assistant_intents import get_intents

    data = get_intents(language)
    if data is None:
        raise ValueError(f"home-assistant-intents has no language {language!r}")
    intents = Intents.from_dict(data)
    fill = FILL.get(language, FILL["en"])
    lists: dict[str, Any] = {k: TextSlotList.from_strings(v) for k, v in fill.items()}
    return [
        text
        for _, text in sample_intents(
            intents, lists, max_sentences_per_intent=per_intent, language=language
        )
    ]


def piece_in_scripts(piece: str, scripts: tuple[str, ...] = ("LATIN",)) -> bool:
    """True when every character of `piece` is a letter of `scripts`, a
    digit, punctuation, a symbol or the metaspace."""
    for ch in piece:
        if ch == METASPACE or ch.isdigit():
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "PS" and ord(ch) < 0x3000:
            continue
        if cat[0] in "LM":
            name = unicodedata.name(ch, "")
            if any(name.startswith(s) for s in scripts):
                continue
        return False
    return True


def unigram_vocab(tokenizer_json: dict[str, Any]) -> list[tuple[str, float]]:
    model = tokenizer_json["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"not a Unigram tokenizer: {model.get('type')}")
    return [(p, float(s)) for p, s in model["vocab"]]


def count_pieces(tokenizer: Any, sentences: Iterable[str], batch: int = 4096) -> Counter[int]:
    """How often each piece id occurs in `sentences` (a `tokenizers.Tokenizer`)."""
    counts: Counter[int] = Counter()
    chunk: list[str] = []
    for text in sentences:
        chunk.append(text)
        if len(chunk) == batch:
            for enc in tokenizer.encode_batch(chunk):
                counts.update(enc.ids)
            chunk = []
    if chunk:
        for enc in tokenizer.encode_batch(chunk):
            counts.update(enc.ids)
    return counts


def template_counts(
    tokenizer: Any, languages: Iterable[str], per_intent: int
) -> tuple[Counter[int], int]:
    """Piece counts over the template sentences of `languages`, and how many
    sentences there were."""
    used: Counter[int] = Counter()
    sentences = 0
    for lang in languages:
        texts = template_sentences(lang, per_intent)
        sentences += len(texts)
        used.update(count_pieces(tokenizer, texts))
    return used, sentences


def fallback_ids(
    vocab: list[tuple[str, float]], top: int, scripts: tuple[str, ...] = ("LATIN",)
) -> set[int]:
    """Every single-character piece of `scripts` (with and without the
    metaspace) and the `top` most probable longer pieces of them."""
    singles: set[int] = set()
    longer: list[tuple[float, int]] = []
    for i, (piece, score) in enumerate(vocab):
        if piece in SPECIALS or not piece_in_scripts(piece, scripts):
            continue
        if len(piece.removeprefix(METASPACE)) <= 1:
            singles.add(i)
        else:
            longer.append((score, i))
    longer.sort(reverse=True)
    return singles | {i for _, i in longer[:top]}


def keep_ids(
    vocab: list[tuple[str, float]], used: Iterable[int], fallback: Iterable[int]
) -> list[int]:
    """The kept old ids in their old order (so the specials keep ids 0-3)."""
    specials = {i for i, (p, _) in enumerate(vocab) if p in SPECIALS}
    return sorted(specials | set(used) | set(fallback))


def pruned_tokenizer_json(tokenizer_json: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """tokenizer.json with only `keep` (old ids, new order) in the Unigram
    vocabulary, and every id that points into it renumbered."""
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tokenizer_json))
    vocab = out["model"]["vocab"]
    out["model"]["vocab"] = [vocab[i] for i in keep]
    unk = out["model"].get("unk_id")
    if unk is not None:
        out["model"]["unk_id"] = new_id[unk]
    kept_added = []
    for tok in out.get("added_tokens") or []:
        if tok["id"] in new_id:
            kept_added.append({**tok, "id": new_id[tok["id"]]})
    out["added_tokens"] = kept_added
    post = out.get("post_processor") or {}
    for spec in (post.get("special_tokens") or {}).values():
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    return out


def prune_model_dir(
    src: Path, dst: Path, keep: list[int], layers: int | None = None
) -> dict[str, Any]:
    """Write a copy of the transformers model directory `src` with only the
    embedding rows `keep` (old ids, in new order) and, with `layers`, only
    the first `layers` encoder layers. Returns a summary."""
    import shutil

    import torch
    from transformers import AutoModel

    tok_json = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    model = AutoModel.from_pretrained(str(src))
    rows = torch.tensor(keep, dtype=torch.long)
    old = model.get_input_embeddings().weight.data
    pad_old = model.config.pad_token_id
    emb = torch.nn.Embedding(
        len(keep), old.shape[1], padding_idx=keep.index(pad_old) if pad_old in keep else None
    )
    emb.weight.data = old[rows].clone()
    model.set_input_embeddings(emb)
    model.config.vocab_size = len(keep)
    pad = model.config.pad_token_id
    if pad is not None:
        model.config.pad_token_id = keep.index(pad)
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(model.config, name, None)
        if value is not None:
            setattr(model.config, name, keep.index(value))
    if layers is not None and layers < len(model.encoder.layer):
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dst))
    (dst / "tokenizer.json").write_text(
        json.dumps(pruned_tokenizer_json(tok_json, keep), ensure_ascii=False), encoding="utf-8"
    )
    for name in ("tokenizer_config.json", "edged_source.json"):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    return {
        "vocab": len(keep),
        "layers": model.config.num_hidden_layers,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    from tokenizers import Tokenizer

    ap = argparse.ArgumentParser(
        prog="python -m edged.training.vocab_prune",
        description="Prune a Unigram encoder's vocabulary to the pieces Home Assistant's "
        "templates of the given languages use, plus a script fallback. Needs edged[train].",
    )
    ap.add_argument("--model", type=Path, required=True, help="transformers model directory")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    ap.add_argument("--per-intent", type=int, default=20000, help="template sentences per intent")
    ap.add_argument("--fallback", type=int, default=8000, help="most probable longer pieces kept")
    ap.add_argument("--layers", type=int, default=None, help="keep only the first N layers")
    args = ap.parse_args(argv)

    tok_json = json.loads((args.model / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = unigram_vocab(tok_json)
    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    used, sentences = template_counts(tokenizer, args.languages, args.per_intent)
    keep = keep_ids(vocab, used, fallback_ids(vocab, args.fallback))
    summary = prune_model_dir(args.model, args.out, keep, args.layers)
    summary.update(
        {
            "languages": args.languages,
            "template_sentences": sentences,
            "template_pieces": len(used),
            "fallback_top": args.fallback,
        }
    )
    (args.out / "vocab_prune.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
