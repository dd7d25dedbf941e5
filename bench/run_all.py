"""Every benchmark in one run: `make bench` (a few minutes on 2 cores).

    python bench/run_all.py [--model DIR] [--out DIR] [--data DIR] [--quick]

Writes results.json, results.md (tables, figures against the targets) and
latency.png into --out (default: bench/). The machine is recorded with the
figures. `--quick` runs every piece on tiny N (the smoke test uses it): the
structure is the same, the numbers mean nothing.

  1. NLU latency, batch 1, 1 and 2 threads          bench/nlu_latency.py
  2. end to end through Mosquitto, cold start       bench/e2e.py
  3. throughput at QoS 1 with nothing lost          bench/throughput.py
  4. RSS after start and after 10,000 utterances    bench/memory.py
  5. hassil vs edged at 25, 100 and 300 devices     bench/hassil_compare.py
  6. the shipped model on ../shared/bench-data      bench/accuracy.py
  7. a 300-device home imported from the broker    bench/import_home.py
  8. the gazetteer at 25, 100 and 300 devices, and
     the held-out home and the bench home           bench/gazetteer.py, bench/home_eval.py
  9. each language model beside the English one:
     size, NLU p50/p99 (interleaved), accuracy      bench/languages.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for p in (str(REPO), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import accuracy  # noqa: E402
import e2e  # noqa: E402
import gazetteer  # noqa: E402
import hassil_compare  # noqa: E402
import home_eval  # noqa: E402
import import_home  # noqa: E402
import languages  # noqa: E402
import memory  # noqa: E402
import nlu_latency  # noqa: E402
import throughput  # noqa: E402

TARGETS = {
    "nlu_p50_ms": ("<=", 2.0),
    "nlu_p99_ms": ("<=", 4.0),
    "e2e_p50_ms": ("<=", 5.0),
    "e2e_p99_ms": ("<=", 10.0),
    "throughput_per_s": (">=", 500),
    "rss_mb": ("<=", 150.0),
    "cold_start_s": ("<=", 1.5),
}


@dataclass(frozen=True)
class Plan:
    nlu_runs: int = 5
    nlu_n: int = 2000
    e2e_runs: int = 5
    e2e_n: int = 250
    cold_runs: int = 5
    rates: tuple[float, ...] = throughput.RATES
    step_s: float = 5.0
    soak_n: int = 10_000
    sizes: tuple[int, ...] = hassil_compare.SIZES
    compare_repeats: int = 5
    compare_rows: int | None = None
    accuracy_limit: int | None = None
    import_size: int = 300
    import_runs: int = 5
    gazetteer_runs: int = 5
    languages_runs: int = 5
    languages_n: int = 500


QUICK = Plan(
    nlu_runs=2,
    nlu_n=30,
    e2e_runs=2,
    e2e_n=10,
    cold_runs=1,
    rates=(50,),
    step_s=0.5,
    soak_n=100,
    compare_repeats=2,
    compare_rows=12,
    accuracy_limit=15,
    import_size=40,
    import_runs=1,
    gazetteer_runs=1,
    languages_runs=2,
    languages_n=10,
)


def machine_info() -> dict[str, Any]:
    import onnxruntime

    cpu, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    versions = {}
    for pkg in ("hassil", "home-assistant-intents", "paho-mqtt", "aiomqtt", "numpy", "tokenizers"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = None
    mosquitto = None
    binary = e2e.mosquitto_binary()
    if binary:
        try:
            out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5).stdout
            mosquitto = out.splitlines()[0].strip() if out else None
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        # Files of the product changed since that commit: measured as they are.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "edged", "models"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except OSError:
        commit, dirty = "", []
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_flags": sorted(
            flags & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "neon", "asimd"}
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onnxruntime": onnxruntime.__version__,
        "mosquitto": mosquitto,
        "packages": versions,
        "git_commit": commit,
        "uncommitted_product_files": dirty,
        # Other work on the machine skews every figure: say how busy it was.
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _step(name: str, log: Callable[[str], None]) -> Callable[[], None]:
    t0 = time.perf_counter()
    log(f"== {name}")

    def done() -> None:
        log(f"   ({time.perf_counter() - t0:.1f} s)")

    return done


def run(
    model_dir: Path,
    out_dir: Path,
    plan: Plan,
    data: Path = accuracy.DEFAULT_DATA,
    log: Callable[[str], None] = print,
    mqtt: bool = True,
) -> dict[str, Any]:
    from edged.config import parse_config
    from edged.nlu.model import NluModel

    started = time.perf_counter()
    floor = parse_config("{}").nlu.confidence_floor  # what the daemon uses by default
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "model_dir": str(model_dir),
        "confidence_floor": floor,
        "quick": plan == QUICK,
    }
    samples: dict[str, list[float]] = {}
    results.update(memory.model_size(model_dir))

    # 1. NLU latency
    done = _step("NLU latency, batch 1 (1 and 2 threads)", log)
    nlu_samples: dict[str, list[float]] = {}
    nlu = nlu_latency.run(model_dir, [1, 2], plan.nlu_runs, plan.nlu_n, samples=nlu_samples)
    results["nlu"] = nlu
    results["nlu_p50_ms"] = nlu["threads_1"]["p50_ms"]
    results["nlu_p99_ms"] = nlu["threads_1"]["p99_ms"]
    samples["nlu_threads_1"] = nlu_samples.get("threads_1", [])
    samples["nlu_threads_2"] = nlu_samples.get("threads_2", [])
    done()

    model = NluModel(model_dir, threads=1, confidence_floor=floor)
    model.warm_up()

    # 2-4. Through a real broker
    if mqtt and e2e.mosquitto_binary() is not None:
        with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
            results.update(_broker_benchmarks(model, model_dir, Path(tmp), plan, samples, log))
    else:
        results["mqtt_note"] = "mosquitto not installed: end-to-end, throughput, memory skipped"
        for key in ("e2e_p50_ms", "e2e_p99_ms", "throughput_per_s", "rss_mb", "cold_start_s"):
            results[key] = None
        log(results["mqtt_note"])

    # 5. hassil vs edged
    done = _step(f"hassil vs edged at {', '.join(map(str, plan.sizes))} devices", log)
    rows = hassil_compare.load_utterances()
    if plan.compare_rows:
        rows = rows[:: max(1, len(rows) // plan.compare_rows)][: plan.compare_rows]
    cmp, cmp_samples = hassil_compare.compare(
        model, plan.sizes, plan.compare_repeats, rows, log=log
    )
    results["hassil"], results["edged"] = cmp["hassil"], cmp["edged"]
    results["utterance_set"] = {
        "file": "bench/utterances.jsonl",
        "n": len(rows),
        "by_group": {g: sum(r["group"] == g for r in rows) for g in hassil_compare.GROUPS},
    }
    for system, by_size in cmp_samples.items():
        for size, xs in by_size.items():
            samples[f"{system}_{size}"] = xs
    done()

    # 6. public sets
    done = _step("accuracy on ../shared/bench-data", log)
    results["accuracy_sets"] = accuracy.evaluate(model, data, plan.accuracy_limit)
    for name, m in results["accuracy_sets"].get("sets", {}).items():
        log(
            f"  {name}: intent {m['intent_accuracy']:.3f}  slot F1 {_fmt(m['slot_f1'])}  n={m['n']}"
        )
    for name, m in results["accuracy_sets"].get("false_accepts", {}).items():
        log(f"  {name}: false accepts {m['false_accepts']}/{m['n']} ({m['false_accept_rate']:.2%})")
    if "note" in results["accuracy_sets"]:
        log("  " + results["accuracy_sets"]["note"])
    done()

    # 7. the home imported from Zigbee2MQTT and Home Assistant discovery
    if mqtt and e2e.mosquitto_binary() is not None:
        done = _step(f"import of {plan.import_size} devices from the broker", log)
        with tempfile.TemporaryDirectory(prefix="edged-bench-import-") as tmp:
            imp = import_home.run(model_dir, plan.import_size, plan.import_runs, Path(tmp))
        results["import"] = imp
        results["import_build_ms"] = imp["build"]["total"]["median_ms"]
        results["import_startup_s"] = imp["startup"]["import"]["online_s"]
        results["import_rss_mb"] = imp["startup"]["import"]["rss_mb"]
        log(
            f"  {imp['build']['devices']} devices: folded and built in "
            f"{imp['build']['total']['median_ms']} ms; online after "
            f"{imp['startup']['import']['online_s']} s (YAML {imp['startup']['yaml']['online_s']} s), "
            f"RSS {imp['startup']['import']['rss_mb']} MB (YAML {imp['startup']['yaml']['rss_mb']} MB)"
        )
        done()

    # 8. the home as evidence: the gazetteer's cost, and the two homes' cases
    done = _step(f"gazetteer at {', '.join(map(str, plan.sizes))} devices; the homes' cases", log)
    results["gazetteer"] = gazetteer.run(plan.sizes, plan.gazetteer_runs)
    for size, g in results["gazetteer"].items():
        log(
            f"  {size} devices: cold p50/p99 {g['cold']['p50_ms']}/{g['cold']['p99_ms']} ms, "
            f"warm {g['warm']['p50_ms']}/{g['warm']['p99_ms']} ms"
        )
    results["homes"] = {}
    for label, config, cases in (
        ("plain_home", str(home_eval.PLAIN_HOME), home_eval.PLAIN_CASES),
        ("bench_home", "bench", BENCH / "utterances.jsonl"),
    ):
        engine = home_eval.build_engine(config, model)
        summary = home_eval.evaluate(engine, home_eval.read_cases(cases)).summary()
        results["homes"][label] = summary
        log(
            f"  {label}: commands right {summary['commands_right']}/{summary['commands']}, "
            f"wrong-device {summary['wrong_device_actions']}, "
            f"remarks acted on {summary['remarks_acted_on']}/{summary['remarks']}"
        )
    done()

    # 9. every shipped language model beside the English one
    done = _step(
        f"languages: model size, NLU p50/p99 interleaved ({plan.languages_runs} rounds x "
        f"{plan.languages_n} per model), accuracy",
        log,
    )
    results["languages"] = languages.run(
        model_dir,
        plan.languages_runs,
        plan.languages_n,
        data,
        plan.accuracy_limit,
        floor,
        log=log,
    )
    done()

    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets_report(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results = _finite(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(results))
    import plot

    plot.plot(results, samples, out_dir / "latency.png")
    log(f"wrote {out_dir / 'results.json'}, results.md, latency.png in {results['elapsed_s']} s")
    return results


def _broker_benchmarks(
    model: Any,
    model_dir: Path,
    tmp: Path,
    plan: Plan,
    samples: dict[str, list[float]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    home = hassil_compare.generate_home(25)
    texts = e2e.all_texts()
    with e2e.running_broker(tmp) as broker:
        done = _step(f"cold start x{plan.cold_runs}", log)
        cold = e2e.cold_start(broker.port, tmp, model_dir, plan.cold_runs)
        out["cold_start"] = cold
        out["cold_start_s"] = cold["cold_start_s"]
        log(
            f"  to online: median {cold['cold_start_s']} s {cold['runs_s']}; "
            f"to first result {cold['first_result_s']} s"
        )
        done()

        client = e2e.BenchClient(
            broker.port, ("edged/result", "bench/+/status", *e2e.DEVICE_TOPICS)
        ).connect()
        daemon = e2e.Daemon(broker.port, tmp, model_dir, home).start()
        try:
            daemon.wait_online(client)
            daemon.wait_ready(client)
            time.sleep(0.5)
            rss_start = memory.rss_mb(daemon.pid)

            done = _step(f"memory: {plan.soak_n} utterances", log)
            soak = memory.soak(client, texts, plan.soak_n, daemon.pid)
            out["memory"] = {"rss_start_mb": round(rss_start, 1), **soak}
            out["rss_start_mb"] = round(rss_start, 1)
            out["rss_mb"] = soak["rss_after_mb"]
            log(
                f"  RSS {rss_start:.1f} MB after start, {soak['rss_after_mb']} MB after "
                f"{soak['answered']}/{plan.soak_n} ({soak['rate_per_s']}/s)"
            )
            done()

            done = _step(f"end to end: {plan.e2e_runs} x {plan.e2e_n} one at a time", log)
            acting = e2e.acting_utterances(model, home)
            res = e2e.measure_e2e(client, acting, plan.e2e_n, plan.e2e_runs)
            samples["e2e"] = res.pop("_samples")
            out["e2e"] = res
            out["e2e_p50_ms"], out["e2e_p99_ms"] = res["e2e_p50_ms"], res["e2e_p99_ms"]
            log(
                f"  {res['measured']}: p50 {res['e2e_p50_ms']} ms, p99 {res['e2e_p99_ms']} ms "
                f"({res['distinct_utterances']} distinct utterances, {res['timeouts']} timeouts, {res['command_mismatches']} acted unlike the dry run); "
                f"result p50 {res['result']['p50_ms']} p99 {res['result']['p99_ms']} ms"
            )
            done()
        finally:
            daemon.stop()
            client.close()

        # Throughput on its own daemon and a client that takes only results
        # (throughput.LeanClient: one thread, no paho network thread), so the
        # bench's own Python is not the bottleneck.
        done = _step(f"throughput ramp {list(plan.rates)} /s, {plan.step_s} s each", log)
        with throughput.ramp_daemon(broker.port, tmp, model_dir, home) as (daemon, hub):
            tp = throughput.measure_throughput(hub, texts, plan.rates, plan.step_s, log=log)
            out["throughput"] = tp
            out["throughput_per_s"] = tp["throughput_per_s"]
            out["memory"]["rss_after_throughput_mb"] = round(memory.rss_mb(daemon.pid), 1)
        done()
    return out


def _met(value: Any, op: str, target: float) -> bool | None:
    if value is None:
        return None
    return value <= target if op == "<=" else value >= target


def targets_report(r: dict[str, Any]) -> dict[str, Any]:
    rep: dict[str, Any] = {}
    for key, (op, target) in TARGETS.items():
        rep[key] = {
            "value": r.get(key),
            "target": f"{op} {target}",
            "met": _met(r.get(key), op, target),
        }
    big = str(max((int(k) for k in r.get("edged", {})), default=0))
    e, h = r.get("edged", {}).get(big), r.get("hassil", {}).get(big)
    if e and h:
        rep[f"edged_p99_below_hassil_p50_at_{big}"] = {
            "value": f"{e['p99_ms']} vs {h['p50_ms']}",
            "target": "edged p99 < hassil p50",
            "met": e["p99_ms"] < h["p50_ms"],
        }
        if "stages" in e:
            # Not a target of its own: the part of edged's time that grows with the home.
            rep[f"edged_resolve_p99_below_hassil_p50_at_{big}"] = {
                "value": f"{e['stages']['resolve']['p99_ms']} vs {h['p50_ms']}",
                "target": "resolve stage p99 < hassil p50",
                "met": e["stages"]["resolve"]["p99_ms"] < h["p50_ms"],
            }
        rep[f"edged_more_accurate_at_{big}"] = {
            "value": f"{e['accuracy']:.3f} vs {h['accuracy']:.3f}",
            "target": "edged accuracy > hassil accuracy",
            "met": e["accuracy"] > h["accuracy"],
        }
    langs = r.get("languages", {})
    for lang, x in langs.get("models", {}).items():
        if lang == "en":
            continue
        rep[f"language_{lang}_nlu_p50_vs_english"] = {
            "value": f"{x['p50_ratio']}x ({x['p50_ms']} vs {langs['models']['en']['p50_ms']} ms)",
            "target": f"<= {langs['max_p50_ratio']}x English",
            "met": x["p50_ratio_met"],
        }
        rep[f"language_{lang}_model_mb"] = {
            "value": f"{x['model_mb']} MB",
            "target": f"<= {langs['max_model_mb']:g} MB",
            "met": x["size_met"],
        }
    return rep


def _fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def _mark(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[met]


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    t = r["targets"]
    lines = [
        "# edged benchmark results",
        "",
        f"{r['date']}, commit `{m.get('git_commit', '')}`"
        + (
            f" plus uncommitted changes to {', '.join(m['uncommitted_product_files'])}"
            if m.get("uncommitted_product_files")
            else ""
        )
        + (" — **quick run (tiny N): numbers are meaningless**" if r.get("quick") else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m['cpu_flags']) or 'no SIMD flags read'}), "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}, {m.get('mosquitto') or 'mosquitto ?'}, "
        f"hassil {m['packages'].get('hassil')}, home-assistant-intents {m['packages'].get('home-assistant-intents')}. "
        f"Load average at start {m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')}.",
        f"Model: `{r['model_dir']}`, model.onnx {r.get('model_mb')} MB; confidence floor {r['confidence_floor']}.",
        "",
        "Latencies are the median over runs of each run's p50 and p99.",
        "",
        "## Against the targets",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
    ]
    labels = {
        "nlu_p50_ms": ("NLU p50, 1 thread", " ms"),
        "nlu_p99_ms": ("NLU p99, 1 thread", " ms"),
        "e2e_p50_ms": ("end to end p50 (publish -> device command)", " ms"),
        "e2e_p99_ms": ("end to end p99", " ms"),
        "throughput_per_s": ("sustained throughput, QoS 1, nothing lost", "/s"),
        "rss_mb": ("daemon RSS after 10,000 utterances", " MB"),
        "cold_start_s": ("cold start: process start -> retained online", " s"),
    }
    for key, (label, unit) in labels.items():
        row = t[key]
        lines.append(
            f"| {label} | {_fmt(row['value'], unit)} | {row['target']}{unit} | {_mark(row['met'])} |"
        )
    for key, row in t.items():
        if key not in labels:
            lines.append(
                f"| {key.replace('_', ' ')} | {row['value']} | {row['target']} | {_mark(row['met'])} |"
            )
    nlu = r.get("nlu", {})
    lines += [
        "",
        "## Other figures",
        "",
        "| measure | result |",
        "|---|---|",
    ]
    for k, v in nlu.items():
        lines.append(
            f"| NLU {k.replace('_', ' ')}: p50 / p99 | {v['p50_ms']} / {v['p99_ms']} ms ({v['runs']} runs x {v['n_per_run']}) |"
        )
    if "e2e" in r:
        e = r["e2e"]
        lines.append(
            f"| end to end, publish -> result event: p50 / p99 | {e['result']['p50_ms']} / {e['result']['p99_ms']} ms |"
        )
        lines.append(
            f"| end to end samples | {e['command']['n'] or e['result']['n']} ({e['distinct_utterances']} distinct utterances, {e['timeouts']} timeouts, {e['command_mismatches']} acted unlike the dry run) |"
        )
    if "cold_start" in r:
        c = r["cold_start"]
        lines.append(f"| cold start runs (s) | {c['runs_s']} |")
        lines.append(
            f"| process start -> first utterance answered | {c['first_result_s']} s (median) |"
        )
    if "memory" in r:
        mem = r["memory"]
        lines.append(f"| RSS after start | {mem['rss_start_mb']} MB |")
        lines.append(
            f"| RSS after the throughput ramp (separate daemon) | {mem.get('rss_after_throughput_mb')} MB |"
        )
        lines.append(f"| soak rate ({mem['n']} utterances, 32 in flight) | {mem['rate_per_s']}/s |")
    for size, x in sorted(r.get("edged", {}).items(), key=lambda kv: int(kv[0])):
        if "stages" in x:
            st, first = x["stages"], x["first_run"]
            lines.append(
                f"| edged at {size} devices: resolve stage p50 / p99; model p50 / p99 | "
                f"{st['resolve']['p50_ms']} / {st['resolve']['p99_ms']} ms; "
                f"{st['nlu']['p50_ms']} / {st['nlu']['p99_ms']} ms |"
            )
            lines.append(
                f"| edged at {size} devices, first run (no cached names): engine p99, resolve p99 | "
                f"{first['p99_ms']} ms, {first['resolve_p99_ms']} ms |"
            )
    if "throughput" in r:
        tp = r["throughput"]
        lines.append(
            f"| result latency at {tp['throughput_per_s']}/s: p50 / p99 | {tp['p50_ms_at_throughput']} / {tp['p99_ms_at_throughput']} ms |"
        )
    lines.append(
        f"| model.onnx / runtime files on disk | {r.get('model_mb')} MB / {r.get('runtime_files_mb')} MB |"
    )
    if "throughput" in r:
        lines += [
            "",
            "### Throughput ramp",
            "",
            "| offered/s | sent | ok | lost | lag after last send | p50 ms | p99 ms | sustained |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in r["throughput"]["steps"]:
            lines.append(
                f"| {s['offered_per_s']} | {s['sent']} | {s['ok']} | {s['lost']} | {s['lag_after_last_send_s']} s "
                f"| {s['p50_ms']} | {s['p99_ms']} | {_mark(s['passed'])} |"
            )
    us = r.get("utterance_set", {})
    lines += [
        "",
        "## Home Assistant's matcher (hassil) and edged, same utterances, same home",
        "",
        f"{us.get('n')} utterances from `bench/utterances.jsonl` ({', '.join(f'{k} {v}' for k, v in us.get('by_group', {}).items())}). "
        "Accuracy: right intent and exactly the expected devices, over the commands; "
        "false accepts: chatter that would send a device command. hassil latency is `recognize_best` alone; "
        "edged's is the whole engine (NLU, resolve, policy, render).",
        "",
        "| devices | system | p50 ms | p99 ms | accuracy | canonical | paraphrase | ASR-noisy | chatter false accepts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(r.get("edged", {}), key=int):
        for system in ("hassil", "edged"):
            x = r[system][size]
            g = x["by_group"]
            lines.append(
                f"| {size} | {system} | {x['p50_ms']} | {x['p99_ms']} | {x['accuracy']:.3f} | "
                f"{_fmt(g.get('canonical'))} | {_fmt(g.get('paraphrase'))} | {_fmt(g.get('asr'))} | "
                f"{x['false_accepts']}/{x['n_by_group']['chatter']} |"
            )
    if "gazetteer" in r:
        lines += [
            "",
            "## The home as evidence",
            "",
            "`Gazetteer.find` per utterance (bench/gazetteer.py): cold = each distinct word "
            "met for the first time in the run, warm = the daemon's steady state.",
            "",
            "| devices | build ms | cold p50 / p99 ms | warm p50 / p99 ms |",
            "|---|---|---|---|",
        ]
        for size, g in r["gazetteer"].items():
            lines.append(
                f"| {size} | {g['build_ms']} | {g['cold']['p50_ms']} / {g['cold']['p99_ms']} "
                f"| {g['warm']['p50_ms']} / {g['warm']['p99_ms']} |"
            )
        lines += [
            "",
            "| home (bench/home_eval.py) | commands right | wrong-device actions | remarks acted on |",
            "|---|---|---|---|",
        ]
        for label, h in r.get("homes", {}).items():
            lines.append(
                f"| {label} | {h['commands_right']}/{h['commands']} ({h['commands_right_pct']} %) "
                f"| {h['wrong_device_actions']} | {h['remarks_acted_on']}/{h['remarks']} |"
            )
    acc = r.get("accuracy_sets", {})
    lines += ["", "## The shipped model on public sets (../shared/bench-data)", ""]
    if "note" in acc:
        lines.append(acc["note"])
    else:
        lines += [
            "| set | n | intent accuracy | slot F1 | frame accuracy |",
            "|---|---|---|---|---|",
        ]
        for name, x in acc.get("sets", {}).items():
            lines.append(
                f"| {name}{' (map ' + x['map'] + ')' if x.get('map') else ''} | {x['n']} (skipped {x['skipped']}) "
                f"| {x['intent_accuracy']:.3f} | {_fmt(x['slot_f1'], digits=3)} | {_fmt(x['frame_accuracy'], digits=3)} |"
            )
        lines += ["", "| out-of-scope set | n | false accepts | rate |", "|---|---|---|---|"]
        for name, x in acc.get("false_accepts", {}).items():
            lines.append(
                f"| {name} | {x['n']} | {x['false_accepts']} | {x['false_accept_rate']:.2%} |"
            )
        if acc.get("missing"):
            lines.append(f"\nMissing files: {', '.join(acc['missing'])}")
    if "languages" in r:
        lines += ["", "## Languages (bench/languages.py)", "", *languages.table(r["languages"])]
    imp = r.get("import")
    if imp:
        b, st = imp["build"], imp["startup"]
        lines += [
            "",
            f"## {b['devices']} devices imported from the broker (bench/import_home.py)",
            "",
            f"{b['messages']} retained messages (one Zigbee2MQTT `bridge/devices`, the rest Home "
            f"Assistant discovery configs). Start-up includes `import.settle_s` = {st['settle_s']} s, "
            "the quiet time edged waits for the retained messages to stop.",
            "",
            "| measure | import | same home in YAML |",
            "|---|---|---|",
            f"| fold every message + build the home (median of {b['runs']}) | "
            f"{b['total']['median_ms']} ms (max {b['total']['max_ms']}) | - |",
            f"| process start -> online (median of {len(st['import']['online_runs_s'])}) | "
            f"{st['import']['online_s']} s {st['import']['online_runs_s']} | "
            f"{st['yaml']['online_s']} s {st['yaml']['online_runs_s']} |",
            f"| process start -> first result | {st['import']['first_result_s']} s | "
            f"{st['yaml']['first_result_s']} s |",
            f"| RSS once online | {st['import']['rss_mb']} MB | {st['yaml']['rss_mb']} MB |",
        ]
    lines += ["", "![latency distributions and accuracy](latency.png)", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=REPO / "models" / "edged-nlu")
    ap.add_argument("--out", type=Path, default=BENCH)
    ap.add_argument("--data", type=Path, default=accuracy.DEFAULT_DATA)
    ap.add_argument(
        "--quick", action="store_true", help="tiny N: check the harness, not the machine"
    )
    ap.add_argument("--no-mqtt", action="store_true", help="skip the broker benchmarks")
    args = ap.parse_args()
    if not (args.model / "model.onnx").is_file():
        raise SystemExit(
            f"no model at {args.model} (model.onnx missing): `make train` or --model DIR"
        )
    run(
        args.model.resolve(),
        args.out,
        QUICK if args.quick else Plan(),
        args.data,
        mqtt=not args.no_mqtt,
    )


if __name__ == "__main__":
    main()
