"""The runtime NLU: tokenize -> ONNX -> decode. No torch.

A model directory holds `model.onnx` (INT8), `tokenizer.json` and
`labels.json` (intents, slot names, BIO tags, max tokens, and for intents
trained from a dataset or a user's sentences the slots each one takes,
`intent_slots`, which the intent and the tags are then decoded under, and
for a model of a dataset's or a user's own labels alone the counts of which
tag followed which in its training sentences, `tag_transitions`, which the
tag sequence is then decoded with, or the tag-to-tag scores a CRF learned
with the model, `tag_transition_scores`, which are used instead).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from edged.lang import get_language
from edged.nlu.backends import Backend, load_backend
from edged.nlu.schema import OUT_OF_SCOPE
from edged.nlu.types import Parse, Slot
from edged.nlu.values import list_value, normalise_value


class ModelLoadError(RuntimeError):
    """The model directory is missing, incomplete or unreadable."""


@dataclass(frozen=True)
class ModelInfo:
    intents: tuple[str, ...]
    slots: tuple[str, ...]
    bio: tuple[str, ...]
    max_tokens: int
    path: Path
    # The slots each intent was trained with (labels.json `intent_slots`);
    # empty for models written before the trainer recorded them.
    intent_slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # How often each tag followed each other one (and began a sentence,
    # under TRANSITION_START) in the training sentences (labels.json
    # `tag_transitions`); empty for models trained without them.
    tag_transitions: dict[str, dict[str, int]] = field(default_factory=dict)
    # Tag-to-tag scores learned by a CRF (labels.json `tag_transition_scores`,
    # same layout); when present they are used instead of the counts.
    tag_transition_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    # What the slots of a user's own lists stand for (labels.json
    # `slot_values`, see edged.nlu.values.list_value).
    slot_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Temperature scaling of the intent logits (labels.json
    # `intent_temperature`, fitted by the trainer on held-out data, see
    # edged.nlu.calibration): the confidence floor compares a calibrated
    # probability. 1.0 for models written before it was fitted.
    intent_temperature: float = 1.0
    # The language the model was trained in (labels.json `language`; models
    # written before the trainer recorded it are English).
    language: str = "en"


MODEL_NAME = "edged-nlu"


def model_name(language: str = "en") -> str:
    """The directory name of the model for `language`: edged-nlu (English),
    edged-nlu-<code> otherwise."""
    return MODEL_NAME if language == "en" else f"{MODEL_NAME}-{language}"


def default_model_dir(language: str = "en") -> Path:
    """`EDGED_MODEL_DIR` if set (the systemd unit and the container set it:
    an installed package has no models/ beside it), else the model shipped in
    the repository next to the package. For a language other than English,
    the directory beside that one named edged-nlu-<code>
    (models/edged-nlu-de)."""
    env = os.environ.get("EDGED_MODEL_DIR")
    english = (
        Path(env) if env else Path(__file__).resolve().parent.parent.parent / "models" / MODEL_NAME
    )
    if language == "en":
        return english
    return english.with_name(f"{english.name}-{language}")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def clean_text(text: str) -> str:
    """Control characters out, white space folded: what the model saw in training."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _edge_punct(ch: str) -> bool:
    """Punctuation a slot's words may not start or end with (% and ° are
    units, part of the value)."""
    return not ch.isalnum() and ch not in "%°"


# A name or area said in the possessive ends before the "'s".
_POSSESSIVE_SLOTS = frozenset({"name", "area", "floor"})
_POSSESSIVE_END = re.compile(r"\s*['’]\s*s$")


