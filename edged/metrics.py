"""Observability: a Prometheus endpoint and one log line per utterance.

`Metrics` owns its own `CollectorRegistry` (never the process-global one), so
two daemons in one test process, or a test and a daemon, never share
counters. prometheus-client is an optional extra: `load_metrics` turns its
absence into one `MetricsUnavailable` that the daemon reports at start.

Series:
- `edged_utterances_total{status, intent}`: every result event, by status
  (executed, not_recognized, needs_confirmation, refused, error, parsed) and
  intent (`none` when there is none);
- `edged_stage_seconds{stage}`: a histogram per stage of the path, from the
  result event's `stages_ms` (tokenize, infer, decode, resolve, policy_render,
  publish);
- `edged_latency_seconds`: receipt to result, per utterance;
- `edged_confidence`: the intent confidence, for choosing a floor;
- `edged_build_info{version}`, and the process collector (memory, CPU, fds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edged import __version__
from edged.messages import ResultEvent

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# The stages a histogram is kept for. A fixed set keeps the label's
# cardinality bounded whatever a future engine adds to stages_ms; "engine" is
# left out because it is the sum of the ones before it.
STAGES: tuple[str, ...] = ("tokenize", "infer", "decode", "resolve", "policy_render", "publish")
# Sub-millisecond tokenizing up to a slow broker round trip.
STAGE_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
CONFIDENCE_BUCKETS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
NO_INTENT = "none"


class MetricsUnavailable(RuntimeError):
    """Metrics are enabled but prometheus-client is not installed."""


@dataclass
class Metrics:
    registry: CollectorRegistry
    utterances: Any
    stages: Any
    latency: Any
    confidence: Any
    server: Any = None

    def observe(self, result: ResultEvent, publish_ms: float | None = None) -> None:
        """Count one result event and its stage timings. `publish_ms` is
        measured by the daemon after the result event went out, so it is not
        in the event's own `stages_ms`."""
        self.utterances.labels(status=result.status, intent=result.intent or NO_INTENT).inc()
        stages = dict(result.stages_ms)
        if publish_ms is not None:
            stages["publish"] = publish_ms
        for stage in STAGES:
            ms = stages.get(stage)
            if ms is not None:
                self.stages.labels(stage=stage).observe(ms / 1e3)
        if result.latency_ms is not None:
            self.latency.observe(result.latency_ms / 1e3)
        if result.confidence is not None and result.intent is not None:
            self.confidence.observe(result.confidence)

    def serve(self, host: str, port: int) -> None:
        """Start the HTTP endpoint (`/metrics`) on a daemon thread."""
        from prometheus_client import start_http_server

        self.server, _ = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def load_metrics() -> Metrics:
    """A fresh set of metrics in its own registry; raises MetricsUnavailable."""
    try:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Histogram,
            Info,
            ProcessCollector,
        )
    except ImportError as e:
        raise MetricsUnavailable(
            "metrics.enabled is true but prometheus-client is not installed: "
            "pip install 'edged[metrics]' (or set metrics.enabled: false)"
        ) from e
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    Info("edged_build", "edged version", registry=registry).info({"version": __version__})
    return Metrics(
        registry=registry,
        utterances=Counter(
            "edged_utterances",
            "Utterances answered, by result status and intent",
            ["status", "intent"],
            registry=registry,
        ),
        stages=Histogram(
            "edged_stage_seconds",
            "Time spent in each stage of one utterance",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        ),
        latency=Histogram(
            "edged_latency_seconds",
            "From receiving an utterance to its result event",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        confidence=Histogram(
            "edged_confidence",
            "Intent confidence of recognised utterances",
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        ),
    )


def log_fields(result: ResultEvent, publish_ms: float | None = None) -> dict[str, Any]:
    """The fields of the one log line per handled utterance. JSON logs carry
    them all as keys; text logs show all but the stage breakdown."""
    stages = {k: round(v, 3) for k, v in result.stages_ms.items()}
    if publish_ms is not None:
        stages["publish"] = round(publish_ms, 3)
    return {
        "id": result.id,
        "site": result.site,
        "status": result.status,
        "intent": result.intent,
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "latency_ms": None if result.latency_ms is None else round(result.latency_ms, 2),
        "stages_ms": stages,
    }


def log_result(
    logger: logging.Logger, result: ResultEvent, publish_ms: float | None = None
) -> None:
    f = log_fields(result, publish_ms)
    logger.info(
        "handled id=%s site=%s status=%s intent=%s confidence=%s latency_ms=%s",
        f["id"],
        f["site"],
        f["status"],
        f["intent"],
        f["confidence"],
        f["latency_ms"],
        extra=f,
    )


__all__ = [
    "STAGES",
    "Metrics",
    "MetricsUnavailable",
    "load_metrics",
    "log_fields",
    "log_result",
]
