"""scripts/dev-broker.sh and scripts/apt-deps.sh, run by dash as make runs them.

make runs recipes with /bin/sh, which is dash on Debian and Raspberry Pi OS:
no bash, no /dev/tcp. These tests start real sockets and a real Mosquitto.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Probe, free_port, mosquitto_binary

REPO = Path(__file__).resolve().parents[1]
BROKER_SCRIPT = REPO / "scripts" / "dev-broker.sh"
APT_SCRIPT = REPO / "scripts" / "apt-deps.sh"
ARM64_SCRIPT = REPO / "scripts" / "check-arm64.sh"
# dash itself where it is installed (Debian's /bin/sh), else the system sh.
SH = shutil.which("dash") or "/bin/sh"


def run(
    script: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SH, str(script), *args],
        env={**os.environ, "PYTHON": sys.executable, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def listener() -> Iterator[int]:
    """A port some other program holds: a plain TCP listener, not a broker."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "BROKER_PORT": str(free_port()),
        "RUN_DIR": str(tmp_path / "run"),
        "MOSQUITTO_ETC": str(tmp_path / "etc-mosquitto"),
    }
    yield env
    run(BROKER_SCRIPT, "stop", env=env)  # whatever a test left running


def test_the_scripts_are_posix_sh() -> None:
    assert Path(SH).resolve().name in ("dash", "sh", "busybox"), SH
    for script in (BROKER_SCRIPT, APT_SCRIPT, ARM64_SCRIPT):
        text = script.read_text()
        assert text.startswith("#!/bin/sh\n")
        code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if "/dev/tcp" in line]
        assert subprocess.run([SH, "-n", str(script)], capture_output=True).returncode == 0
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make test installs it: apt-deps --test)"
    result = subprocess.run(
        [shellcheck, "--shell=sh", str(BROKER_SCRIPT), str(APT_SCRIPT), str(ARM64_SCRIPT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_probe_sees_a_listener_and_no_listener(listener: int) -> None:
    assert run(BROKER_SCRIPT, "probe", env={"BROKER_PORT": str(listener)}).returncode == 0
    assert run(BROKER_SCRIPT, "probe", env={"BROKER_PORT": str(free_port())}).returncode == 1


@pytest.mark.parametrize("port", ["abc", "0", "70000", "1883x", "-1"])
def test_a_bad_port_is_one_clear_line(port: str, tmp_path: Path) -> None:
    result = run(BROKER_SCRIPT, "start", env={"BROKER_PORT": port, "RUN_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.startswith("dev-broker: BROKER_PORT must be"), result.stderr


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")
def test_start_reuse_round_trip_and_stop(broker_env: dict[str, str]) -> None:
    port = int(broker_env["BROKER_PORT"])
    run_dir = Path(broker_env["RUN_DIR"])
    started = run(BROKER_SCRIPT, "start", env=broker_env)
    assert started.returncode == 0, started.stderr
    assert f"started edged's broker on 127.0.0.1:{port}" in started.stdout
    conf = (run_dir / "mosquitto.conf").read_text().splitlines()
    assert f"listener {port} 127.0.0.1" in conf
    assert "set_tcp_nodelay true" in conf
    pid = int((run_dir / "mosquitto.pid").read_text())

    # It is a broker: a QoS 1 message goes round.
    probe = Probe(port, ("check/#",)).connect()
    try:
        probe.publish("check/it", b"hello")
        assert probe.wait_for(lambda m: m.topic == "check/it")[0].payload == b"hello"
    finally:
        probe.close()

    again = run(BROKER_SCRIPT, "start", env=broker_env)
    assert again.returncode == 0 and f"already runs on 127.0.0.1:{port} (pid {pid})" in again.stdout
    # The same run dir asked for another port: its broker is in the way.
    other = run(BROKER_SCRIPT, "start", env={**broker_env, "BROKER_PORT": str(free_port())})
    assert other.returncode == 1 and f"runs on port {port}" in other.stderr

    stopped = run(BROKER_SCRIPT, "stop", env=broker_env)
    assert stopped.returncode == 0 and f"stopped edged's broker (pid {pid})" in stopped.stdout
    assert run(BROKER_SCRIPT, "probe", env=broker_env).returncode == 1
    assert not (run_dir / "mosquitto.pid").exists()
    assert run(BROKER_SCRIPT, "stop", env=broker_env).stdout.strip() == (
        "edged's broker is not running"
    )


def test_a_foreign_program_on_the_port_is_a_clear_message(
    listener: int, broker_env: dict[str, str]
) -> None:
    env = {**broker_env, "BROKER_PORT": str(listener)}
    etc = Path(env["MOSQUITTO_ETC"])
    (etc / "conf.d").mkdir(parents=True)
    (etc / "mosquitto.conf").write_text("include_dir /etc/mosquitto/conf.d\n")

    result = run(BROKER_SCRIPT, "start", env=env)
    assert result.returncode == 1
    assert f"127.0.0.1:{listener} is already in use by another program" in result.stderr
    assert f"{etc} does not set set_tcp_nodelay" in result.stderr
    assert "make run BROKER_PORT=<port>" in result.stderr
    assert f"make run BROKER=external BROKER_PORT={listener}" in result.stderr
    assert not (Path(env["RUN_DIR"]) / "mosquitto.pid").exists()

    (etc / "conf.d" / "edged.conf").write_text("set_tcp_nodelay true\n")
    result = run(BROKER_SCRIPT, "start", env=env)
    assert result.returncode == 1 and f"{etc} sets set_tcp_nodelay true" in result.stderr


def test_an_external_broker_is_used_with_a_warning_without_nodelay(
    listener: int, broker_env: dict[str, str]
) -> None:
    env = {**broker_env, "BROKER_PORT": str(listener), "BROKER": "external"}
    result = run(BROKER_SCRIPT, "start", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"WARNING: using the broker on 127.0.0.1:{listener}")
    assert "40-90 ms" in result.stdout

    etc = Path(env["MOSQUITTO_ETC"])
    etc.mkdir()
    (etc / "mosquitto.conf").write_text("# edged\n  set_tcp_nodelay   true\n")
    result = run(BROKER_SCRIPT, "start", env=env)
    assert result.returncode == 0 and "WARNING" not in result.stdout

    gone = run(BROKER_SCRIPT, "start", env={**env, "BROKER_PORT": str(free_port())})
    assert gone.returncode == 1 and "nothing listens on" in gone.stderr


def _fake_bin(tmp_path: Path, ensurepip: bool) -> Path:
    """A PATH with a python3 that has (or lacks) ensurepip and no mosquitto clients."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    body = "exit 0" if ensurepip else 'case "$*" in *ensurepip*) exit 1 ;; esac; exit 0'
    python.write_text(f"#!/bin/sh\n{body}\n")
    python.chmod(0o755)
    for tool in ("id", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def test_apt_deps_lists_python3_venv_and_the_mosquitto_clients(tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path, ensurepip=False)
    env = {"PATH": str(bin_dir), "PYTHON": "python3"}
    listed = run(APT_SCRIPT, "--list", env=env).stdout.split()
    assert "python3-venv" in listed and "mosquitto-clients" in listed
    assert "systemd" not in listed  # only for the tests
    assert {"systemd", "openssl", "shellcheck"} <= set(
        run(APT_SCRIPT, "--list", "--test", env=env).stdout.split()
    )
    (tmp_path / "ok").mkdir()
    with_venv = run(
        APT_SCRIPT, "--list", env={**env, "PATH": str(_fake_bin(tmp_path / "ok", True))}
    )
    assert "python3-venv" not in with_venv.stdout.split()
    assert run(APT_SCRIPT, "--bogus").returncode == 2
