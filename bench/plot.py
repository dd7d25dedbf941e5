"""bench/latency.png from the results and the raw latencies of one run.

python bench/plot.py  (re-draws from bench/results.json; without raw
samples the distribution panels show the p50/p99 markers only)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BENCH = Path(__file__).resolve().parent
GROUP_LABELS = {"canonical": "canonical", "paraphrase": "paraphrase", "asr": "ASR-noisy"}
COLORS = {"edged": "#1f77b4", "hassil": "#ff7f0e"}


def _cdf(ax: Any, xs: Sequence[float], label: str, color: str | None = None) -> None:
    if not xs:
        return
    s = sorted(xs)
    n = len(s)
    ax.plot(s, [(i + 1) / n for i in range(n)], label=label, color=color)


def plot(results: dict[str, Any], samples: dict[str, Any], path: Path) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    machine = results.get("machine", {})
    fig.suptitle(
        f"edged benchmarks: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"onnxruntime {machine.get('onnxruntime', '?')}  ({results.get('date', '')})",
        fontsize=12,
    )

    # 1. NLU latency CDF
    ax = axes[0][0]
    for key, label in (("nlu_threads_1", "1 thread"), ("nlu_threads_2", "2 threads")):
        _cdf(ax, samples.get(key, []), label)
    ax.axvline(2, color="grey", ls=":", lw=1)
    ax.axvline(4, color="grey", ls="--", lw=1)
    ax.set_xlabel("ms (targets: p50 2, p99 4)")
    ax.set_ylabel("fraction of utterances")
    ax.set_title("NLU latency, batch 1: tokenize -> decoded parse")
    ax.set_xlim(left=0)
    ax.legend()

    # 2. end to end CDF
    ax = axes[0][1]
    e2e = results.get("e2e", {})
    _cdf(ax, samples.get("e2e", []), e2e.get("measured", "publish -> command"))
    ax.axvline(5, color="grey", ls=":", lw=1)
    ax.axvline(10, color="grey", ls="--", lw=1)
    ax.set_xlabel("ms (targets: p50 5, p99 10)")
    ax.set_title("End to end through Mosquitto, one at a time (QoS 1)")
    ax.set_xlim(left=0)
    ax.legend()

    # 3. hassil vs edged latency per home size
    ax = axes[0][2]
    sizes = sorted(results.get("edged", {}), key=int)
    data, labels, colors = [], [], []
    for size in sizes:
        for system in ("hassil", "edged"):
            xs = samples.get(f"{system}_{size}", [])
            if xs:
                data.append(xs)
                labels.append(f"{system}\n{size}")
                colors.append(COLORS[system])
    if data:
        bp = ax.boxplot(
            data, whis=(1, 99), showfliers=True, flierprops={"markersize": 2}, patch_artist=True
        )
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for patch, c in zip(bp["boxes"], colors, strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.5)
        ax.set_yscale("log")
    ax.set_ylabel("ms per utterance (log); whiskers p1-p99")
    ax.set_title("hassil vs edged (whole engine)\nper utterance, by devices in the home")

    # 4. accuracy by group, hassil vs edged, at each size
    ax = axes[1][0]
    groups = list(GROUP_LABELS)
    width = 0.8 / max(1, 2 * len(sizes))
    k = 0
    for size in sizes:
        for system in ("hassil", "edged"):
            r = results.get(system, {}).get(size)
            if not r:
                continue
            vals = [r["by_group"].get(g) or 0.0 for g in groups] + [1 - r["false_accept_rate"]]
            xs = [i + (k - len(sizes) + 0.5) * width for i in range(len(groups) + 1)]
            ax.bar(
                xs,
                vals,
                width,
                color=COLORS[system],
                alpha=0.35 + 0.2 * sizes.index(size),
                label=f"{system} {size}",
            )
            k += 1
    ax.set_xticks(range(len(groups) + 1), [GROUP_LABELS[g] for g in groups] + ["chatter\nrejected"])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("right intent and devices")
    ax.set_title("Own utterance set: accuracy by group")
    ax.legend(fontsize=7, ncol=2)

    # 5. public sets
    ax = axes[1][1]
    acc = results.get("accuracy_sets", {})
    names, vals, kinds = [], [], []
    for name, m in acc.get("sets", {}).items():
        names.append(f"{name}\nintent (n={m['n']})")
        vals.append(m["intent_accuracy"])
        kinds.append("#2ca02c")
    for name, m in acc.get("false_accepts", {}).items():
        names.append(f"{name}\nfalse accepts (n={m['n']})")
        vals.append(m["false_accept_rate"])
        kinds.append("#d62728")
    if names:
        ax.barh(range(len(names)), vals, color=kinds)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for i, v in enumerate(vals):
            ax.text(v + 0.01, i, f"{v:.1%}", va="center", fontsize=8)
        ax.set_xlim(0, 1.1)
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, acc.get("note", "no public sets"), ha="center", va="center", wrap=True)
    ax.set_title("Shipped model on public sets (green: accuracy, red: false-accept rate)")

    # 6. throughput ramp
    ax = axes[1][2]
    steps = results.get("throughput", {}).get("steps", [])
    if steps:
        xs = [s["offered_per_s"] for s in steps]
        ax.plot(xs, [s["p99_ms"] or 0 for s in steps], "o-", label="result p99")
        ax.plot(xs, [s["p50_ms"] or 0 for s in steps], "s-", label="result p50")
        for s in steps:
            if not s["passed"]:
                ax.annotate(
                    f"lost {s['lost']}, lag {s['lag_after_last_send_s']} s",
                    (s["offered_per_s"], s["p99_ms"] or 0),
                    fontsize=8,
                )
        ax.set_yscale("log")
        ax.axvline(500, color="grey", ls=":", lw=1)
        ax.legend()
    ax.set_xlabel("offered utterances/s (QoS 1), target >= 500")
    ax.set_ylabel("publish -> result, ms (log)")
    ax.set_title(
        f"Throughput: sustained {results.get('throughput_per_s', '?')}/s with nothing lost"
    )

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    print(plot(results, {}, BENCH / "latency.png"))


if __name__ == "__main__":
    sys.exit(main())
