"""How edged does on one home: commands right, wrong-device actions, remarks acted on.

    python bench/home_eval.py [--config HOME.yaml] [--cases CASES.jsonl] [--model DIR]
                              [--misses] [--json]

Runs the real engine (`Engine.handle`, the dry run `edged parse --config` uses:
NLU + resolve + policy + render) over a cases file, in order and with one
engine, so "it" and "brighter" follow the line before as they would in a
kitchen. Defaults: the held-out home tests/homes/plain_home.yaml and its cases.
`--config bench` is the 25-device home of bench/hassil_compare.py with
bench/utterances.jsonl (each line on its own there, as that bench runs them).

Case lines (JSON):
  {"text", "expect": "act", "targets": [ids], "op": "on", "site"?}  a command
  {"text", "expect": "none"}               a remark: must not act
  {"text", "expect": "unknown", "name"}    names what the home lacks: no action,
                                           an error saying so
bench/utterances.jsonl's rows ({"text", "group", "intent", "targets"}) are
read too: chatter is a remark, the rest commands judged by intent and targets.

An utterance acts when its result is executed or waits for a "yes" with
device actions; a question answered from device state (the result's `state`
/ `states`) counts as op "query" on those devices. A command that names the
right device but cannot run because a relative op needs a value the device
never reported ("I don't know the volume of the TV") is counted apart, as
waiting for state: no state is fed here. Counted: a command is right when it acts on exactly the
expected devices with the expected op; a wrong-device action is any action on
a device a command did not name; a remark acted on is any device command on
a remark or an unknown name (a state query, which changes no device, is
counted apart).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _p in (str(REPO), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

PLAIN_HOME = REPO / "tests" / "homes" / "plain_home.yaml"
PLAIN_CASES = REPO / "tests" / "homes" / "plain_home_cases.jsonl"
ACTING = ("executed", "needs_confirmation")


@dataclass
class CaseResult:
    case: dict[str, Any]
    status: str
    intent: str | None
    confidence: float | None
    actions: list[tuple[str, str]]
    error: str | None
    right: bool
    wrong_device: bool
    acted_on_remark: bool
    queried: bool = False
    # The right device named, no action: its state is needed and unknown.
    waits_for_state: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.case["text"],
            "expect": self.case["expect"],
            "targets": self.case.get("targets"),
            "op": self.case.get("op"),
            "status": self.status,
            "intent": self.intent,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "actions": [f"{d}:{op}" for d, op in self.actions],
            "error": self.error,
        }


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)

    def _of(self, expect: str) -> list[CaseResult]:
        return [r for r in self.results if r.case["expect"] == expect]

    @property
    def commands(self) -> list[CaseResult]:
        return self._of("act")

    @property
    def commands_right(self) -> int:
        return sum(r.right for r in self.commands)

    @property
    def wrong_device(self) -> list[CaseResult]:
        return [r for r in self.results if r.wrong_device]

    @property
    def remarks_acted(self) -> list[CaseResult]:
        return [r for r in self.results if r.acted_on_remark]

    def summary(self) -> dict[str, Any]:
        n = len(self.commands)
        remarks, unknown = self._of("none"), self._of("unknown")
        return {
            "commands": n,
            "commands_right": self.commands_right,
            "commands_right_pct": round(100.0 * self.commands_right / n, 2) if n else None,
            # Right device, nothing done: a relative op on a device that has
            # not reported (or cannot report) the value it starts from.
            "commands_waiting_for_state": sum(r.waits_for_state for r in self.commands),
            "wrong_device_actions": len(self.wrong_device),
            "remarks": len(remarks),
            "remarks_acted_on": sum(r.acted_on_remark for r in remarks),
            "remarks_queried": sum(r.queried for r in remarks),
            "unknown_names": len(unknown),
            "unknown_acted_on": sum(r.acted_on_remark for r in unknown),
            "unknown_answered": sum(r.right for r in unknown),
        }


def read_cases(path: Path) -> list[dict[str, Any]]:
    """Cases in either format, as {"text", "expect", ...} dicts in file order."""
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            row = json.loads(line)
            if "expect" not in row:  # bench/utterances.jsonl
                if row["group"] == "chatter":
                    row = {"text": row["text"], "expect": "none", "isolated": True}
                else:
                    row = {
                        "text": row["text"],
                        "expect": "act",
                        "targets": row["targets"],
                        "intent": row["intent"],
                        "isolated": True,
                    }
            if row["expect"] not in ("act", "none", "unknown"):
                raise ValueError(f"{row['text']!r}: expect must be act, none or unknown")
            out.append(row)
    return out


def _answered(result: Any) -> list[str]:
    """Devices a question was answered about from state (edged.home.state):
    the result's `state` / `states`, known value or not."""
    answers = [result.state] if result.state else list(result.states or ())
    return [a["device"] for a in answers if isinstance(a, dict) and "device" in a]


