"""What edged does with paho and aiomqtt beyond their public surface, in one
place: the client it connects with, and the hot path (`Link`) that reaches
into paho's internals for speed. Nothing outside edged.transports imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edged.config import Config

Client = aiomqtt.Client
MqttError = aiomqtt.MqttError
Message = mqtt.MQTTMessage


class Link:
    """One connection's hot path, on paho directly: QoS 1 publishes whose
    PUBACKs are plain futures, and manual acks. aiomqtt's `publish` costs a
    task, an event and a timer per message, and warns once more than ten are
    in flight, which a pipelined daemon under load always has. aiomqtt still
    connects, subscribes, and ends the session when the connection drops.

    Writes: paho asks for the socket's writability before each batch of
    packets; aiomqtt answers with a thread-safe call that adds an epoll
    writer, waits a loop turn for it, writes, and removes it again (an
    eventfd write and two epoll_ctl per batch). On the event loop the
    socket is almost always writable, so the batch is written at the end
    of the current turn (`call_soon`), and aiomqtt's writer only takes over
    when the socket is full or the write fails (it then ends the session).

    The hooks go in before connecting: a persistent session's backlog
    arrives right after the CONNACK."""

    def __init__(
        self,
        client: aiomqtt.Client,
        session: int,
        on_message: Callable[[Link, mqtt.MQTTMessage], None],
    ) -> None:
        self.client = client
        self.session = session
        self.paho = client._client
        self.timeout = float(client.timeout)
        self._acks: dict[int, asyncio.Future[int]] = {}
        self.closed = False
        # From the CONNACK: whether the broker kept our session (and so will
        # redeliver what was not acknowledged on the last connection).
        self.session_present = False
        self._aiomqtt_on_connect: Any = self.paho.on_connect
        self.paho.on_connect = self._on_connect
        # Taken in before the session was ready (the backlog after the CONNACK).
        self.early: list[mqtt.MQTTMessage] = []
        self._aiomqtt_on_publish: Any = self.paho.on_publish
        self.paho.on_publish = self._on_publish
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._aiomqtt_want_write: Any = self.paho.on_socket_register_write
        self.paho.on_socket_register_write = self._want_write
        self.paho.on_message = lambda _client, _userdata, message: on_message(self, message)

    @property
    def alive(self) -> bool:
        return not self.closed and self.paho.is_connected()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: Any, rc: Any, props: Any = None
    ) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        self._aiomqtt_on_connect(client, userdata, flags, rc, props)

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool = False
    ) -> asyncio.Future[int] | None:
        """Hand one message to paho; the future (None: nothing to wait for,
        QoS 0) holds the reason code of the broker's PUBACK."""
        info = self.paho.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if qos == 0 or info.is_published():
            return None
        fut = self._loop.create_future()
        self._acks[info.mid] = fut
        return fut

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        fut = self._acks.pop(mid, None)
        if fut is None:  # published through aiomqtt (the status topic)
            self._aiomqtt_on_publish(client, userdata, mid, reason_code, properties)
        elif not fut.done():
            fut.set_result(int(reason_code.value) if isinstance(reason_code, ReasonCode) else 0)

    def _want_write(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        if threading.get_ident() != self._loop_thread:  # connecting, on aiomqtt's thread
            self._aiomqtt_want_write(client, userdata, sock)
        else:
            self._loop.call_soon(self._write, sock)

    def _write(self, sock: Any) -> None:
        coalesce(self.paho)
        try:
            self.paho.loop_write()
            if not self.paho.want_write():
                return  # the usual case: all written
        except Exception:
            pass  # aiomqtt's writer tries again, and reports the error
        if self.paho.socket() is not None:
            self._aiomqtt_want_write(self.paho, None, sock)  # e.g. the socket is full

    def ack(self, mid: int, qos: int) -> None:
        if qos > 0:
            with contextlib.suppress(Exception):
                self.paho.ack(mid, qos)

    def close(self) -> None:
        """The connection is gone: what waits for a PUBACK fails now."""
        self.closed = True
        acks, self._acks = self._acks, {}
        for fut in acks.values():
            if not fut.done():
                fut.set_exception(aiomqtt.MqttError("connection lost"))
                fut.exception()  # retrieved: a cancelled delivery may never look


_PUBLISH, _PUBACK = 0x30, 0x40


def coalesce(paho: mqtt.Client) -> None:
    """Join paho's queued QoS 1 publishes and acks into one buffer, so the
    batch goes out in one send() instead of one per packet (with
    TCP_NODELAY each is its own segment, and wakes the broker once more).
    paho does nothing per packet for these two kinds once written (QoS 1
    completes on the PUBACK), so one entry stands for them all. Anything
    else queued, or a packet already half written, leaves the queue as is."""
    queue = paho._out_packet
    if len(queue) < 2:
        return
    for packet in queue:
        kind = packet["command"] & 0xF0
        if packet["pos"] != 0 or not (kind == _PUBACK or (kind == _PUBLISH and packet["qos"] > 0)):
            return
    data = b"".join(packet["packet"] for packet in queue)
    queue.clear()
    queue.append(
        {
            "command": _PUBACK,
            "mid": 0,
            "qos": 1,
            "pos": 0,
            "to_process": len(data),
            "packet": data,
            "info": None,
        }
    )


def tls_params(cfg: Config) -> aiomqtt.TLSParameters | None:
    tls = cfg.mqtt.tls
    if tls is None:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(tls.ca_file) if tls.ca_file else None,
        certfile=str(tls.cert_file) if tls.cert_file else None,
        keyfile=str(tls.key_file) if tls.key_file else None,
        cert_reqs=ssl.CERT_NONE if tls.insecure else ssl.CERT_REQUIRED,
    )


