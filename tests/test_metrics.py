"""Prometheus metrics and the one log line per utterance."""

from __future__ import annotations

import io
import json
import logging
import sys
import urllib.request
from pathlib import Path

import pytest

import edged
from edged.daemon import EXIT_CONFIG, run_daemon
from edged.logs import JsonFormatter
from edged.messages import ResultEvent
from edged.metrics import STAGES, MetricsUnavailable, load_metrics, log_result
from tests.broker import free_port

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def _result(status: str = "executed", intent: str | None = "HassTurnOn") -> ResultEvent:
    return ResultEvent(
        id="r1",
        text="turn on the lamp",
        site="den",
        status=status,
        intent=intent,
        confidence=0.91 if intent else 0.4,
        latency_ms=7.5,
        stages_ms={"tokenize": 0.2, "infer": 3.1, "decode": 0.1, "resolve": 0.4, "engine": 4.0},
    )


def _samples(registry: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = prometheus_client.generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_by_status_and_intent_and_stage_histograms() -> None:
    m = load_metrics()
    m.observe(_result(), publish_ms=1.5)
    m.observe(_result(), publish_ms=2.5)
    m.observe(_result("not_recognized", None))
    m.observe(_result("parsed", "HassTurnOff"))
    s = _samples(m.registry)
    total = "edged_utterances_total"
    assert s[(total, (("intent", "HassTurnOn"), ("status", "executed")))] == 2
    assert s[(total, (("intent", "none"), ("status", "not_recognized")))] == 1
    assert s[(total, (("intent", "HassTurnOff"), ("status", "parsed")))] == 1
    for stage in ("tokenize", "infer", "decode", "resolve"):
        assert s[("edged_stage_seconds_count", (("stage", stage),))] == 4
    assert s[("edged_stage_seconds_count", (("stage", "publish"),))] == 2
    assert s[("edged_stage_seconds_sum", (("stage", "publish"),))] == pytest.approx(0.004)
    assert s[("edged_stage_seconds_sum", (("stage", "infer"),))] == pytest.approx(4 * 0.0031)
    # "engine" is a total of the others, not a stage of its own.
    assert ("edged_stage_seconds_count", (("stage", "engine"),)) not in s
    assert s[("edged_latency_seconds_count", ())] == 4
    assert s[("edged_confidence_count", ())] == 3  # only recognised intents
    assert s[("edged_build_info", (("version", edged.__version__),))] == 1
    assert set(STAGES) >= {"tokenize", "infer", "resolve", "publish"}


def test_each_metrics_object_has_its_own_registry() -> None:
    a, b = load_metrics(), load_metrics()
    a.observe(_result())
    key = ("edged_utterances_total", (("intent", "HassTurnOn"), ("status", "executed")))
    assert _samples(a.registry)[key] == 1
    assert key not in _samples(b.registry)


def test_endpoint_serves_and_closes() -> None:
    m = load_metrics()
    port = free_port()
    m.serve("127.0.0.1", port)
    try:
        m.observe(_result())
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b'edged_utterances_total{intent="HassTurnOn",status="executed"} 1.0' in body
        assert b"process_resident_memory_bytes" in body
    finally:
        m.close()


def test_missing_prometheus_client_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MetricsUnavailable, match="pip install 'edged\\[metrics\\]'"):
        load_metrics()
    config = tmp_path / "edged.yaml"
    config.write_text("metrics: {enabled: true}\n")
    # The daemon stops at start, before loading the model or connecting.
    assert run_daemon(config) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count("prometheus-client is not installed") == 1


def test_port_in_use_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = load_metrics()
    port = free_port()
    m.serve("127.0.0.1", port)
    try:
        config = tmp_path / "edged.yaml"
        config.write_text(f"metrics: {{enabled: true, port: {port}}}\n")
        assert run_daemon(config) == 1
        assert f"cannot serve metrics on 127.0.0.1:{port}" in capsys.readouterr().err
    finally:
        m.close()


def test_one_log_line_per_utterance_text_and_json() -> None:
    logger = logging.getLogger("edged.test.metrics")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for formatter, check in (
        (logging.Formatter("%(message)s"), "text"),
        (JsonFormatter(), "json"),
    ):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger.handlers[:] = [handler]
        log_result(logger, _result(), publish_ms=1.25)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1
        if check == "text":
            assert lines[0] == (
                "handled id=r1 site=den status=executed intent=HassTurnOn "
                "confidence=0.91 latency_ms=7.5"
            )
        else:
            rec = json.loads(lines[0])
            assert rec["level"] == "info"
            assert {k: rec[k] for k in ("id", "site", "status", "intent")} == {
                "id": "r1",
                "site": "den",
                "status": "executed",
                "intent": "HassTurnOn",
            }
            assert rec["confidence"] == 0.91 and rec["latency_ms"] == 7.5
            assert rec["stages_ms"]["publish"] == 1.25 and rec["stages_ms"]["infer"] == 3.1
