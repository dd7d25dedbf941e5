"""SystemdNotifier against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.sdnotify import SystemdNotifier


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket in a temp dir, advertised in NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    sock = _receiver(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield sock
    finally:
        sock.close()


def test_sends_exact_datagrams(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("connected to broker localhost:1883")
    assert notifier.watchdog()
    assert notifier.stopping()
    assert [listener.recv(4096) for _ in range(4)] == [
        b"READY=1",
        b"STATUS=connected to broker localhost:1883",
        b"WATCHDOG=1",
        b"STOPPING=1",
    ]


def test_status_is_kept_on_one_line(listener: socket.socket) -> None:
    assert SystemdNotifier().status("line one\nREADY=1\r\nend")
    assert listener.recv(4096) == b"STATUS=line one READY=1 end"


def test_status_utf8(listener: socket.socket) -> None:
    assert SystemdNotifier().status("température 21 °C")
    assert listener.recv(4096) == "STATUS=température 21 °C".encode()


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"edged-test-{uuid.uuid4().hex}"
    sock = _receiver("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert SystemdNotifier().ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_environment_is_read_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    sock = _receiver(str(path))
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


@pytest.mark.parametrize("value", [None, "", "relative/path", "vsock:2:1234"])
def test_noop_without_usable_socket(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.status("x")
    assert not notifier.stopping()


def test_unreachable_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert notifier.enabled
    assert notifier.ready() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": str(os.getpid())}, 1.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert SystemdNotifier(env).watchdog_interval_s() == expected
