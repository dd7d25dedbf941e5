"""`edged run`: the thin asyncio shell around the engine.

Messages are decoded as they come off the socket (paho's callback, on the
event loop) and put in the inbox; one worker takes them in order and runs
the engine (NLU, resolve, policy, render) on a worker thread so the event
loop never blocks; then the device commands are published at QoS 1, the
result says what the broker did with them (edged.delivery), and only once
the result is acknowledged is the inbound message acknowledged. Every
inbound message gets exactly one result and one ack, whatever fails on the
way (an error result then).

A message that arrived but was not finished when the process died is
redelivered by the broker (a persistent session); the journal (edged.journal)
makes sure it does not act twice and answers it from what was recorded. A
message being handled when the connection drops is answered after the
reconnect. QoS 1/2 input is never shed: while edged is behind, it does not
acknowledge, and the broker holds the rest (its Receive Maximum).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edged.config import Config, ConfigError, load_config
from edged.delivery import (
    FAILURE,
    NOT_SENT,
    duplicate_result,
    is_idempotent,
    reason_text,
    resume_plan,
    settle,
)
from edged.discovery import HaState, announce_messages, is_birth, state_message
from edged.engine import Engine, Outcome, custom_intent_problems
from edged.hermes import QUERY_TOPIC as HERMES_QUERY_TOPIC
from edged.hermes import decode_query
from edged.home.importer import ImportState, apply_message, build_home, is_import_topic
from edged.journal import Entry, Journal, JournalUnavailable, JournalWriteError
from edged.messages import ActionOut, InboundError, Limits, ResultEvent, Utterance, decode_inbound
from edged.metrics import Metrics, MetricsUnavailable, load_metrics, log_result
from edged.nlu.types import Parse
from edged.reply_to import reply_rules
from edged.sdnotify import SystemdNotifier

if TYPE_CHECKING:
    from edged.transports.wyoming import WyomingService

log = logging.getLogger("edged.daemon")

EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps it from looping
EXIT_MODEL = 3
# Messages understood and being published at once (the rest wait in the inbox).
PIPELINE_DEPTH = 32
# Utterances parsed at once, at most (and not more than the cores allow).
PARSE_WORKERS = 2
# A burst of import messages (a bridge re-announcing everything) is one rebuild.
REBUILD_DELAY_S = 0.2
# Sections a reload cannot change in a running daemon (connection, model, ...).
RESTART_ONLY = ("mqtt", "topics", "nlu", "limits", "discovery", "metrics", "import_", "state_dir")
# Tries to publish a result on a live connection (each waits for the PUBACK
# up to the client's timeout); waiting for a reconnect does not count.
RESULT_ATTEMPTS = 5


@dataclass
class Stats:
    received: int = 0
    handled: int = 0
    duplicates: int = 0
    shed: int = 0
    errors: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class _Inbound:
    item: Utterance | InboundError
    mid: int
    qos: int
    session: int  # which connection it came in on
    dup: bool = False  # the broker's DUP flag: it sent this message before
    raw_key: str | None = None  # the journal key of a payload that could not be read
    # A transport that waits for the outcome (Wyoming's handle program).
    answer: asyncio.Future[Outcome] | None = None

    @property
    def key(self) -> str:
        if isinstance(self.item, Utterance):
            return self.item.dedupe_key
        return self.raw_key or f"raw:{self.item.id}"

    @property
    def sender_key(self) -> bool:
        """The key is the sender's own id: the same id again is a duplicate,
        redelivered or not. Other keys (site and text, the raw payload) only
        recognise the broker's redeliveries: the same words said again are a
        new request (a second "yes" is answered)."""
        return isinstance(self.item, Utterance) and self.item.has_own_id


class _Abandoned(Exception):
    """Stopping while the broker is unreachable: the message stays unacked."""


class _Link:
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
        on_message: Callable[[_Link, mqtt.MQTTMessage], None],
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
        _coalesce(self.paho)
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


def _coalesce(paho: mqtt.Client) -> None:
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


def _tls_params(cfg: Config) -> aiomqtt.TLSParameters | None:
    tls = cfg.mqtt.tls
    if tls is None:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(tls.ca_file) if tls.ca_file else None,
        certfile=str(tls.cert_file) if tls.cert_file else None,
        keyfile=str(tls.key_file) if tls.key_file else None,
        cert_reqs=ssl.CERT_NONE if tls.insecure else ssl.CERT_REQUIRED,
    )


def subscription_topics(cfg: Config) -> list[str]:
    topics = list(cfg.topics.utterance)
    if cfg.topics.hermes.enabled:
        topics.append("hermes/nlu/query")
    if cfg.topics.shared_group:
        return [f"$share/{cfg.topics.shared_group}/{t}" for t in topics]
    return topics


# Topic filters per SUBSCRIBE packet (a home of 300 tasmota devices has 1,200).
STATE_SUBSCRIBE_BATCH = 100


def state_subscriptions(engine: Engine) -> list[list[tuple[str, int]]]:
    """The devices' state topics (edged.home.state), in batches for one
    SUBSCRIBE each: QoS 0 (the newest report is all that matters, nothing
    queues up for a daemon that was away; retained ones come on subscribing)
    and never shared: every instance needs every device's state."""
    topics = [(t, 0) for t in engine.state.topics()]
    return [
        topics[i : i + STATE_SUBSCRIBE_BATCH] for i in range(0, len(topics), STATE_SUBSCRIBE_BATCH)
    ]


