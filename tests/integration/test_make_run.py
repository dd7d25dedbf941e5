"""`make run`'s broker and daemon, on a port of their own (BROKER_PORT end to end).

The venv steps of `make run` are not run here (they install); the broker
step is, through make and dash, and the daemon is started with exactly the
environment the Makefile's `edged run` line sets.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.broker import Probe, free_port, mosquitto_binary
from tests.integration.conftest import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or mosquitto_binary() is None, reason="needs make and mosquitto"
)


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHON": sys.executable},
    )


def edged_run_environment(port: int) -> dict[str, str]:
    """The VAR=value words in front of `edged run` in `make -n run`."""
    plan = make("-n", "run", f"BROKER_PORT={port}")
    assert plan.returncode == 0, plan.stderr
    lines = [line for line in plan.stdout.splitlines() if "/edged run --config" in line]
    assert len(lines) == 1, plan.stdout
    env = {}
    for word in shlex.split(lines[0]):
        if "=" not in word or word.startswith("-"):
            break
        name, _, value = word.partition("=")
        env[name] = value
    starts = [line for line in plan.stdout.splitlines() if "dev-broker.sh start" in line]
    assert starts and f"BROKER_PORT={port}" in starts[0], plan.stdout
    return env


def test_make_run_broker_port_reaches_the_broker_and_the_daemon(tmp_path: Path) -> None:
    port = free_port()
    env = edged_run_environment(port)
    assert env == {"EDGED_MQTT_HOST": "127.0.0.1", "EDGED_MQTT_PORT": str(port)}

    run_dir = tmp_path / "run"
    started = make("broker", f"BROKER_PORT={port}", f"RUN_DIR={run_dir}")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "set_tcp_nodelay true" in (run_dir / "mosquitto.conf").read_text()
    log = (tmp_path / "edged.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "edged.cli", "run", "--config", "examples/home.yaml"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = Probe(port, ("edged/#", "zigbee2mqtt/#")).connect()
    try:
        probe.wait_for(lambda m: m.topic == "edged/status" and m.payload == b"online", 20)
        rid = uuid.uuid4().hex
        probe.publish(
            "edged/utterance", json.dumps({"text": "turn off the kitchen lights", "id": rid})
        )
        found = probe.wait_for(
            lambda m: m.topic == "edged/result" and json.loads(m.payload).get("id") == rid
        )
        result = json.loads(found[0].payload)
        assert result["status"] == "executed", result
        assert probe.wait_for(lambda m: m.topic.startswith("zigbee2mqtt/"))
    finally:
        probe.close()
        daemon.terminate()
        daemon.wait(15)
        log.close()
        stopped = make("broker-stop", f"BROKER_PORT={port}", f"RUN_DIR={run_dir}")
    assert daemon.returncode == 0, (tmp_path / "edged.log").read_text()[-3000:]
    assert stopped.returncode == 0 and "stopped edged's broker" in stopped.stdout
