"""Confidence calibration: temperature scaling and how it is measured.

A model's top softmax probability is its "confidence"; the daemon refuses a
parse below `nlu.confidence_floor`. That floor only means what it says if,
among parses at confidence p, about p are right. Fine-tuned classifiers are
over-confident (issue 21: chatter got device intents at 0.99). Temperature
scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017)
divides the intent logits by one number T > 1 fitted on held-out data by
minimising the negative log-likelihood; the argmax, so accuracy, is
unchanged. The trainer fits T on its generated validation split and stores
it in labels.json as `intent_temperature`; the runtime divides by it.

Numpy only: the runtime imports this module without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Search range for T. Below 0.05 or above 20 a model is broken, not miscalibrated.
T_MIN, T_MAX = 0.05, 20.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature."""
    x = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels at this temperature."""
    x = np.asarray(logits, dtype=np.float64) / temperature
    m = x.max(axis=-1, keepdims=True)
    log_z = (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[:, 0]
    return float(np.mean(log_z - x[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, tol: float = 1e-4) -> float:
    """The T in [T_MIN, T_MAX] that minimises the NLL of `labels`.

    The NLL is convex in 1/T (a log-sum-exp of functions linear in 1/T minus
    a linear one), so a golden-section search over 1/T finds its minimum."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels) or not len(labels):
        raise ValueError("fit_temperature needs (n, k) logits and n labels, n > 0")
    lo, hi = 1.0 / T_MAX, 1.0 / T_MIN
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, 1 / a), nll(logits, labels, 1 / b)
    while hi - lo > tol:
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, 1 / a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, 1 / b)
    return float(2.0 / (lo + hi))


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    n: int
    confidence: float  # mean confidence of the predictions in the bin
    accuracy: float  # share of them that are right


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[Bin]:
    """Predictions grouped by confidence into equal-width bins over [0, 1]
    (a confidence of exactly 1.0 goes into the last bin)."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for i in range(bins):
        sel = index == i
        n = int(sel.sum())
        out.append(
            Bin(
                lo=float(edges[i]),
                hi=float(edges[i + 1]),
                n=n,
                confidence=float(conf[sel].mean()) if n else 0.0,
                accuracy=float(ok[sel].mean()) if n else 0.0,
            )
        )
    return out


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """ECE: the bins' |accuracy - confidence|, weighted by their share of
    the predictions (Naeini et al. 2015; equal-width bins)."""
    n = len(confidence)
    if not n:
        return 0.0
    return float(
        sum(
            b.n / n * abs(b.accuracy - b.confidence)
            for b in reliability_bins(confidence, correct, bins)
        )
    )