def bio_transitions(bio: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Log-space BIO constraints: (step[from, to], start[to]); 0 where allowed,
    -inf where not (I-x only after B-x or I-x, never first)."""
    n = len(bio)
    step = np.zeros((n, n), dtype=np.float64)
    start = np.zeros(n, dtype=np.float64)
    for j, to in enumerate(bio):
        if not to.startswith("I-"):
            continue
        start[j] = -np.inf
        for i, frm in enumerate(bio):
            if frm == "O" or frm[2:] != to[2:]:
                step[i, j] = -np.inf
    return step, start


# The key of `tag_transitions` that counts the first word's tags.
TRANSITION_START = "<start>"


def _transition_table(
    bio: tuple[str, ...] | list[str], table: Mapping[str, Mapping[str, float]], missing: float
) -> tuple[np.ndarray, np.ndarray]:
    """(values, allowed), rows TRANSITION_START then `bio`, columns `bio`:
    a labels.json transition table made dense (`missing` where it has no
    entry) beside the steps `bio_transitions` allows."""
    step, start = bio_transitions(bio)
    allowed = np.isfinite(np.vstack([start, step]))
    index = {t: k for k, t in enumerate(bio)}
    values = np.full(allowed.shape, missing, dtype=np.float64)
    for r, frm in enumerate((TRANSITION_START, *bio)):
        for to, v in table.get(frm, {}).items():
            if to in index:
                values[r, index[to]] = v
    return values, allowed


def learned_transitions(
    bio: tuple[str, ...] | list[str], counts: dict[str, dict[str, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """The BIO constraints of `bio_transitions` plus, where a step is
    allowed, log P(to | from) estimated from the training sentences' tag
    pairs with add-one smoothing over the allowed next tags (a pair never
    seen stays possible, only unlikely). Viterbi then scores a sequence as
    the slot head's word probabilities times a first-order model of how tags
    follow each other, as a CRF or HMM tagger does: two names of one slot
    side by side ("the" B-x, "path" B-x) are rare in training and so lose
    to one name ("the" B-x, "path" I-x) where the slot head is unsure.
    Without counts (a model trained without them), the constraints alone."""
    if not counts:
        return bio_transitions(bio)
    c, allowed = _transition_table(bio, counts, 0.0)
    c = np.where(allowed, c + 1.0, 0.0)
    with np.errstate(divide="ignore"):
        logp = np.log(c / c.sum(axis=1, keepdims=True))
    return logp[1:], logp[0]


def scored_transitions(
    bio: tuple[str, ...] | list[str], scores: dict[str, dict[str, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """The BIO constraints of `bio_transitions` plus, where a step is
    allowed, the score a CRF learned for it (an allowed step the table lacks
    gets the table's lowest score). Each table is shifted so that its
    highest score is 0, which changes no sequence's rank (every sequence of
    n words takes one start and n - 1 steps) and keeps `viterbi`'s
    shortcut exact."""
    floor = min((v for row in scores.values() for v in row.values()), default=0.0)
    v, allowed = _transition_table(bio, scores, floor)
    v = np.where(allowed, v, -np.inf)
    step, start = v[1:], v[0]
    return step - step[allowed[1:]].max(), start - start[allowed[0]].max()


def transitions_for(
    bio: tuple[str, ...] | list[str],
    counts: dict[str, dict[str, int]],
    scores: dict[str, dict[str, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """What Viterbi decodes a model's tags with: a CRF's learned scores if it
    has them, else its counted transitions, else BIO's constraints alone."""
    if scores:
        return scored_transitions(bio, scores)
    return learned_transitions(bio, counts)


def intent_tag_mask(
    intents: tuple[str, ...], bio: tuple[str, ...], intent_slots: dict[str, tuple[str, ...]]
) -> np.ndarray:
    """[intent, tag] 1.0 where the intent may carry the tag (O always; B-/I-
    of the slots it was trained with), 0.0 elsewhere. An intent the table
    does not name is unconstrained."""
    mask = np.ones((len(intents), len(bio)), dtype=np.float32)
    for i, intent in enumerate(intents):
        allowed = intent_slots.get(intent)
        if allowed is None:
            continue
        for j, tag in enumerate(bio):
            if tag != "O" and tag[2:] not in allowed:
                mask[i, j] = 0.0
    return mask


def joint_intent_probs(
    intent_probs: np.ndarray, word_probs: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """P(intent | text) when an intent's words may only carry its own slots.

    The intent head and the slot head are read as one model whose sentences
    are (intent, tags) pairs with the tags the intent allows: P(i, tags) is
    proportional to p(i) * prod_w p_w(tag_w) over allowed tags, so P(i) is
    p(i) times the slot head's mass on tag sequences that i allows,
    prod_w sum_{t allowed for i} p_w(t). An utterance whose words the slot
    head reads as a film title ("movie_name") moves toward the intent that
    takes film titles. Where every word's tags are allowed for every likely
    intent (most utterances), this is the intent head's own answer."""
    with np.errstate(divide="ignore"):
        log_mass = np.log(np.clip(word_probs @ mask.T, 1e-30, None)).sum(axis=0)
        logp = np.log(intent_probs.astype(np.float64)) + log_mass
    logp -= logp.max()
    joint = np.exp(logp)
    return joint / joint.sum()


def decode_intent(
    intent_probs: np.ndarray, word_probs: np.ndarray, tag_mask: np.ndarray | None
) -> tuple[np.ndarray, int, np.ndarray]:
    """(intent probabilities, the top intent, its words' tag probabilities):
    with a mask, read jointly and the words held to the top intent's tags;
    without one, the heads' own answers. The one rule for the runtime and
    for the trainer's checkpoint choice."""
    if tag_mask is None or not len(word_probs):
        return intent_probs, int(intent_probs.argmax()), word_probs
    probs = joint_intent_probs(intent_probs, word_probs, tag_mask)
    top = int(probs.argmax())
    return probs, top, word_probs * tag_mask[top]


def viterbi(probs: np.ndarray, step: np.ndarray, start: np.ndarray) -> list[int]:
    """The most probable tag sequence under the transition scores (log
    space): constraints alone (0 or -inf, `bio_transitions`) or learned ones
    (`learned_transitions`)."""
    best = probs.argmax(1)
    # Each word's own best tag makes a sequence that costs nothing (the usual
    # case with the constraints alone): nothing can beat it. Learned scores
    # never take this path: they are smoothed log-probabilities below 0; a
    # CRF's scores (`scored_transitions`) take it only where every step on
    # it scores the highest of its table.
    if start[best[0]] == 0 and not step[best[:-1], best[1:]].any():
        return [int(t) for t in best]
    active = np.flatnonzero((probs > 0).any(0))
    if 0 < len(active) < probs.shape[1]:
        # Tags no word can take (those the intent does not carry, zeroed by
        # decode_intent) are on no possible path: search the others alone.
        sub = viterbi(probs[:, active], step[np.ix_(active, active)], start[active])
        return [int(active[k]) for k in sub]
    with np.errstate(divide="ignore"):
        logp = np.log(probs.astype(np.float64))
    score = logp[0] + start
    back = np.empty((len(logp), logp.shape[1]), dtype=np.int64)
    for t in range(1, len(logp)):
        cand = score[:, None] + step
        back[t] = cand.argmax(0)
        score = cand[back[t], np.arange(cand.shape[1])] + logp[t]
    tags = [int(score.argmax())]
    for t in range(len(logp) - 1, 0, -1):
        tags.append(int(back[t, tags[-1]]))
    return tags[::-1]


_ELISION = frozenset("'’")


def split_elisions(
    word_ids: list[int | None], offsets: list[tuple[int, int]], text: str
) -> list[int | None]:
    """Word ids with a word cut after an apostrophe inside it: "l'entrée",
    "dell'ingresso" are two words ("l'" + "entrée"), so the area has a first
    sub-token of its own to be tagged on. A SentencePiece tokenizer keeps
    them one white-space word; WordPiece already splits at the apostrophe,
    so English words are left as they were. Training (edged.training.train)
    and the runtime cut words the same way."""
    out: list[int | None] = []
    shift = 0
    prev_wid: int | None = None
    prev_end = -1
    for wid, (start, end) in zip(word_ids, offsets, strict=True):
        if wid is None:
            out.append(None)
            continue
        if (
            wid == prev_wid
            and start > 0
            and start == prev_end
            and text[start - 1 : start] in _ELISION
        ):
            shift += 1
        out.append(wid + shift)
        prev_wid, prev_end = wid, end
    return out


def _words(enc: Any, text: str | None = None) -> tuple[list[list[int]], list[int]]:
    """Each word's [start, end] characters and the token row of its first
    sub-token (where the slot head's tag for the word is read)."""
    offsets: list[tuple[int, int]] = enc.offsets
    word_ids: list[int | None] = enc.word_ids
    if text is not None:
        word_ids = split_elisions(word_ids, offsets, text)
    bounds: list[list[int]] = []
    first: list[int] = []
    index: dict[int, int] = {}
    for i, wid in enumerate(word_ids):
        if wid is None:
            continue
        start, end = offsets[i]
        if wid not in index:
            index[wid] = len(bounds)
            bounds.append([start, end])
            first.append(i)
        else:
            bounds[index[wid]][1] = end
    return bounds, first


class NluModel:
    """Text -> Parse. Thread-safe: one ONNX session, no per-call state."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        threads: int = 1,
        backend: str | Backend = "onnxruntime",
        confidence_floor: float = 0.5,
        providers: list[str] | None = None,
        language: str | None = None,
    ) -> None:
        """`language`: the language the model must be for (the config's
        `language`); a model of another language is refused. None takes the
        model's own."""
        path = Path(model_dir) if model_dir is not None else default_model_dir(language or "en")
        for name in ("labels.json", "tokenizer.json"):
            if not (path / name).is_file():
                raise ModelLoadError(f"model directory {path} has no {name}")
        try:
            meta = json.loads((path / "labels.json").read_text(encoding="utf-8"))
            self.info = ModelInfo(
                intents=tuple(meta["intents"]),
                slots=tuple(meta["slots"]),
                bio=tuple(meta["bio"]),
                max_tokens=int(meta.get("max_tokens", 48)),
                path=path,
                intent_slots={k: tuple(v) for k, v in (meta.get("intent_slots") or {}).items()},
                tag_transitions={
                    str(frm): {str(to): int(n) for to, n in row.items()}
                    for frm, row in (meta.get("tag_transitions") or {}).items()
                },
                tag_transition_scores={
                    str(frm): {str(to): float(v) for to, v in row.items()}
                    for frm, row in (meta.get("tag_transition_scores") or {}).items()
                },
                slot_values={str(k): dict(v) for k, v in (meta.get("slot_values") or {}).items()},
                intent_temperature=float(meta.get("intent_temperature", 1.0)),
                language=str(meta.get("language") or "en"),
            )
            self.language = get_language(self.info.language)
            if not 0 < self.info.intent_temperature < 100:
                raise ValueError(
                    f"intent_temperature {self.info.intent_temperature} is not in (0, 100)"
                )
            self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except (OSError, ValueError, KeyError, Exception) as e:
            raise ModelLoadError(f"cannot read model in {path}: {e}") from e
        if language is not None and language != self.info.language:
            raise ModelLoadError(
                f"the model in {path} is for language {self.info.language!r} (labels.json), "
                f"not {language!r}: set nlu.model_dir to a {language!r} model "
                f"(edged train --language {language}) or language: {self.info.language}"
            )
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.info.max_tokens)
        self.backend: Backend = (
            load_backend(backend, path, threads=threads, providers=providers)
            if isinstance(backend, str)
            else backend
        )
        self.confidence_floor = confidence_floor
        self._oos = OUT_OF_SCOPE
        self._bio_step, self._bio_start = transitions_for(
            self.info.bio, self.info.tag_transitions, self.info.tag_transition_scores
        )
        self._tag_mask = (
            intent_tag_mask(self.info.intents, self.info.bio, self.info.intent_slots)
            if self.info.intent_slots
            else None
        )

    @property
    def intents(self) -> tuple[str, ...]:
        return self.info.intents

    def intent_logits(self, text: str) -> np.ndarray:
        """The raw intent logits (before temperature scaling), for fitting
        and measuring calibration."""
        enc = self.tokenizer.encode(clean_text(text) or " ")
        ids = np.asarray([enc.ids], dtype=np.int64)
        logits, _ = self.backend.run(ids, np.ones_like(ids))
        return np.asarray(logits[0], dtype=np.float64)

    def parse(self, text: str) -> Parse:
        t0 = time.perf_counter()
        text = clean_text(text)
        if not text:
            return Parse(text=text, intent=None, confidence=1.0, best_guess=None)
        enc = self.tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        t1 = time.perf_counter()
        intent_logits, slot_logits = self.backend.run(ids, mask)
        t2 = time.perf_counter()
        probs = _softmax(intent_logits[0] / self.info.intent_temperature)
        # The words and their tags are needed for the intent only when it is
        # read jointly; otherwise only once the intent is recognised.
        words: tuple[list[list[int]], np.ndarray] | None = None
        if self._tag_mask is not None:
            words = self._word_probs(enc, slot_logits, text)
        top = int(probs.argmax())
        if words is not None:
            probs, top, word_probs = decode_intent(probs, words[1], self._tag_mask)
            words = (words[0], word_probs)
        label = self.info.intents[top]
        confidence = float(probs[top])
        slots: tuple[Slot, ...] = ()
        intent: str | None = label
        if label == self._oos or confidence < self.confidence_floor:
            intent = None
        else:
            bounds, word_probs = words or self._word_probs(enc, slot_logits, text)
            if bounds:
                slots = tuple(self._decode_slots(text, bounds, word_probs))
        t3 = time.perf_counter()
        return Parse(
            text=text,
            intent=intent,
            confidence=confidence,
            slots=slots,
            best_guess=label,
            timings_ms={
                "tokenize": (t1 - t0) * 1e3,
                "infer": (t2 - t1) * 1e3,
                "decode": (t3 - t2) * 1e3,
            },
        )

    @staticmethod
    def _word_probs(
        enc: Any, slot_logits: np.ndarray, text: str
    ) -> tuple[list[list[int]], np.ndarray]:
        """Each word's character bounds and the slot head's tag probabilities
        on its first sub-token."""
        bounds, first = _words(enc, text)
        return bounds, _softmax(slot_logits[0])[first]

    def _decode_slots(
        self, text: str, bounds: list[list[int]], word_probs: np.ndarray
    ) -> list[Slot]:
        """Tag probabilities per word (zero for tags the intent does not
        take) -> character spans.

        The tag sequence is the most probable *valid* one (Viterbi over the
        words: an I- tag only after B- or I- of the same slot), not each word's
        own best tag, so one unsure word does not split or cut a name."""
        tags = viterbi(word_probs, self._bio_step, self._bio_start)
        words = [
            (b[0], b[1], tag, float(word_probs[k, tag]))
            for k, (b, tag) in enumerate(zip(bounds, tags, strict=True))
        ]
        spans: list[tuple[str, int, int, list[float]]] = []
        open_name: str | None = None  # the span an I- tag may continue
        for start, end, tag, p in words:
            bio = self.info.bio[tag]
            if bio == "O":
                open_name = None
                continue
            kind, name = bio.split("-", 1)
            if kind == "I" and open_name == name:
                s_name, s_start, _, ps = spans[-1]
                spans[-1] = (s_name, s_start, end, [*ps, p])
            else:  # B-, or an I- with nothing to continue, starts a span
                spans.append((name, start, end, [p]))
                open_name = name
        out: list[Slot] = []
        for name, start, end, ps in spans:
            if name in _POSSESSIVE_SLOTS:
                # "what is Mistral's speed?": the device is "Mistral".
                m = _POSSESSIVE_END.search(text, start, end)
                if m is not None and m.start() > start:
                    end = m.start()
            # Punctuation is never part of a value: a SentencePiece word keeps
            # it ("Küche," is one word), a WordPiece one does not.
            while end > start and _edge_punct(text[end - 1]):
                end -= 1
            while (
                start < end
                and _edge_punct(text[start])
                and not (text[start] == "-" and text[start + 1 : start + 2].isdigit())
            ):
                start += 1
            if start == end:
                continue
            words_text = text[start:end]
            out.append(
                Slot(
                    name=name,
                    text=words_text,
                    start=start,
                    end=end,
                    value=list_value(words_text, self.info.slot_values[name], self.language)
                    if name in self.info.slot_values
                    else normalise_value(name, words_text, self.language),
                    confidence=float(np.mean(ps)),
                )
            )
        return out

    def warm_up(self) -> None:
        """One inference so the first real utterance does not pay for allocation."""
        self.parse("turn on the kitchen light")
