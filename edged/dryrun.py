"""`edged parse --config FILE`: what the daemon would publish, without a broker."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from edged.engine import Engine, Outcome
from edged.messages import Utterance


def _record(outcome: Outcome) -> dict[str, object]:
    r = outcome.result
    p = outcome.parse
    return {
        "text": r.text,
        "intent": r.intent,
        "confidence": None if r.confidence is None else round(r.confidence, 4),
        "slots": [
            {"name": s.name, "text": s.text, "start": s.start, "end": s.end, "value": s.value}
            for s in (p.slots if p else ())
        ],
        "status": r.status,
        "actions": [a.to_dict() for a in outcome.commands] or [a.to_dict() for a in r.actions],
        "error": r.error,
        "speech": r.speech,
        "response_type": r.response_type,
        **({"state": r.state} if r.state is not None else {}),
        **({"states": r.states} if r.states else {}),
    }


def dry_run(args: argparse.Namespace) -> int:
    from edged.cli import load_config_or_report
    from edged.nlu.model import ModelLoadError, NluModel

    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    try:
        model = NluModel(
            args.model or cfg.nlu.model_dir,
            threads=args.threads,
            confidence_floor=args.floor if args.floor is not None else cfg.nlu.confidence_floor,
            language=cfg.language,
        )
    except ModelLoadError as e:
        raise SystemExit(f"edged: {e}") from e
    engine = Engine.from_config(cfg, model)

    def one(text: str) -> Outcome:
        now = time.time()
        utt = Utterance(text, uuid.uuid4().hex, args.site, None, None, "dry-run", now, False)
        return engine.handle(utt, now)

    if args.jsonl:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(_record(one(line.rstrip("\n"))), ensure_ascii=False), flush=True)
        return 0
    text = " ".join(args.text)
    if not text:
        raise SystemExit("edged parse: give the text to parse, or --jsonl to read stdin")
    rec = _record(one(text))
    if args.json:
        print(json.dumps(rec, ensure_ascii=False, indent=2))
        return 0
    print(f"intent:     {rec['intent'] or 'not recognised'} ({rec['confidence']})")
    for s in rec["slots"]:  # type: ignore[attr-defined]
        print(f"  {s['name']:<13} {s['text']!r} -> {json.dumps(s['value'])}")
    print(f"status:     {rec['status']}" + (f" ({rec['error']})" if rec["error"] else ""))
    for a in rec["actions"]:  # type: ignore[attr-defined]
        print(f"  {a['device']}: {a['op']} {json.dumps(a['params'])}")
        if a["topic"]:
            print(f"    -> {a['topic']}  {a['payload']}")
    print(f"says:       {rec['speech']} ({rec['response_type']})")
    return 0