class Daemon:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        journal: Journal | None = None,
        metrics: Metrics | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.ha_state = HaState()  # what the Home Assistant sensors show
        self.engine = engine
        # In memory when no state_dir: duplicates are then known while it runs.
        self.journal = journal if journal is not None else Journal(None)
        self.stats = Stats()
        self.limits = Limits(
            cfg.limits.max_payload_bytes,
            cfg.limits.max_json_depth,
            cfg.limits.max_text_chars,
            cfg.limits.max_clock_skew_s,
        )
        self.patterns = list(cfg.topics.utterance)
        self.reply_rules = reply_rules(cfg)
        # Unbounded for QoS 1/2 (the broker's Receive Maximum bounds what it
        # sends unacknowledged); QoS 0 is shed beyond limits.inbox_size.
        self.inbox: asyncio.Queue[_Inbound] = asyncio.Queue()
        # One thread: the engine's context ("it", pending confirmations) is
        # updated in the order utterances arrived.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edged-engine")
        # The NLU step alone is stateless (Engine.parse), and the model spends
        # most of its time outside the GIL: the next utterances are parsed on
        # other cores while the engine thread resolves this one.
        parsers = (os.cpu_count() or 1) // max(1, cfg.nlu.threads)
        self.parse_pool = ThreadPoolExecutor(
            max_workers=max(1, min(PARSE_WORKERS, parsers)), thread_name_prefix="edged-nlu"
        )
        self.notifier = SystemdNotifier()
        self.stopping = asyncio.Event()
        self.connected = asyncio.Event()
        self.online_at: float | None = None
        self._link: _Link | None = None
        self.health_file = os.environ.get("EDGED_HEALTH_FILE")
        self.on_outcome: Callable[[Outcome], Awaitable[None]] | None = None
        self._session_no = 0
        self._shedding: set[asyncio.Task[None]] = set()
        # Outcomes being published while the engine works on the next message.
        self._delivering: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._ready_sent = False
        self._flush_scheduled = False
        self._sync_waiter: asyncio.Future[None] | None = None
        self._syncing = False
        # Queued for (or on) the engine thread.
        self._understanding: dict[asyncio.Future[Outcome], Future[Parse | None]] = {}
        self._last_delivery: asyncio.Task[None] | None = None
        self._pipeline_slots = asyncio.Semaphore(PIPELINE_DEPTH)
        # The home: the YAML (re-read on SIGHUP) plus what the broker says
        # (`import:`), swapped into the engine between utterances.
        self.config_path = config_path
        self.home_cfg = cfg
        self.imports = ImportState()
        self._import_logged: set[str] = set()
        self._import_last = 0.0
        self._import_count = 0  # messages taken in, so a rebuild knows it is behind
        self._home_lock = asyncio.Lock()
        self._home_ready = asyncio.Event()
        if not cfg.import_.enabled:
            self._home_ready.set()
        self._rebuild: asyncio.Task[None] | None = None

    # -- MQTT ------------------------------------------------------------
    def _client_for(self) -> aiomqtt.Client:
        m = self.cfg.mqtt
        will = aiomqtt.Will(self.cfg.topics.status, "offline", qos=1, retain=True)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = m.session_expiry_s
        # Flow control: the broker sends at most this many unacknowledged
        # QoS 1 messages (acks go out after handling), so a backlog after a
        # reconnect waits at the broker instead of overflowing the inbox.
        props.ReceiveMaximum = max(1, min(self.cfg.limits.inbox_size // 2, 65535))
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
            tls_params=_tls_params(self.cfg),
            tls_insecure=bool(m.tls and m.tls.insecure) or None,
            socket_options=options,
            timeout=10,
            max_inflight_messages=100,  # outgoing QoS 1 in flight (paho's default is 20)
        )
        # Acknowledge only after the result is published: a crash before that
        # leaves the message with the broker, which sends it again.
        client._client.manual_ack_set(True)
        return client

    async def _publish_all(
        self, messages: list[tuple[str, str]], link: _Link | None = None, retain: bool = False
    ) -> list[int | None]:
        """Publish (topic, payload) pairs in this order and wait (at most the
        client's timeout) for the broker's PUBACKs. One entry per message:
        its reason code, None when no PUBACK came (it may or may not have
        gone out), NOT_SENT when it was never written (no connection)."""
        link = link or self._link
        codes: list[int | None] = [NOT_SENT] * len(messages)
        if link is None or not link.alive:
            return codes
        qos = self.cfg.mqtt.qos
        waiting: dict[int, asyncio.Future[int]] = {}
        for i, (topic, payload) in enumerate(messages):
            try:
                fut = link.publish(topic, payload.encode("utf-8", "replace"), qos, retain)
            except Exception as e:  # no connection, or a topic paho refuses
                log.warning("could not publish to %s: %s", topic, e)
                continue
            if fut is None:
                codes[i] = 0  # QoS 0: written, nothing more to know
            else:
                codes[i] = None
                waiting[i] = fut
        if waiting:
            await asyncio.wait(waiting.values(), timeout=link.timeout)
            for i, fut in waiting.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    codes[i] = fut.result()
        return codes

    async def _publish_or_raise(
        self, messages: list[tuple[str, str]], link: _Link | None = None, retain: bool = False
    ) -> None:
        """For edged's own messages (discovery): any failure is an MqttError."""
        codes = await self._publish_all(messages, link, retain)
        if any(code is None or code < 0 or code >= FAILURE for code in codes):
            raise aiomqtt.MqttError(f"publish failed (reason codes {codes})")

    async def _await_link(self) -> _Link | None:
        """The current connection, once there is one; None when stopping."""
        while not self.stopping.is_set():
            link = self._link
            if self.connected.is_set() and link is not None and link.alive:
                return link
            connected = asyncio.create_task(self.connected.wait())
            stopping = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({connected, stopping}, return_when=asyncio.FIRST_COMPLETED)
            connected.cancel()
            stopping.cancel()
            if self.connected.is_set() and (self._link is None or not self._link.alive):
                await asyncio.sleep(0.05)  # the old link is being torn down
        return None

    def _ack(self, inbound: _Inbound) -> None:
        """Acknowledge on the connection the message came in on; one that has
        dropped since is not acked (its mid means nothing on the new one: the
        broker sends the message again, or forgot it with the session)."""
        link = self._link
        if link is not None and inbound.session == link.session:
            link.ack(inbound.mid, inbound.qos)

    # -- taking messages in, and the worker -----------------------------------
    def _take(self, link: _Link, message: mqtt.MQTTMessage) -> None:
        """paho's on_message, on the event loop: decode, then queue (or shed
        QoS 0). Never raises: an exception here would drop the connection."""
        if link is not self._link:
            # Still connecting: held until the session is ready (`_session`),
            # so nothing is answered on a link that is not yet the daemon's.
            link.early.append(message)
            return
        if self.stopping.is_set():
            # No new work while draining: left unacked, the broker keeps it
            # for the next start.
            return
        try:
            self._take_one(link, message)
        except Exception:
            self.stats.errors += 1
            log.exception("failed to take in a message on %s", message.topic)

    def _decode(self, topic: str, payload: bytes) -> Utterance | InboundError:
        """The payload as an utterance or an error; a decoder that fails in a
        way nobody foresaw still gives an error (so a result and an ack)."""
        try:
            if self.cfg.topics.hermes.enabled and topic == HERMES_QUERY_TOPIC:
                return decode_query(topic, payload, self.limits)
            return decode_inbound(
                topic, payload, self.limits, self.patterns, reply_rules=self.reply_rules
            )
        except Exception as e:
            log.exception("could not decode a message on %s", topic)
            return InboundError(
                f"could not read the message: {type(e).__name__}",
                topic,
                uuid.uuid4().hex,
                None,
                time.time(),
            )

    def _take_one(self, link: _Link, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if self.engine.state.wants(topic):
            # A device reporting its state (edged.home.state): into the
            # store, here on the event loop. Subscribed at QoS 0, so the ack
            # is a no-op unless another subscription overlaps it.
            mono, wall = time.monotonic(), time.time()
            for problem in self.engine.state.feed(topic, message.payload, mono=mono, wall=wall):
                log.warning("%s", problem)
            link.ack(message.mid, message.qos)
            return
        if self.cfg.import_.enabled and is_import_topic(self.cfg.import_, topic):
            self._take_import(link, message)
            return
        self.stats.received += 1
        payload = bytes(message.payload)
        if self.cfg.discovery.enabled and topic == self.cfg.discovery.birth_topic:
            # Home Assistant (re)started: it wants the discovery configs again.
            link.ack(message.mid, message.qos)
            if is_birth(self.cfg, topic, payload):
                self._spawn(self._announce_quietly(link))
            return
        item = self._decode(topic, payload)
        raw_key = None
        if isinstance(item, InboundError):
            raw_key = "raw:" + hashlib.sha256(topic.encode() + b"\x00" + payload).hexdigest()[:32]
        inbound = _Inbound(item, message.mid, message.qos, link.session, bool(message.dup), raw_key)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("in: %s qos=%d dup=%s", _describe(item), message.qos, message.dup)
        if message.qos == 0 and self.inbox.qsize() >= self.cfg.limits.inbox_size:
            # QoS 0 has no flow control: shed the newest, and say so. QoS 1/2
            # is never shed: it waits in the inbox unacknowledged, and the
            # broker stops sending at its Receive Maximum (backpressure).
            self.stats.shed += 1
            log.warning("inbox full (%d): shedding QoS 0 %s", self.inbox.qsize(), _describe(item))
            self._spawn(self._shed(self.engine.overloaded(item, time.time())))
            return
        self.inbox.put_nowait(inbound)

    async def submit(self, item: Utterance | InboundError) -> Outcome:
        """The seam for a transport that is not MQTT: the item joins the inbox
        behind the MQTT ones, goes through the same engine thread, journal
        and publishing (its result also on edged/result), and the outcome
        comes back here once the result is out. No MQTT ack is involved
        (session -1 matches no connection)."""
        if self.stopping.is_set() or self.inbox.qsize() >= self.cfg.limits.inbox_size:
            outcome = self.engine.overloaded(item, time.time())
            self._spawn(self._shed(outcome))
            return outcome
        self.stats.received += 1
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(_Inbound(item, mid=0, qos=0, session=-1, answer=answer))
        return await answer

    async def _wyoming_handle(self, text: str, site: str | None) -> ResultEvent:
        # The same checks as an MQTT payload (size, text, site); stamped now,
        # so a sentence held up (no broker) is dropped as stale after
        # policy.max_age_s rather than acted on late.
        fields: dict[str, Any] = {"text": text, "ts": time.time()}
        if site:
            fields["site"] = site
        body = json.dumps(fields)
        item = decode_inbound("wyoming", body.encode(), self.limits, [])
        return (await self.submit(item)).result

    async def _wyoming_recognise(self, text: str) -> Parse:
        loop = asyncio.get_running_loop()
        parse = await loop.run_in_executor(self.parse_pool, self.engine.model.parse, text)
        return parse

    async def _start_wyoming(self) -> WyomingService | None:
        if not self.cfg.wyoming.enabled:
            return None
        from edged.transports.wyoming import Replies, WyomingService

        service = WyomingService(
            self.cfg.wyoming,
            self._wyoming_recognise,
            self._wyoming_handle,
            Replies(not_recognized=self.engine.replies.not_recognized + "."),
        )
        await service.start()
        return service

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._shedding.add(task)
        task.add_done_callback(self._shedding.discard)

    async def _announce_quietly(self, link: _Link) -> None:
        try:
            await self._announce(link)
        except aiomqtt.MqttError as e:
            log.warning("could not announce to Home Assistant: %s", e)

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Returns, raising MqttError, when the connection drops. Messages are
        taken by `_take` as paho reads them: aiomqtt's iterator would cost a
        task and an asyncio.wait per message, and here only sees the end."""
        async for _ in client.messages:
            pass

    def _drop_stale_inbox(self, session_present: bool) -> None:
        """On a new connection that resumed the session, forget QoS 1
        messages taken in on the old one: they were not acked, the broker
        sends them again, and handling both copies would answer twice. When
        the broker lost the session (a restart without persistence) nothing
        comes again, so they stay and are answered here."""
        if not session_present:
            return
        keep = []
        while not self.inbox.empty():
            inbound = self.inbox.get_nowait()
            self.inbox.task_done()
            if inbound.qos == 0 or inbound.session == self._session_no:
                keep.append(inbound)
        for inbound in keep:
            self.inbox.put_nowait(inbound)

    async def _shed(self, outcome: Outcome) -> None:
        # QoS 0: no ack to send; answered without waiting on the pipeline.
        await self._publish_all(self._result_messages(outcome))
        await self._observe(outcome, 0.0)

    async def _worker(self) -> None:
        """Hands each inbox message, in arrival order, to the engine thread
        and to a delivery task that publishes its outcome, without waiting
        for either: the engine works through the messages back to back while
        the event loop publishes the ones before (the engine thread and the
        event loop then overlap on two cores). Acks still go out in arrival
        order, each only after its own message was answered."""
        await self._home_ready.wait()  # the imported devices, at start-up
        while True:
            inbound = await self.inbox.get()
            handed_over = False
            try:
                await self._pipeline_slots.acquire()
                try:
                    await self._handle(inbound)
                    handed_over = True
                finally:
                    if not handed_over:
                        self._pipeline_slots.release()
            except Exception:
                self.stats.errors += 1
                log.exception("failed to handle %s", _describe(inbound.item))
            finally:
                if not handed_over:
                    self.inbox.task_done()

    async def _handle(self, inbound: _Inbound) -> None:
        """Decide what this message needs (a new request for the engine, a
        duplicate to answer from the journal, an interrupted request to
        finish, or a redelivery already answered) and start its delivery
        task, which then owns the message (it acks, and marks it done)."""
        key = inbound.key
        if key in self._in_flight:
            # The same request is still being answered (a redelivery after a
            # reconnect, or a sender that repeated itself): wait, so the
            # journal below knows how that went.
            await asyncio.wait({self._in_flight[key]})
        entry = self.journal.get(key) if (inbound.sender_key or inbound.dup) else None
        understood: asyncio.Future[Outcome] | None = None
        if entry is None:
            item = inbound.item
            parsed = self.parse_pool.submit(self.engine.parse, item)
            understood = asyncio.get_running_loop().run_in_executor(
                self.pool, self._understand, item, parsed
            )
            self._understanding[understood] = parsed
            understood.add_done_callback(self._understood)
        else:
            self.stats.duplicates += 1
        task = asyncio.create_task(
            self._finish(inbound, understood, entry, self._last_delivery),
            name=f"edged-deliver-{inbound.mid}",
        )
        self._last_delivery = task
        self._delivering.add(task)
        self._in_flight[key] = task
        task.add_done_callback(lambda t: self._delivered(t, key))

    def _delivered(self, task: asyncio.Task[None], key: str) -> None:
        # A callback, not a finally: it also runs for a task cancelled
        # before it started.
        self._delivering.discard(task)
        if self._in_flight.get(key) is task:
            del self._in_flight[key]
        self._pipeline_slots.release()
        self.inbox.task_done()

    def _understand(self, item: Utterance | InboundError, parsed: Future[Parse | None]) -> Outcome:
        """On the engine thread, in arrival order; `now` when it gets there,
        not when queued. Whatever fails becomes an error outcome."""
        try:
            parse = parsed.result()
            return self.engine.handle(item, time.time(), parse=parse)
        except Exception as e:
            log.exception("the engine failed on %s", _describe(item))
            return self.engine.error(item, f"internal error: {type(e).__name__}: {e}", time.time())

    def _understood(self, understood: asyncio.Future[Outcome]) -> None:
        self._understanding.pop(understood, None)

    async def _finish(
        self,
        inbound: _Inbound,
        understood: asyncio.Future[Outcome] | None,
        entry: Entry | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        """Answer one message, then ack it once the message before it was
        acked. A new request goes through the engine; one the journal knows
        is answered from the journal."""
        item = inbound.item
        try:
            try:
                if understood is not None:
                    outcome = await understood
                    await self._deliver(outcome, inbound)
                    _settle(inbound.answer, outcome)
                elif entry is not None and entry.state == "answered":
                    if inbound.dup:
                        # The broker's copy of a message answered before
                        # (its ack was lost): it already has its one result.
                        log.info("redelivered %s: answered before, acknowledged", _describe(item))
                    else:
                        await self._answer_duplicate(entry, inbound)
                elif entry is not None:
                    await self._resume(entry, inbound)
            except (_Abandoned, asyncio.CancelledError):
                raise
            except Exception as e:
                # Whatever went wrong, the sender hears of it.
                self.stats.errors += 1
                log.exception("failed to handle %s", _describe(item))
                failed = self.engine.error(item, f"internal error: {type(e).__name__}", time.time())
                await self._send_result(failed)
                _settle(inbound.answer, failed)
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            self._ack(inbound)
        except _Abandoned:
            log.warning("stopping while disconnected: %s stays with the broker", _describe(item))
        finally:
            if inbound.answer is not None and not inbound.answer.done():
                inbound.answer.cancel()

    def _cancel_deliveries(self) -> None:
        """At shutdown: what is still queued or waiting for the broker stays
        unacked (the broker keeps it) and the journal knows how far it got."""
        for understood, parsed in list(self._understanding.items()):
            understood.cancel()
            parsed.cancel()
        for task in list(self._delivering):
            task.cancel()
        self._last_delivery = None

    def _stale(self, received_at: float) -> bool:
        return time.time() - received_at > self.cfg.policy.max_age_s

    async def _send_commands(
        self, commands: list[ActionOut], received_at: float
    ) -> list[int | None]:
        """Publish the device commands; one reason code each (see
        `_publish_all`). One the broker never took for sure is sent again on
        the next connection; one that may have gone out only when sending it
        twice does no harm (edged.delivery.IDEMPOTENT_OPS); neither once the
        request is older than policy.max_age_s (never executed late)."""
        messages = [(c.topic, c.payload) for c in commands]
        codes = await self._publish_all(messages)
        for _ in range(3):
            retry = [
                i
                for i, code in enumerate(codes)
                if code == NOT_SENT or (code is None and is_idempotent(commands[i]))
            ]
            if not retry or self._stale(received_at):
                break
            link = await self._await_link()
            if link is None:
                raise _Abandoned
            again = await self._publish_all([messages[i] for i in retry], link)
            for i, code in zip(retry, again, strict=True):
                codes[i] = code
        return codes

    @staticmethod
    def _result_messages(outcome: Outcome) -> list[tuple[str, str]]:
        return [*outcome.extra_messages, (outcome.result_topic, outcome.result.to_json())]

    async def _send_result(self, outcome: Outcome) -> None:
        """The result (and Hermes messages) at least once: over a lost
        connection it goes out again after the reconnect."""
        messages = self._result_messages(outcome)
        t_publish = time.perf_counter()
        codes = await self._publish_all(messages)
        for attempt in range(RESULT_ATTEMPTS):
            retry = [i for i, code in enumerate(codes) if code is None or code == NOT_SENT]
            if not retry:
                break
            if attempt == RESULT_ATTEMPTS - 1:
                log.error("no acknowledgement for the result of %s", outcome.result.id)
                break
            link = await self._await_link()
            if link is None:
                raise _Abandoned
            again = await self._publish_all([messages[i] for i in retry], link)
            for i, code in zip(retry, again, strict=True):
                codes[i] = code
        refused = [
            (messages[i][0], c) for i, c in enumerate(codes) if c is not None and c >= FAILURE
        ]
        for topic, code in refused:
            log.warning("the broker refused the result on %s: %s", topic, reason_text(code))
        if outcome.result_topic != self.cfg.topics.result and any(
            topic == outcome.result_topic for topic, _ in refused
        ):
            # The sender's reply_to is closed to edged: the default topic.
            await self._publish_all([(self.cfg.topics.result, outcome.result.to_json())])
        await self._observe(outcome, (time.perf_counter() - t_publish) * 1e3)
        if outcome.result.status == "error":
            self.stats.errors += 1
        self.stats.handled += 1
        status = outcome.result.status
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        if self.on_outcome is not None:
            await self.on_outcome(outcome)

    # -- the home: imported from the broker, reloaded on SIGHUP (edged.home.importer)
    async def _import_home(self, client: aiomqtt.Client) -> None:
        """Subscribe to the import topics and wait until their retained
        messages stop coming (`import.settle_s`), so the first utterance
        already finds the imported devices. Never a shared subscription:
        every instance needs the whole home."""
        loop = asyncio.get_running_loop()
        icfg = self.cfg.import_
        started = self._import_last = loop.time()
        for topic in icfg.subscriptions():
            await client.subscribe(topic, qos=1)
        if self._home_ready.is_set():
            return  # a reconnect: what comes again is a live update
        while True:
            now = loop.time()
            if now - self._import_last >= icfg.settle_s or now - started >= icfg.settle_max_s:
                break
            await asyncio.sleep(0.05)
        count = self._import_count
        try:
            await self._swap_home()
        except Exception:
            log.exception("import: could not build the home; serving the configured devices only")
        self._home_ready.set()
        if self._import_count != count:
            self._schedule_rebuild()

    def _take_import(self, link: _Link, message: mqtt.MQTTMessage) -> None:
        # Acked at once: a retained config comes again with every subscribe.
        link.ack(message.mid, message.qos)
        self._import_last = asyncio.get_running_loop().time()
        before = self.imports
        self.imports, problems = apply_message(
            before, self.cfg.import_, message.topic, bytes(message.payload)
        )
        self._log_import_problems(problems)
        if self.imports is before:
            return  # nothing changed (a bridge announcing everything again)
        self._import_count += 1
        if self._home_ready.is_set():
            self._schedule_rebuild()

    def _log_import_problems(self, problems: Iterable[str]) -> None:
        for problem in problems:
            # Once each: a bad retained message comes back on every reconnect.
            if problem not in self._import_logged and len(self._import_logged) < 10000:
                self._import_logged.add(problem)
                log.warning("import: %s", problem)

    def _schedule_rebuild(self) -> None:
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = asyncio.create_task(self._rebuild_home(), name="edged-import")

    async def _rebuild_home(self) -> None:
        """Rebuild until the home reflects every import message taken in."""
        built = -1
        while built != self._import_count:
            await asyncio.sleep(REBUILD_DELAY_S)
            built = self._import_count
            try:
                await self._swap_home()
            except Exception:
                log.exception("import: could not rebuild the home; the previous one stays")
                return

    async def _swap_home(self, base: Config | None = None) -> None:
        """Build the home from `base` (default: the config in use) and the
        imports as they are now, off the event loop, then hand it to the
        engine on the engine thread: between two utterances, never inside
        one. Raises (and changes nothing) when it cannot be built."""
        async with self._home_lock:
            base = base or self.home_cfg
            imports = self.imports
            merged, home = await asyncio.to_thread(build_home, base, imports.devices())
            await asyncio.get_running_loop().run_in_executor(
                self.pool, self.engine.replace_home, merged.config, home
            )
            self.home_cfg = base
            # Imported devices' command topics are closed to reply_to too.
            self.reply_rules = reply_rules(merged.config)
            # The state store is fed here on the event loop: swapped here too.
            subscribe, drop = self.engine.state.replace_home(home)
            await self._follow_state_topics(subscribe, drop)
        self._log_import_problems(merged.refused)
        imported = sum(1 for row in merged.listing if row.source != "yaml")
        log.info(
            "home: %d devices (%d imported, %d imported ones replaced by devices in the config)",
            len(merged.listing),
            imported,
            len(merged.overridden),
        )

    async def _follow_state_topics(self, subscribe: list[str], drop: list[str]) -> None:
        """Listen to the state topics of devices the new home added, and no
        longer to those of devices it dropped (QoS 0, never shared, as
        `state_subscriptions`). Not connected: the next session subscribes."""
        link = self._link
        if link is None or not (subscribe or drop):
            return
        batch = STATE_SUBSCRIBE_BATCH
        try:
            for i in range(0, len(subscribe), batch):
                await link.client.subscribe([(t, 0) for t in subscribe[i : i + batch]])
            for i in range(0, len(drop), batch):
                await link.client.unsubscribe(drop[i : i + batch])
        except aiomqtt.MqttError as e:
            log.warning("state topics of the new home: %s (subscribed on reconnecting)", e)

    async def reload(self) -> bool:
        """SIGHUP: read the config file again and serve its home, policy and
        custom intents from the next utterance on; what is queued or in
        flight, the journal and the connection stay. A config that does not
        load is refused with one log line and the old one keeps serving."""
        if self.config_path is None:
            log.warning("reload: no configuration file to read again")
            return False
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as e:
            log.error(
                "reload refused, still serving the previous configuration: %s",
                " ".join(str(e).split()),
            )
            return False
        # import.areas only places devices: it reloads; the import sources do not.
        running = self.cfg.model_copy(
            update={"import_": self.cfg.import_.model_copy(update={"areas": new.import_.areas})}
        )
        kept = [k for k in RESTART_ONLY if getattr(new, k) != getattr(running, k)]
        if kept:
            log.warning(
                "reload: %s changed, which takes a restart; keeping the running values",
                ", ".join("import" if k == "import_" else k for k in kept),
            )
            new = new.model_copy(update={k: getattr(running, k) for k in kept})
        try:
            await self._swap_home(new)
        except Exception as e:
            log.error("reload refused, still serving the previous configuration: %s", e)
            return False
        for problem in custom_intent_problems(new, self.engine.model):
            log.warning("%s", problem)
        self.notifier.status(f"reloaded {self.config_path}")
        log.info("reloaded %s", self.config_path)
        return True

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("reload failed; the previous configuration stays")

    def _record(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "result": outcome.result.to_dict(),
            "topic": outcome.result_topic,
            "extra": outcome.extra_messages,
            "commands": [c.to_dict() for c in outcome.commands],
        }

    def _journal(
        self,
        key: str,
        state: str,
        item: Utterance | InboundError,
        outcome: Outcome,
        durable: bool = True,
    ) -> None:
        """Record a state; raises JournalWriteError (the caller decides)."""
        self.journal.mark(key, state, text=item.text, record=self._record(outcome), durable=durable)

    async def _deliver(self, outcome: Outcome, inbound: _Inbound) -> None:
        """A new request: `sending` journaled before any command goes out
        (a command that cannot be recorded is not sent), the commands, `sent`
        once the broker acknowledged them, the honest result, `answered`."""
        key, item = inbound.key, inbound.item
        if outcome.commands:
            try:
                self._journal(key, "sending", item, outcome, durable=False)
                await self._journal_synced()
            except JournalWriteError as e:
                log.error("journal not written (%s): %s not acted on", e, _describe(item))
                outcome.result = dataclasses.replace(
                    outcome.result,
                    status="error",
                    actions=[],
                    error=f"nothing was done: the journal cannot be written ({e}); "
                    "edged sends no command it cannot record",
                )
                outcome.result = self.engine.reword(outcome.result)
                outcome.commands = []
        if outcome.commands:
            codes = await self._send_commands(outcome.commands, item.received_at)
            outcome.result = self.engine.reword(settle(outcome.result, outcome.commands, codes))
            self._journal_quietly(key, "sent", item, outcome)
        await self._send_result(outcome)
        self._journal_quietly(key, "answered", item, outcome)

    def _journal_quietly(
        self, key: str, state: str, item: Utterance | InboundError, outcome: Outcome
    ) -> None:
        try:
            # Committed at the end of this loop turn, with the other marks
            # made in it: losing it to a crash only means a redelivery is
            # answered again (idempotent commands resent, toggles reported
            # as unsure), never a command sent without "sending" on disk.
            self._journal(key, state, item, outcome, durable=False)
        except JournalWriteError as e:
            log.warning("journal not written (%s): %s is not marked %s", e, _describe(item), state)
            return
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_journal)

    async def _journal_synced(self) -> None:
        """Wait until the marks made so far are committed and fsynced.
        Group commit: one fsync at a time, on a thread (the loop goes on);
        whoever asks meanwhile waits for the next one, which covers them
        all. JournalWriteError when that failed."""
        if self._sync_waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            # Retrieved even when every waiter was cancelled (no warning).
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._sync_waiter = waiter
            if not self._syncing:
                self._schedule_flush()
        await asyncio.shield(self._sync_waiter)

    def _flush_journal(self) -> None:
        self._flush_scheduled = False
        waiter = None if self._syncing else self._sync_waiter
        try:
            self.journal.flush()
        except JournalWriteError as e:
            log.warning("journal not written (%s): the marks of this moment are lost", e)
            if waiter is not None:
                self._sync_waiter = None
                waiter.set_exception(e)
            return
        if waiter is None:
            return
        self._sync_waiter, self._syncing = None, True
        synced = asyncio.get_running_loop().run_in_executor(None, self.journal.sync)

        def synced_done(f: asyncio.Future[None]) -> None:
            self._syncing = False
            error = f.exception()
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(None)
            if self._sync_waiter is not None:  # asked for while this one ran
                self._schedule_flush()

        synced.add_done_callback(synced_done)

    async def _answer_duplicate(self, entry: Entry, inbound: _Inbound) -> None:
        item = inbound.item
        result = duplicate_result(
            entry.record.get("result") or {}, item.id, getattr(item, "text", ""), item.site
        )
        log.info("duplicate %s: answered with the first outcome", _describe(item))
        topic = item.reply_to or self.cfg.topics.result
        await self._send_result(Outcome(result, topic))

    async def _resume(self, entry: Entry, inbound: _Inbound) -> None:
        """A request edged was sending when it died or lost the broker: the
        commands that were confirmed are not repeated; of the others, only
        idempotent ones are sent again; the result says which is which."""
        record, item = entry.record, inbound.item
        result = ResultEvent.from_dict(record.get("result") or {"id": item.id, "status": "error"})
        commands = [ActionOut.from_dict(c) for c in record.get("commands") or []]
        outcome = Outcome(
            result,
            str(record.get("topic") or self.cfg.topics.result),
            commands,
            [(str(t), str(p)) for t, p in record.get("extra") or []],
        )
        if entry.state == "sending":
            again, _ = resume_plan(commands)
            codes: list[int | None] = [None] * len(commands)
            if again and not self._stale(item.received_at):
                sent = await self._send_commands([commands[i] for i in again], item.received_at)
                for i, code in zip(again, sent, strict=True):
                    codes[i] = code
            note = "redelivered after a restart: its commands were sent again (idempotent)"
            outcome.result = self.engine.reword(settle(result, commands, codes, note))
            log.info("resumed %s: %s", _describe(item), outcome.result.error)
        elif result.status == "executed":
            outcome.result.error = (
                "redelivered after a restart: its commands went out before "
                "(acknowledged by the broker) and are not repeated"
            )
        self._journal_quietly(inbound.key, "sent", item, outcome)
        await self._send_result(outcome)
        self._journal_quietly(inbound.key, "answered", item, outcome)

    # -- observability: logs, metrics, Home Assistant (edged.metrics, edged.discovery)
    async def _observe(self, outcome: Outcome, publish_ms: float) -> None:
        log_result(log, outcome.result, publish_ms)
        if self.metrics is not None:
            self.metrics.observe(outcome.result, publish_ms)
        if self.cfg.discovery.enabled and self._link is not None:
            self.ha_state = self.ha_state.record(outcome.result)
            state = state_message(self.cfg, self.ha_state)
            # QoS 0: the next utterance does not wait for this ack, and a lost
            # update is corrected by the next one.
            with contextlib.suppress(aiomqtt.MqttError):
                self._link.publish(state.topic, state.payload.encode(), qos=0, retain=True)

    async def _announce(self, link: _Link | None = None) -> None:
        """The retained sensor configs, then the current state."""
        for m in [*announce_messages(self.cfg), state_message(self.cfg, self.ha_state)]:
            await self._publish_or_raise([(m.topic, m.payload)], link, retain=m.retain)

    async def _ticker(self) -> None:
        """systemd watchdog and the container heartbeat, from the event loop:
        if the loop hangs, both stop and the supervisor restarts us."""
        interval = self.notifier.watchdog_interval_s()
        period = min(10.0, interval / 2) if interval else 10.0
        while True:
            self.notifier.watchdog()
            if self.health_file and self.connected.is_set():
                with contextlib.suppress(OSError):
                    Path(self.health_file).touch()
            self.journal.prune(time.time())
            await asyncio.sleep(period)

    # -- lifecycle ---------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stopping.set)
        with contextlib.suppress(NotImplementedError):  # systemctl reload edged
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self._reload_quietly()))
        worker = asyncio.create_task(self._worker(), name="edged-worker")
        ticker = asyncio.create_task(self._ticker(), name="edged-ticker")
        wyoming = await self._start_wyoming()
        delay = self.cfg.mqtt.reconnect_min_s
        try:
            while not self.stopping.is_set():
                try:
                    await self._session()
                    delay = self.cfg.mqtt.reconnect_min_s
                except aiomqtt.MqttError as e:
                    self.connected.clear()
                    if self._link is not None:
                        # What waits for a PUBACK fails now, and is sent again
                        # (or reported honestly) once the broker is back.
                        self._link.close()
                        self._link = None
                    if self.stopping.is_set():
                        break
                    msg = _explain(e)
                    self.notifier.status(f"broker unreachable: {msg}")
                    wait = random.uniform(
                        delay / 2, delay
                    )  # jitter: no thundering herd after a broker restart
                    log.warning("MQTT: %s; reconnecting in %.1f s", msg, wait)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), timeout=wait)
                    delay = min(delay * 2, self.cfg.mqtt.reconnect_max_s)
        finally:
            if wyoming is not None:
                await wyoming.stop()
            worker.cancel()
            ticker.cancel()
            if self._rebuild is not None:
                self._rebuild.cancel()
            self._cancel_deliveries()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.parse_pool.shutdown(wait=False, cancel_futures=True)
            if self.health_file:
                with contextlib.suppress(OSError):
                    Path(self.health_file).unlink()
            self.journal.close()
        log.info(
            "stopped: received %d, handled %d, duplicates %d, shed %d",
            self.stats.received,
            self.stats.handled,
            self.stats.duplicates,
            self.stats.shed,
        )
        return 0

    async def _session(self) -> None:
        client = self._client_for()
        # Numbered before connecting: what the broker sends right after the
        # CONNACK belongs to this connection.
        self._session_no += 1
        link = _Link(client, self._session_no, self._take)
        async with client:
            self._drop_stale_inbox(link.session_present)
            self._link = link
            early, link.early = link.early, []
            for message in early:
                self._take(link, message)
            if self.cfg.import_.enabled:
                await self._import_home(client)
            # Subscribe before saying online: a hub that waits for `online` and
            # then speaks must find edged listening.
            for topic in subscription_topics(self.cfg):
                await client.subscribe(topic, qos=self.cfg.mqtt.qos)
            for batch in state_subscriptions(self.engine):
                await client.subscribe(batch)
            await client.publish(self.cfg.topics.status, b"online", qos=1, retain=True)
            if self.cfg.discovery.enabled:
                # Never a shared subscription: every instance announces itself.
                await client.subscribe(self.cfg.discovery.birth_topic, qos=1)
                await self._announce()
            self.connected.set()
            if not self._ready_sent:
                # Only now: a unit ordered after edged finds it listening.
                self.notifier.ready()
                self._ready_sent = True
            self.online_at = time.time()
            self.notifier.status(f"online: {self.cfg.mqtt.host}:{self.cfg.mqtt.port}")
            log.info(
                "online: %s:%d, listening on %s",
                self.cfg.mqtt.host,
                self.cfg.mqtt.port,
                ", ".join(subscription_topics(self.cfg)),
            )
            reader = asyncio.create_task(self._watch(client), name="edged-watch")
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                stop.cancel()
                reader.result()  # raises the MqttError that ended the session
                return
            # SIGTERM: no new work, finish what was taken, say goodbye.
            self.notifier.stopping()
            log.info("stopping: draining %d queued utterances", self.inbox.qsize())
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.inbox.join(), timeout=10)
            await client.publish(self.cfg.topics.status, b"offline", qos=1, retain=True)
            self.connected.clear()


def _settle(answer: asyncio.Future[Outcome] | None, outcome: Outcome) -> None:
    if answer is not None and not answer.done():
        answer.set_result(outcome)


def _describe(item: Utterance | InboundError) -> str:
    return f"id={item.id} site={item.site}"


def _explain(e: aiomqtt.MqttError) -> str:
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


async def publish_once(cfg: Config, messages: list[tuple[str, str, bool]]) -> None:
    """Connect, publish (topic, payload, retain) at QoS 1, disconnect: for
    one-off CLI tasks. Its own client id, so a running daemon's session is
    left alone."""
    m = cfg.mqtt
    async with aiomqtt.Client(
        m.host,
        m.port,
        username=m.username,
        password=m.password.get_secret_value() if m.password else None,
        identifier=f"{m.client_id}-cli-{os.getpid()}",
        tls_params=_tls_params(cfg),
        tls_insecure=bool(m.tls and m.tls.insecure) or None,
        timeout=10,
    ) as client:
        for topic, payload, retain in messages:
            await client.publish(topic, payload.encode(), qos=1, retain=retain)


def run_daemon(config_path: Path) -> int:
    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        print(f"edged: {config_path}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    # Metrics first: a missing prometheus-client is one clear error before
    # the model takes its seconds to load.
    metrics: Metrics | None = None
    if cfg.metrics.enabled:
        try:
            metrics = load_metrics()
            metrics.serve(cfg.metrics.host, cfg.metrics.port)
        except MetricsUnavailable as e:
            print(f"edged: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except OSError as e:
            where = f"{cfg.metrics.host}:{cfg.metrics.port}"
            print(f"edged: cannot serve metrics on {where}: {e.strerror or e}", file=sys.stderr)
            return 1
    # The journal before the model: an unusable state_dir is one line, at once.
    try:
        journal = Journal.open_default(cfg)
    except JournalUnavailable as e:
        print(f"edged: {e}", file=sys.stderr)
        return EXIT_CONFIG
    from edged.nlu.model import ModelLoadError

    # Until the event loop takes SIGHUP over, a reload must not end the
    # process (Python's default for SIGHUP); the config was just read anyway.
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        engine = Engine.from_config(cfg)
    except ModelLoadError as e:
        print(f"edged: cannot load the NLU model: {e}", file=sys.stderr)
        return EXIT_MODEL
    for problem in custom_intent_problems(cfg, engine.model):
        log.warning("%s", problem)
    daemon = Daemon(cfg, engine, journal, metrics, config_path=config_path)
    try:
        import uvloop

        return uvloop.run(daemon.run())
    except ImportError:  # pragma: no cover - non-Linux development machines
        return asyncio.run(daemon.run())
    finally:
        if metrics is not None:
            metrics.close()


__all__ = ["Daemon", "run_daemon", "subscription_topics"]
