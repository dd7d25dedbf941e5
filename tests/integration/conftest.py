"""Fixtures: a real Mosquitto on a free port, and `edged run` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.broker import Broker, Probe, free_port, mosquitto_binary

HERE = Path(__file__).parent
REPO = HERE.parent.parent
MODEL = REPO / "models" / "edged-nlu"

pytestmark = pytest.mark.broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(scope="session", autouse=True)
def _need_mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: `make test` installs Debian's mosquitto")
    if not (MODEL / "model.onnx").is_file():
        pytest.fail(f"the shipped model is missing: {MODEL}")


class DaemonProcess:
    def __init__(
        self, config: dict, workdir: Path, name: str = "edged", env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.name = name
        self.path = workdir / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"{name}.log"
        self.env = {**os.environ, "EDGED_LOG_LEVEL": "DEBUG", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged.cli", "run", "--config", str(self.path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO,
        )
        return self

    def wait_online(self, probe: Probe, timeout: float = 60.0) -> None:
        # A deadline, not a speed check: start-up (model load, journal
        # recovery) took over 20 s on this 2-core host beside a training run.
        status = self.config.get("topics", {}).get("status", "edged/status")
        probe.wait_for(lambda m: m.topic == status and m.payload == b"online", timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def base_config(port: int, **overrides: object) -> dict:
    cfg = yaml.safe_load((HERE / "home.yaml").read_text())
    cfg["mqtt"]["port"] = port
    cfg["mqtt"]["client_id"] = f"edged-test-{port}"
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(free_port(), tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


def start_online(
    port: int, cfg: dict[str, Any], work: Path, name: str = "edged", then: str | None = None
) -> DaemonProcess:
    """Start a daemon and wait for its `online` (and then for a message on the
    topic `then`). One that does not come up fails the test with its output."""
    d = DaemonProcess(cfg, work, name=name).start()
    probe = Probe(port, ("edged/status",) + ((then,) if then else ())).connect()
    try:
        d.wait_online(probe)
        if then:
            probe.wait_for(lambda m: m.topic == then)
    except TimeoutError:
        d.stop()
        raise AssertionError("daemon did not come online:\n" + d.output()[-3000:]) from None
    finally:
        probe.close()
    return d


@pytest.fixture(scope="module")
def daemon(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    work = tmp_path_factory.mktemp("edged")
    d = start_online(broker.port, base_config(broker.port, state_dir=str(work / "state")), work)
    yield d
    d.stop()


def start_home(port: int, home_yaml: str, model: Path, work: Path) -> DaemonProcess:
    """A daemon on a home given as YAML text (a language's own home: its
    `language:` picks `model`, which must be shipped)."""
    if not (model / "model.onnx").is_file():
        pytest.fail(f"the shipped model is missing: {model}")
    cfg = yaml.safe_load(home_yaml)
    cfg["mqtt"]["port"] = port
    cfg["state_dir"] = str(work / "state")
    return start_online(port, cfg, work)


@pytest.fixture
def probe(broker: Broker) -> Iterator[Probe]:
    p = Probe(broker.port).connect()
    yield p
    p.close()


def result_for(
    probe: Probe, request_id: str, timeout: float = 10.0, topic: str = "edged/result"
) -> dict:
    def match(m) -> bool:  # type: ignore[no-untyped-def]
        if m.topic != topic:
            return False
        try:
            return json.loads(m.payload).get("id") == request_id
        except ValueError:
            return False

    return json.loads(probe.wait_for(match, timeout)[0].payload)


def say(
    probe: Probe,
    text: str,
    request_id: str,
    site: str | None = None,
    topic: str = "edged/utterance",
    **extra: object,
) -> dict:
    body = {"text": text, "id": request_id, **extra}
    if site is not None:
        body["site"] = site
    probe.publish(topic, json.dumps(body))
    return result_for(probe, request_id)


def wait_quiet(seconds: float = 0.3) -> None:
    time.sleep(seconds)
