"""Your own intents, end to end: a sentences file -> `edged train` (a few
steps) -> a model directory the daemon loads -> the configured MQTT action,
through a real Mosquitto. And bad sentence files give errors naming the line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Broker, Probe
from tests.integration.conftest import REPO, DaemonProcess, base_config

# Every test here trains or exports through torch (tests/conftest.py skips them without it).
pytestmark = pytest.mark.torch

SENTENCES = textwrap.dedent(
    """\
    language: en
    intents:
      FeedFish:
        data:
          - sentences:
              - "feed the fish"
              - "(give|get) the fish [some] (food|dinner|breakfast)"
              - "fish (food|feeding) time"
              - "time to feed the (fish|goldfish)"
              - "[please] feed [the] goldfish [now]"
      GoodNight:
        data:
          - sentences:
              - "good night"
              - "(i'm|we're) going to bed"
              - "bed time"
              - "night night [everyone]"
              - "time for bed"
      RunScene:
        data:
          - sentences:
              - "(start|activate) [the] {scene} [scene]"
              - "(it's|it is) {scene} time"
              - "{scene} mode [please]"
    lists:
      scene:
        values:
          - in: movie night
            out: movie_night
          - in: (dinner|dinner time)
            out: dinner
          - reading
    """
)


def edged(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )


@pytest.fixture(scope="module")
def custom_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("custom")
    (work / "mine.yaml").write_text(SENTENCES)
    out = work / "model"
    r = edged(
        "train",
        "--sentences",
        str(work / "mine.yaml"),
        "--only",
        "--out",
        str(out),
        "--per-intent",
        "150",
        # About 140 steps (~30 s): enough to read the {scene} slot too.
        "--epochs",
        "6",
        "--no-progress",
        "--keep-fp32",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "model written to" in r.stdout and "INT8 intent" in r.stdout
    labels = json.loads((out / "labels.json").read_text())
    # --only: the file's intents and out of scope, none of the built-in ones.
    assert set(labels["intents"]) == {"FeedFish", "GoodNight", "RunScene", "OutOfScope"}
    assert labels["slots"] == ["scene"]
    # Each intent is held to the slots its examples carry, out of scope to
    # none; the file's own list is a slot, with what its words stand for.
    assert labels["intent_slots"]["FeedFish"] == labels["intent_slots"]["GoodNight"] == []
    assert labels["intent_slots"]["RunScene"] == ["scene"]
    assert labels["slot_values"] == {
        "scene": {
            "values": {
                "movie night": "movie_night",
                "dinner": "dinner",
                "dinner time": "dinner",
                "reading": "reading",
            }
        }
    }
    assert "OutOfScope" not in labels["intent_slots"]
    # A model of the user's own labels alone learns how its tags follow each
    # other, and a first word never has an I- tag.
    transitions = labels["tag_transitions"]
    assert set(transitions) == {"<start>", "O", "B-scene", "I-scene"}
    assert all(
        to in labels["bio"] and n > 0 for row in transitions.values() for to, n in row.items()
    )
    assert transitions["O"]["O"] > 0 and transitions["B-scene"]["I-scene"] > 0
    assert not any(to.startswith("I-") for to in transitions["<start>"])
    return out


def _two_intents() -> tuple[list[Any], Any]:
    """Sixteen examples of two intents without slots, and their labels: for
    trainer tests that take a few steps."""
    from edged.training.sampler import Example
    from edged.training.train import Labels

    texts = ["feed the fish", "good night", "fish food time", "time for bed"] * 4
    examples = [Example(t, "FeedFish" if "fish" in t else "GoodNight", []) for t in texts]
    return examples, Labels(["FeedFish", "GoodNight"], [])


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_int8_model_uses_onnxruntime_fused_attention(custom_model: Path) -> None:
    import onnx

    metrics = json.loads((custom_model / "metrics.json").read_text())
    assert metrics["int8_export"]["fused"] is True, metrics["int8_export"]
    ops = {n.op_type for n in onnx.load(str(custom_model / "model.onnx")).graph.node}
    assert {"QAttention", "QEmbedLayerNormalization", "SkipLayerNormalization"} <= ops
    # The kept FP32 file is the plain export the TFLite converter reads.
    fp32_ops = {n.op_type for n in onnx.load(str(custom_model / "model.fp32.onnx")).graph.node}
    assert "Attention" not in fp32_ops and "Softmax" in fp32_ops


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_reexport_rebuilds_the_int8_model_from_fp32(custom_model: Path, tmp_path: Path) -> None:
    from edged.nlu.model import NluModel

    copy = tmp_path / "model"
    shutil.copytree(custom_model, copy)
    (copy / "model.onnx").unlink()
    r = subprocess.run(
        [sys.executable, "-m", "edged.training.export", "--model", str(copy)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["fused"] is True
    before, after = NluModel(custom_model), NluModel(copy)
    for text in ("feed the fish", "good night", "time for bed", "what is the weather"):
        a, b = before.parse(text), after.parse(text)
        assert (a.intent, round(a.confidence, 3)) == (b.intent, round(b.confidence, 3)), text


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_custom_intent_trains_loads_and_acts(
    custom_model: Path, broker: Broker, tmp_path: Path
) -> None:
    cfg = base_config(broker.port, state_dir=str(tmp_path / "state"))
    cfg["mqtt"]["client_id"] = "edged-custom"
    cfg["topics"] = {
        "utterance": ["custom/utterance"],
        "result": "custom/result",
        "status": "custom/status",
    }
    cfg["nlu"] = {"model_dir": str(custom_model)}
    cfg["custom_intents"] = {
        "FeedFish": {"actions": [{"topic": "cmnd/fish_feeder/POWER", "payload": "ON"}]},
        "GoodNight": {
            "actions": [{"topic": "home/scene/set", "payload": '{"scene": "good_night"}'}]
        },
        "RunScene": {
            "required_slots": ["scene"],
            "actions": [{"topic": "home/scene/run", "payload": '{"scene": "{scene}"}'}],
        },
        # A typo: the model has no such intent, which the daemon says at start.
        "FeedFsh": {"actions": [{"topic": "cmnd/fish_feeder/POWER", "payload": "ON"}]},
    }
    d = DaemonProcess(cfg, tmp_path).start()
    p = Probe(broker.port, ("custom/#", "cmnd/fish_feeder/#", "home/scene/#")).connect()
    try:
        d.wait_online(p)
        assert "custom_intents.FeedFsh: the model in" in d.output()
        p.publish("custom/utterance", json.dumps({"text": "feed the fish", "id": "f1"}))
        assert p.wait_for(lambda m: m.topic == "cmnd/fish_feeder/POWER")[0].payload == b"ON"
        r = json.loads(p.wait_for(lambda m: m.topic == "custom/result")[0].payload)
        assert r["status"] == "executed" and r["intent"] == "FeedFish", r
        # The list's words heard, its `out` value published.
        p.publish("custom/utterance", json.dumps({"text": "start movie night", "id": "s1"}))
        run = p.wait_for(lambda m: m.topic == "home/scene/run")[0]
        assert json.loads(run.payload) == {"scene": "movie_night"}
    finally:
        p.close()
        d.stop()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            'intents:\n  FeedFish:\n    data:\n      - sentences:\n          - "feed the fish\n',
            "line",
        ),
        (
            'intents:\n  FeedFish:\n    data:\n      - sentences:\n          - "feed the (fish"\n',
            ":5: intent FeedFish: cannot parse template",
        ),
        (
            'intents:\n  FeedFish:\n    data:\n      - sentences:\n          - "feed the {fishtype}"\n',
            ":5: intent FeedFish: list {fishtype} is not defined",
        ),
        (
            'intents:\n  FeedFish:\n    data:\n      - sentences:\n          - "feed <my_rule> fish"\n',
            ":5: intent FeedFish: expansion rule <my_rule> is not defined",
        ),
        ("just: words\n", "expected a mapping with an 'intents:' section"),
    ],
)
def test_bad_sentence_files_name_the_line(tmp_path: Path, content: str, expected: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    r = edged("train", "--sentences", str(f), "--only", "--out", str(tmp_path / "never"))
    assert r.returncode != 0
    assert expected in r.stderr, r.stderr
    assert str(f) in r.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_export_falls_back_to_the_plain_graph_when_fusion_misses(
    custom_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx

    from edged.nlu.model import NluModel
    from edged.training import export

    fp32 = custom_model / "model.fp32.onnx"
    model = export.model_from_onnx(fp32)
    # An onnxruntime whose optimizer no longer recognises the attention.
    monkeypatch.setattr(export, "fuse_for_onnxruntime", lambda *a, **k: {"Attention": 2})
    out = tmp_path / "model"
    shutil.copytree(custom_model, out)
    info = export.export_int8(model, fp32, out / "model.onnx")
    assert info == {"fused": False, "why": "fused 2 of 6 attention layers"}
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops and "QAttention" not in ops
    assert (
        NluModel(out).parse("feed the fish").intent
        == NluModel(custom_model).parse("feed the fish").intent
    )


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_distillation_from_a_teacher_directory(custom_model: Path, tmp_path: Path) -> None:
    """`--teacher` precomputes the teacher's logits once and trains a smaller
    cut on labels plus soft targets; the teacher's labels must match."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.yaml").write_text(SENTENCES)
    out = work / "student"
    common = ["--sentences", str(work / "mine.yaml"), "--only", "--per-intent", "150"]
    common += ["--epochs", "1", "--no-progress", "--layers", "2"]
    r = edged(
        "train", *common, "--out", str(out), "--max-steps", "30", "--teacher", str(custom_model)
    )
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((out / "metrics.json").read_text())["train_config"]
    assert cfg["teacher"] == [str(custom_model)] and cfg["distill"] == 0.5 and cfg["layers"] == 2
    # The shipped model knows other intents: refused before any training.
    r = edged(
        "train", *common, "--out", str(work / "x"), "--teacher", str(REPO / "models/edged-nlu")
    )
    assert r.returncode != 0
    assert "other labels than this training set" in r.stderr
    assert not (work / "x" / "model.onnx").exists()


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_teacher_logits_are_the_teacher_models_outputs(custom_model: Path, tmp_path: Path) -> None:
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from edged.nlu.backends import OnnxRuntimeBackend
    from edged.training.sampler import Example
    from edged.training.train import Labels, distill_loss, encode, encoder_path, teacher_logits

    meta = json.loads((custom_model / "labels.json").read_text())
    labels = Labels(meta["intents"], meta["slots"], meta["bio"])
    tok = AutoTokenizer.from_pretrained(str(encoder_path()))
    texts = ["feed the fish", "good night everyone", "time to feed the goldfish now please"]
    rows = encode([Example(t, "FeedFish", []) for t in texts], tok, labels, 48)
    teacher_logits([custom_model], rows, labels, batch_size=3)  # one padded batch
    alone = OnnxRuntimeBackend(custom_model / "model.fp32.onnx")
    int8 = OnnxRuntimeBackend(custom_model / "model.onnx")
    outputs = []
    for r in rows:
        ids = np.array([r["input_ids"]], dtype=np.int64)
        intent, slots = alone.run(ids, np.ones_like(ids))
        assert np.allclose(r["t_intent"], intent[0], atol=1e-4)
        assert np.allclose(r["t_slots"], slots[0], atol=1e-4)
        outputs.append((intent[0], slots[0], *(o[0] for o in int8.run(ids, np.ones_like(ids)))))
    # Two teachers (the FP32 graph, and a copy holding only the INT8 one):
    # each row gets the mean of their logits.
    int8_only = tmp_path / "int8-only"
    int8_only.mkdir()
    for name in ("labels.json", "model.onnx", "tokenizer.json"):
        (int8_only / name).write_bytes((custom_model / name).read_bytes())
    pair = encode([Example(t, "FeedFish", []) for t in texts], tok, labels, 48)
    # One row a batch: INT8 activations are quantized with the whole batch's
    # range, so a padded batch moves the INT8 teacher's logits a little.
    teacher_logits([custom_model, int8_only], pair, labels, batch_size=1)
    for r, (i32, s32, i8, s8) in zip(pair, outputs, strict=True):
        assert not np.allclose(i32, i8, atol=1e-4)  # two different teachers
        assert np.allclose(r["t_intent"], (i32 + i8) / 2, atol=1e-4)
        assert np.allclose(r["t_slots"], (s32 + s8) / 2, atol=1e-4)
    # The soft loss is zero when the student says what the teacher says and
    # the teacher is right, and grows as the student disagrees.
    width = max(len(r["input_ids"]) for r in rows)
    il = torch.from_numpy(np.stack([r["t_intent"] for r in rows]))
    sl = torch.zeros((len(rows), width, len(labels.bio)))
    tags = torch.full((len(rows), width), -100)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        sl[i, :n] = torch.from_numpy(r["t_slots"])
        tags[i, 1 : n - 1] = sl[i, 1 : n - 1].argmax(-1)
    gold = il.argmax(-1)
    assert float(distill_loss(il, sl, gold, tags, rows, 2.0)) == pytest.approx(0.0, abs=1e-5)
    assert float(distill_loss(il.flip(-1), sl, gold, tags, rows, 2.0)) > 0.01
    assert float(distill_loss(il, sl.flip(-1), gold, tags, rows, 2.0)) > 0.01
    # Where the label is not the teacher's answer, the label is what is
    # taught: that row's share is its cross-entropy, not the (zero) KL.
    wrong = gold.clone()
    wrong[0] = (gold[0] + 1) % len(labels.intents)
    expected = float(torch.nn.functional.cross_entropy(il[:1], wrong[:1])) / len(rows)
    assert float(distill_loss(il, sl, wrong, tags, rows, 2.0)) == pytest.approx(expected, rel=1e-4)