def daemon_client(cfg: Config) -> aiomqtt.Client:
    """The daemon's connection: MQTT 5, a persistent session, the status
    topic's `offline` as the will, flow control, TCP_NODELAY, manual acks."""
    m = cfg.mqtt
    will = aiomqtt.Will(cfg.topics.status, "offline", qos=1, retain=True)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = m.session_expiry_s
    # Flow control: the broker sends at most this many unacknowledged
    # QoS 1 messages (acks go out after handling), so a backlog after a
    # reconnect waits at the broker instead of overflowing the inbox.
    props.ReceiveMaximum = max(1, min(cfg.limits.inbox_size // 2, 65535))
    options = []
    if m.tcp_nodelay:
        # Nagle + delayed ACK turn each QoS 1 round trip into ~40-90 ms.
        options.append((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
    client = aiomqtt.Client(
        m.host,
        m.port,
        username=m.username,
        password=m.password.get_secret_value() if m.password else None,
        identifier=m.client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        clean_start=False,
        properties=props,
        keepalive=m.keepalive,
        tls_params=tls_params(cfg),
        tls_insecure=bool(m.tls and m.tls.insecure) or None,
        socket_options=options,
        timeout=10,
        max_inflight_messages=100,  # outgoing QoS 1 in flight (paho's default is 20)
    )
    # Acknowledge only after the result is published: a crash before that
    # leaves the message with the broker, which sends it again.
    client._client.manual_ack_set(True)
    return client


def explain(e: aiomqtt.MqttError) -> str:
    text = str(e)
    low = text.lower()
    if (
        "not authorized" in low
        or "bad user name or password" in low
        or "code:5" in low
        or "code:135" in low
        or "code:134" in low
    ):
        return f"the broker refused the credentials ({text}): check mqtt.username and the password"
    if "certificate" in low or "ssl" in low:
        return f"TLS failed ({text}): check mqtt.tls.ca_file and the broker's certificate"
    return text


def oneoff_client(cfg: Config, role: str, logger: logging.Logger | None = None) -> aiomqtt.Client:
    """A short connection for a CLI task, with a client id of its own
    (`<client_id>-<role>-<pid>`), so a running daemon's session is left alone."""
    m = cfg.mqtt
    return aiomqtt.Client(
        m.host,
        m.port,
        logger=logger,
        username=m.username,
        password=m.password.get_secret_value() if m.password else None,
        identifier=f"{m.client_id}-{role}-{os.getpid()}",
        tls_params=tls_params(cfg),
        tls_insecure=bool(m.tls and m.tls.insecure) or None,
        timeout=10,
    )


async def publish_once(cfg: Config, messages: list[tuple[str, str, bool]]) -> None:
    """Connect, publish (topic, payload, retain) at QoS 1, disconnect: for
    one-off CLI tasks."""
    async with oneoff_client(cfg, "cli") as client:
        for topic, payload, retain in messages:
            await client.publish(topic, payload.encode(), qos=1, retain=retain)


__all__ = [
    "Client",
    "Link",
    "Message",
    "MqttError",
    "coalesce",
    "daemon_client",
    "explain",
    "oneoff_client",
    "publish_once",
    "tls_params",
]
