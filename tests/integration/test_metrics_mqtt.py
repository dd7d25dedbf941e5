"""The Prometheus endpoint of a running daemon, scraped after a few utterances,
and the one log line per utterance in JSON."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.broker import Probe, free_port, running_broker
from tests.integration.conftest import DaemonProcess, base_config, say

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_scrape_after_a_few_utterances(tmp_path: Path) -> None:
    port = free_port()
    with running_broker(tmp_path) as broker:
        cfg = base_config(broker.port, metrics={"enabled": True, "port": port})
        d = DaemonProcess(cfg, tmp_path, env={"EDGED_LOG_FORMAT": "json"}).start()
        probe = Probe(broker.port).connect()
        try:
            d.wait_online(probe)
            ids = [uuid.uuid4().hex[:8] for _ in range(4)]
            assert say(probe, "turn off the kitchen lights", ids[0])["status"] == "executed"
            assert say(probe, "switch on the coffee maker", ids[1])["status"] == "executed"
            assert say(probe, "turn on the reading lamp", ids[2])["status"] == "executed"
            assert say(probe, "what's the weather tomorrow", ids[3])["status"] == "not_recognized"
            probe.publish("edged/utterance", b"\xff")
            probe.wait_for(lambda m: m.topic == "edged/result", count=5)
            s = _scrape(port)
        finally:
            probe.close()
            d.stop()
    total = "edged_utterances_total"
    assert s[(total, (("intent", "HassTurnOff"), ("status", "executed")))] == 1
    assert s[(total, (("intent", "HassTurnOn"), ("status", "executed")))] == 2
    assert s[(total, (("intent", "none"), ("status", "not_recognized")))] == 1
    assert s[(total, (("intent", "none"), ("status", "error")))] == 1
    for stage in ("tokenize", "infer", "resolve", "publish"):
        count = s[("edged_stage_seconds_count", (("stage", stage),))]
        assert count >= 4, (stage, count)
        assert s[("edged_stage_seconds_sum", (("stage", stage),))] > 0
        assert s[("edged_stage_seconds_bucket", (("le", "+Inf"), ("stage", stage)))] == count
    assert s[("edged_latency_seconds_count", ())] == 5
    assert s[("process_resident_memory_bytes", ())] > 0
    # One JSON log line per handled utterance, with the fields to grep for.
    lines = [json.loads(line) for line in d.output().splitlines() if line.startswith("{")]
    handled = [r for r in lines if r["msg"].startswith("handled ")]
    assert len(handled) == 5, handled
    first = next(r for r in handled if r.get("id") == ids[0])
    assert first["status"] == "executed" and first["intent"] == "HassTurnOff"
    assert first["level"] == "info" and first["site"] is None
    assert 0.5 < first["confidence"] <= 1 and first["latency_ms"] > 0
    assert set(first["stages_ms"]) >= {"tokenize", "infer", "resolve", "publish"}