def test_ema_is_what_is_validated_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `ema`, every validation pass scores the averaged weights, the
    training steps go on from the live ones, and the kept checkpoint is an
    average that was validated."""
    import torch

    import edged.training.train as tr

    # The average itself: d ramps as min(decay, (1 + n) / (10 + n)).
    lin = torch.nn.Linear(3, 2)
    ema = tr._Ema(lin, 0.9)
    start = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.update()
    d = min(0.9, 2 / 11)
    assert torch.allclose(ema.shadow[0], start + (1 - d))
    with ema.applied():
        assert torch.allclose(lin.weight, ema.shadow[0])
    assert torch.allclose(lin.weight, start + 1.0)  # the live weights are back
    with pytest.raises(ValueError):
        tr._Ema(lin, 1.0)

    # Wired into train(): record the weights each validation pass sees.
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_evaluate = tr.evaluate_torch

    def spy(model, rows, labels, batch_size=128):
        holder = spy.ema  # type: ignore[attr-defined]
        i = next(i for i, p in enumerate(holder.params) if p is model.intent_head.weight)
        seen.append((model.intent_head.weight.detach().clone(), holder.shadow[i].clone()))
        return real_evaluate(model, rows, labels, batch_size)

    made: list[tr._Ema] = []

    class Recording(tr._Ema):
        def __init__(self, model, decay):
            super().__init__(model, decay)
            made.append(self)
            spy.ema = self  # type: ignore[attr-defined]

        def update(self):
            super().update()
            self.last_live = [p.detach().clone() for p in self.params]

    monkeypatch.setattr(tr, "evaluate_torch", spy)
    monkeypatch.setattr(tr, "_Ema", Recording)
    examples, labels = _two_intents()
    cfg = tr.TrainConfig(
        epochs=1, batch_size=4, layers=1, max_steps=4, eval_every=2, ema=0.5, threads=1
    )
    model, _, history = tr.train(examples, examples[:4], labels, cfg, progress=False)
    assert len(made) == 1 and len(seen) == 2 and history["config"]["ema"] == 0.5
    for evaluated, shadow in seen:
        assert torch.equal(evaluated, shadow)  # the average was scored
    # The live weights went on training: the last step's weights are not the
    # average, and the model returned is one of the validated averages.
    # (The live weights as the last step left them, before the chosen
    # checkpoint is loaded back.)
    head = next(i for i, p in enumerate(made[0].params) if p is model.intent_head.weight)
    assert not torch.equal(made[0].last_live[head], made[0].shadow[head])
    assert any(torch.equal(model.intent_head.weight, shadow) for _, shadow in seen)


@pytest.mark.parametrize("decay", ["1", "-0.1"])
def test_ema_decay_out_of_range_is_refused(tmp_path: Path, decay: str) -> None:
    r = edged("train", "--out", str(tmp_path / "m"), "--ema", decay, "--no-progress")
    assert r.returncode != 0 and "--ema must be at least 0 and below 1" in r.stderr
    assert not (tmp_path / "m").exists()


def test_checkpoint_score_is_decoded_as_at_run_time() -> None:
    """evaluate_torch scores what the runtime would answer: the intent and
    the tags decoded together under intent_slots, spans by F1."""
    import torch

    import edged.training.train as tr

    labels = tr.Labels(
        ["Play", "Rate"],
        ["artist", "rating"],
        intent_slots={"Play": ["artist"], "Rate": ["rating"]},
    )
    bio = labels.bio  # O, B-artist, I-artist, B-rating, I-rating

    # Two rows; tags on words (-100 on the [CLS]/[SEP] rows).
    rows = [
        {"input_ids": [1, 5, 6, 7, 2], "intent": 0, "tags": [-100, 0, 1, 2, -100]},
        {"input_ids": [1, 8, 9, 2], "intent": 1, "tags": [-100, 0, 3, -100]},
    ]

    class Scripted(torch.nn.Module):
        """Logits the test chooses: row 0's intent head leans to Rate, but its
        slot head reads an artist, which only Play takes."""

        def forward(self, ids: torch.Tensor, mask: torch.Tensor):
            il = torch.tensor([[0.0, 0.4], [0.0, 3.0]])
            sl = torch.full((2, ids.shape[1], len(bio)), -9.0)
            for i, r in enumerate(rows):
                for k, t in enumerate(r["tags"]):
                    sl[i, k, max(t, 0)] = 9.0
            return il, sl

    scores = tr.evaluate_torch(Scripted(), rows, labels)
    assert scores["intent_accuracy"] == 0.5  # the head alone gets row 0 wrong
    assert scores["decoded_intent_accuracy"] == 1.0 and scores["slot_f1"] == 1.0
    # Learned transitions are decoded with too: counts that make an artist's
    # second word far likelier to start a rating than to go on the name (a
    # made-up table) split row 0's artist, as the runtime would.
    skewed = tr.Labels(
        labels.intents,
        labels.slots,
        intent_slots={"Play": ["artist", "rating"], "Rate": ["rating"]},
        tag_transitions={"B-artist": {"B-rating": 10**9, "I-artist": 0}},
    )
    assert tr.evaluate_torch(Scripted(), rows, skewed)["slot_f1"] < 1.0
    # Without the table the head's answer stands, and Rate carries no artist
    # span of Play's: the decoder still reads the artist (nothing forbids it).
    free = tr.Labels(labels.intents, labels.slots)
    assert tr.evaluate_torch(Scripted(), rows, free)["decoded_intent_accuracy"] == 0.5
    assert tr.word_spans([0, 1, 2, 0, 2, 3], bio) == {
        ("artist", 1, 2),
        ("artist", 4, 4),  # an I- after O starts a span, as at run time
        ("rating", 5, 5),
    }


@pytest.mark.slow  # needs custom_model: a training run (~2 min on 2 cores)
def test_a_teacher_with_fewer_labels_teaches_its_own(custom_model: Path) -> None:
    """The built-in model teaching one that also has a user's intents: the
    teacher's logits land on the student's labels of the same names, the
    labels it lacks get no probability, and where the gold label is one of
    those the label alone is taught."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from edged.nlu.backends import OnnxRuntimeBackend
    from edged.training.sampler import Example
    from edged.training.train import Labels, distill_loss, encode, encoder_path, teacher_logits

    meta = json.loads((custom_model / "labels.json").read_text())
    # The student: the teacher's labels in another order, plus its own.
    student = Labels(["Extra", *reversed(meta["intents"])], ["x", *meta["slots"]])
    tok = AutoTokenizer.from_pretrained(str(encoder_path()))
    texts = ["feed the fish", "start movie night"]
    rows = encode([Example(t, "Extra", []) for t in texts], tok, student, 48)
    teacher_logits([custom_model], rows, student, batch_size=1)
    alone = OnnxRuntimeBackend(custom_model / "model.fp32.onnx")
    for r in rows:
        ids = np.array([r["input_ids"]], dtype=np.int64)
        intent, slots = alone.run(ids, np.ones_like(ids))
        for k, name in enumerate(meta["intents"]):
            assert r["t_intent"][student.intents.index(name)] == pytest.approx(
                intent[0][k], abs=1e-4
            )
        for k, tag in enumerate(meta["bio"]):
            got = r["t_slots"][:, student.bio.index(tag)]
            assert np.allclose(got, slots[0][:, k], atol=1e-4)
        probs = torch.softmax(torch.from_numpy(r["t_intent"]) / 2.0, -1)
        assert float(probs[student.intents.index("Extra")]) == 0.0
        for tag in ("B-x", "I-x"):
            assert (r["t_slots"][:, student.bio.index(tag)] < -1e3).all()
    # Gold "Extra", which the teacher cannot say: the loss is the label's
    # cross-entropy alone, whatever the teacher's logits.
    il = torch.zeros((len(rows), len(student.intents)))
    width = max(len(r["input_ids"]) for r in rows)
    sl = torch.zeros((len(rows), width, len(student.bio)))
    tags = torch.full((len(rows), width), -100)
    gold = torch.full((len(rows),), student.intents.index("Extra"))
    expected = float(torch.nn.functional.cross_entropy(il, gold, reduction="sum")) / len(rows)
    assert float(distill_loss(il, sl, gold, tags, rows, 2.0)) == pytest.approx(expected, rel=1e-5)
    # A teacher with a label the student lacks is refused.
    fewer = Labels([n for n in meta["intents"] if n != "GoodNight"], meta["slots"])
    with pytest.raises(SystemExit, match="other labels than this training set"):
        teacher_logits([custom_model], rows, fewer)


