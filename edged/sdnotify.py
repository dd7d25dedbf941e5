"""A minimal sd_notify(3) client: tell systemd we are ready, alive, or stopping.

The unit runs with ``Type=notify`` and ``WatchdogSec=``, so the daemon sends
``READY=1`` once it is connected and serving, ``WATCHDOG=1`` at about half the
interval from :meth:`SystemdNotifier.watchdog_interval_s`, and ``STOPPING=1``
on shutdown. Outside systemd (tests, a shell, Docker) ``NOTIFY_SOCKET`` is
unset and every call is a no-op that returns ``False``.

No dependency on python-systemd/libsystemd: the protocol is one AF_UNIX
datagram of newline-separated ``KEY=VALUE`` assignments.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]

# A notification that cannot be delivered within this time is dropped: the
# caller is an asyncio loop, and a wedged service manager must not wedge us.
_SEND_TIMEOUT_S = 1.0


class SystemdNotifier:
    """Send service state to systemd over ``$NOTIFY_SOCKET``.

    The environment is read once, at construction, so a test can pass its own
    mapping and a daemon can build one notifier at start-up and keep it.
    """

    __slots__ = ("_address", "_watchdog_pid", "_watchdog_usec")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address: str | None = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec: int | None = _positive_int(env.get("WATCHDOG_USEC"))
        self._watchdog_pid: int | None = _positive_int(env.get("WATCHDOG_PID"))

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    def ready(self) -> bool:
        """Startup is complete: systemd moves the unit from activating to active."""
        return self.notify("READY=1")

    def stopping(self) -> bool:
        """Shutdown has begun, so a slow stop is not mistaken for a hang."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """Keep-alive ping; without one within ``WatchdogSec=`` systemd kills and restarts us."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line human-readable status, shown by ``systemctl status``."""
        # A newline would start a new assignment: keep the status one line.
        return self.notify("STATUS=" + " ".join(text.splitlines()))

    def watchdog_interval_s(self) -> float | None:
        """The watchdog timeout in seconds, or None when no watchdog applies to this process.

        Ping at half this interval, as sd_watchdog_enabled(3) recommends.
        """
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            # The watchdog is meant for another process (e.g. we are a child).
            return None
        return self._watchdog_usec / 1_000_000

    def notify(self, message: str) -> bool:
        """Send raw ``KEY=VALUE`` lines; True if the datagram was sent."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendto(message.encode("utf-8"), self._address)
        except OSError:
            # Like sd_notify(3): failing to notify is reported, never fatal.
            return False
        return True


def _socket_address(value: str) -> str | None:
    """Map ``$NOTIFY_SOCKET`` to a socket address; None if unset or of an unsupported kind."""
    if value.startswith("@"):
        # Abstract namespace: the leading '@' stands for a NUL byte.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # Unset, or a kind we do not speak (e.g. systemd ≥ 254's "vsock:"): no-op.
    return None


def _positive_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None