def _waits_for_state(result: Any, names: Sequence[str]) -> bool:
    """No action because a relative op needs a value the device never
    reported ("I don't know the volume of the TV, so I can't turn it up"):
    edged's honest answer for a device that cannot report, not a miss of
    understanding. Judged by the sentence, which names the device."""
    error = result.error or ""
    return any(
        error.startswith((f"I don't know the volume of the {n}", f"I don't know what the {n} is"))
        for n in names
    )


def judge(case: dict[str, Any], outcome: Any, names: Mapping[str, str] | None = None) -> CaseResult:
    r = outcome.result
    acting = r.status in ACTING
    actions = [(a.device, a.op) for a in r.actions] if acting else []
    # A question answered from state moves nothing: it counts as op "query".
    answered = [] if actions else _answered(r)
    actions = actions or [(d, "query") for d in answered]
    # A state query changes no device: on a remark it is reported, not "acted".
    queried = bool(actions) and all(op == "query" for _, op in actions)
    devices = {d for d, _ in actions}
    expect = case["expect"]
    right = wrong_device = acted_on_remark = waits = False
    if expect == "act":
        wanted = set(case["targets"])
        op_ok = "op" not in case or all(op == case["op"] for _, op in actions)
        intent_ok = "intent" not in case or r.intent == case["intent"]
        right = bool(actions) and devices == wanted and op_ok and intent_ok
        wrong_device = bool(devices - wanted)
        if not actions and names is not None:
            waits = _waits_for_state(r, [names[d] for d in wanted if d in names])
    else:
        acted_on_remark = bool(actions) and not queried
        # An unknown name is answered when nothing acts and the result says why.
        right = not actions and (expect == "none" or bool(r.error))
    return CaseResult(
        case,
        r.status,
        r.intent,
        r.confidence,
        actions,
        r.error,
        right,
        wrong_device,
        acted_on_remark,
        queried and expect != "act",
        waits,
    )


def evaluate(engine: Any, cases: Iterable[dict[str, Any]], *, start: float | None = None) -> Report:
    """Every case through `engine.handle`, in order; the clock moves 5 s a line,
    well inside the context ttl, so follow-ups see the line before."""
    from edged.messages import Utterance

    report = Report()
    now = time.time() if start is None else start
    for case in cases:
        now += 5.0
        site = case.get("site")
        if case.get("isolated"):
            engine.context.forget(site)
        engine.pending.discard(site)
        utt = Utterance(case["text"], uuid.uuid4().hex, site, None, None, "home-eval", now, True)
        names = {d.id: d.name for d in engine.home.devices.values()}
        report.results.append(judge(case, engine.handle(utt, now), names))
    return report


def build_engine(config: str, model: Any) -> Any:
    from edged.config import load_config, parse_config
    from edged.engine import Engine

    if config == "bench":
        import hassil_compare
        import yaml

        cfg = parse_config(
            yaml.safe_dump(hassil_compare.edged_config(hassil_compare.generate_home(25)))
        )
    else:
        cfg = load_config(config)
    return Engine.from_config(cfg, model)


def run(
    config: str, cases_path: Path, model_dir: Path | None = None
) -> tuple[Report, list[dict[str, Any]]]:
    from edged.config import parse_config
    from edged.nlu.model import NluModel

    floor = parse_config("{}").nlu.confidence_floor
    model = NluModel(model_dir, threads=1, confidence_floor=floor)
    cases = read_cases(cases_path)
    return evaluate(build_engine(config, model), cases), cases


def _print_misses(results: Sequence[CaseResult]) -> None:
    for r in results:
        if r.right:
            continue
        flag = (
            "WRONG DEVICE "
            if r.wrong_device
            else "ACTED "
            if r.acted_on_remark
            else "QUERIED "
            if r.queried
            else ""
        )
        print(f"  {flag}{json.dumps(r.to_dict())}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", default=str(PLAIN_HOME), help="home YAML, or 'bench'")
    ap.add_argument("--cases", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--misses", action="store_true", help="print every case not right")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    cases = args.cases
    if cases is None:
        cases = BENCH / "utterances.jsonl" if args.config == "bench" else PLAIN_CASES
    report, _ = run(args.config, cases, args.model)
    s = report.summary()
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"home {args.config}, cases {cases}")
        print(
            f"commands right {s['commands_right']}/{s['commands']} ({s['commands_right_pct']} %; "
            f"{s['commands_waiting_for_state']} more named the right device and wait for its state), "
            f"wrong-device actions {s['wrong_device_actions']}, "
            f"remarks acted on {s['remarks_acted_on']}/{s['remarks']} "
            f"(state queries {s['remarks_queried']}), "
            f"unknown names acted on {s['unknown_acted_on']}/{s['unknown_names']} "
            f"(answered {s['unknown_answered']})"
        )
    if args.misses:
        _print_misses(report.results)


if __name__ == "__main__":
    main()
