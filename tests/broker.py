"""A real Mosquitto for the tests, on a free port, with its own config."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")


def edged_denied_home_conf(work: Path) -> str:
    """Broker config lines where anonymous clients (the tests' probes) may do
    anything and user `edged` (password `pw`) may not write `home/#`, the
    Home Assistant command topics of the test home."""
    passwd = work / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwd), "edged", "pw"],
        check=True,
        capture_output=True,
    )
    acl = work / "acl"
    acl.write_text(
        "topic readwrite #\nuser edged\n"
        "topic readwrite edged/#\ntopic write cmnd/#\ntopic write zigbee2mqtt/#\n"
    )
    return f"password_file {passwd}\nacl_file {acl}\nallow_anonymous true\n"


@dataclass
class Broker:
    port: int
    workdir: Path
    extra_conf: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (make test installs it)")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (
                "allow_anonymous true\n"
                if "allow_anonymous" not in self.extra_conf
                and "password_file" not in self.extra_conf
                else ""
            )
            + "set_tcp_nodelay true\nmax_queued_messages 100000\n"
            # As root, mosquitto drops to its own user, which cannot read the
            # test's private temp dirs (certificates, password file, store).
            + ("user root\n" if os.geteuid() == 0 else "")
            + ("" if "persistence true" in self.extra_conf else "persistence false\n")
            + self.extra_conf
        )
        self.log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float
    dup: bool = False  # the broker sending it again (QoS 1 to this probe), not a new publish


@dataclass
class Probe:
    """A test client that records everything it sees."""

    port: int
    topics: tuple[str, ...] = ("#",)
    client_id: str = ""
    messages: list[Received] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    username: str | None = None
    password: str | None = None
    tls: dict[str, Any] | None = None
    # > 0: a persistent session, so messages published while this probe is
    # cut off (a broker restart) are queued for it and nothing is missed.
    session_expiry: int = 0

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id or f"probe-{os.getpid()}-{id(self)}",
            protocol=mqtt.MQTTv5,
        )
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        if self.tls:
            self.client.tls_set(**self.tls)
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = self._on_connect

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(
                Received(
                    msg.topic,
                    bytes(msg.payload),
                    bool(msg.retain),
                    time.perf_counter(),
                    bool(msg.dup),
                )
            )
            self.cond.notify_all()

    def connect(self) -> Probe:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = None
        if self.session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry
        self.client.max_queued_messages_set(0)  # queue everything while disconnected
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect(
            "127.0.0.1", self.port, clean_start=not self.session_expiry, properties=props
        )
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("probe could not subscribe")
        return self

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        qos: int = 1,
        retain: bool = False,
        wait: bool = True,
    ) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(10)

    def wait_for(
        self, pred: Callable[[Received], bool], timeout: float = 10.0, count: int = 1
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for m in self.messages if pred(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.payload[:200]) for m in self.messages[-15:]]
                    raise TimeoutError(
                        f"waited {timeout}s for {count} message(s); last seen: {seen}"
                    )
                self.cond.wait(left)

    def on(self, topic: str) -> list[Received]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic]

    def clear(self) -> None:
        with self.cond:
            self.messages.clear()


@contextlib.contextmanager
def running_broker(workdir: Path, extra_conf: str = "") -> Iterator[Broker]:
    b = Broker(free_port(), workdir, extra_conf).start()
    try:
        yield b
    finally:
        b.stop()