@pytest.mark.parametrize("bf16", [False, True])
def test_bf16_runs_the_passes_in_bfloat16_and_keeps_float32_weights(
    monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    """--bf16: the training passes' matrix products run in bfloat16 (what
    makes them faster), while the weights, the optimizer's state and the
    model returned for export stay float32; without it, all float32."""
    import torch

    import edged.training.train as tr

    seen: list[torch.dtype] = []
    real_build = tr.build_model

    def build(labels, cfg):
        model = real_build(labels, cfg)
        model.slot_head.register_forward_hook(
            lambda _m, _i, out: seen.append(out.dtype) if model.training else None
        )
        return model

    monkeypatch.setattr(tr, "build_model", build)
    examples, labels = _two_intents()
    cfg = tr.TrainConfig(epochs=1, batch_size=4, layers=1, max_steps=3, threads=1, bf16=bf16)
    model, _, history = tr.train(examples, examples[:4], labels, cfg, progress=False)
    assert seen == [torch.bfloat16 if bf16 else torch.float32] * 3
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert history["config"]["bf16"] is bf16 and history["evals"]


@pytest.mark.parametrize("native", [False, True])
def test_bf16_warns_only_where_the_cpu_lacks_bfloat16(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    native: bool,
) -> None:
    import edged.training.pipeline as pipeline
    import edged.training.train as tr
    from edged.cli import main

    class Stop(Exception):
        pass

    def stop(*_a: Any, **_k: Any) -> None:
        raise Stop  # the flags are checked; no training

    monkeypatch.setattr(tr, "native_bf16", lambda: native)
    monkeypatch.setattr(pipeline, "build_model_dir", stop)
    with pytest.raises(Stop):
        main(["train", "--bf16", "--out", str(tmp_path / "m"), "--no-progress"])
    warned = "this CPU has no bfloat16 instructions" in capsys.readouterr().err
    assert warned is not native
