"""edged's MQTT transport: the broker connection and what rides on it.

- **Requests.** Utterances on `topics.utterance` (edged's own contract,
  edged.messages) and whatever other transports route here (Hermes' query
  topic, edged.transports.hermes) become pipeline requests; each is answered
  with its route's messages and the result event (on the request's
  `reply_to`, else `topics.result`), and acknowledged (QoS 1/2: PUBACK) only
  after that, in arrival order. QoS 1/2 input is never shed: while edged is
  behind it does not acknowledge, and the broker holds the rest (its Receive
  Maximum). A request being answered when the connection drops is answered
  after the reconnect.
- **Devices.** The executor of the pipeline: device commands are published
  at QoS 1 and the broker's reason codes say what became of each
  (edged.delivery); the devices' state topics feed the engine's state store.
- **Around them.** The retained `online`/`offline` status, Home Assistant
  discovery and its sensors (edged.discovery), and the devices imported
  from the broker (handed to whoever set `on_import`).

Messages are taken as paho reads them (on the event loop), routed by the one
topic matcher (edged.topics), decoded and queued; paho and aiomqtt details
stay in edged.transports._paho.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edged.config import Config
from edged.delivery import FAILURE, NOT_SENT, is_idempotent, reason_text
from edged.discovery import HaState, announce_messages, is_birth, state_message
from edged.engine import Outcome
from edged.home.importer import is_import_topic
from edged.messages import ActionOut, InboundError, Limits, Utterance, decode_inbound
from edged.pipeline import Abandoned, Answer, Pipeline, Reply, Request, describe
from edged.reply_to import reply_rules
from edged.sdnotify import SystemdNotifier
from edged.topics import matches
from edged.transports._paho import (
    Client,
    Link,
    Message,
    MqttError,
    daemon_client,
    explain,
    oneoff_client,
    publish_once,
)

if TYPE_CHECKING:
    from edged.engine import Engine

log = logging.getLogger("edged.mqtt")

# Topic filters per SUBSCRIBE packet (a home of 300 tasmota devices has 1,200).
STATE_SUBSCRIBE_BATCH = 100
# Tries to publish a result on a live connection (each waits for the PUBACK
# up to the client's timeout); waiting for a reconnect does not count.
RESULT_ATTEMPTS = 5

Item = Utterance | InboundError
# (topic, payload) -> the request, or what is wrong with it.
Decode = Callable[[str, bytes], Item]
# The route's own messages for an outcome, published before the result event.
Messages = Callable[[Item, Outcome, Answer], list[tuple[str, str]]]


@dataclass(frozen=True)
class Route:
    """Requests on topics that match `filters`: read by `decode`, answered
    with `messages` (if any) and the result event. Subscribed like the
    utterance topics (at mqtt.qos, shared when topics.shared_group is set)."""

    filters: tuple[str, ...]
    decode: Decode
    messages: Messages | None = None


def result_topic(cfg: Config, item: Item) -> str:
    """Where a request's result event goes: its reply_to (checked against
    edged.reply_to when it was decoded), else topics.result."""
    return item.reply_to or cfg.topics.result


def request_subscriptions(cfg: Config, routes: Sequence[Route] = ()) -> list[str]:
    """What edged subscribes to for requests: its utterance topics, then
    the other routes' filters, each shared when topics.shared_group is set."""
    topics = [*cfg.topics.utterance, *(f for r in routes for f in r.filters)]
    if cfg.topics.shared_group:
        return [f"$share/{cfg.topics.shared_group}/{t}" for t in topics]
    return topics


def state_subscriptions(engine: Engine) -> list[list[tuple[str, int]]]:
    """The devices' state topics (edged.home.state), in batches for one
    SUBSCRIBE each: QoS 0 (the newest report is all that matters, nothing
    queues up for a daemon that was away; retained ones come on subscribing)
    and never shared: every instance needs every device's state."""
    topics = [(t, 0) for t in engine.state.topics()]
    return [
        topics[i : i + STATE_SUBSCRIBE_BATCH] for i in range(0, len(topics), STATE_SUBSCRIBE_BATCH)
    ]


class MqttReply(Reply):
    """One request that came over MQTT: answered on the broker, acked on
    the connection it came in on."""

    def __init__(
        self,
        transport: MqttTransport,
        item: Item,
        route: Route | None,
        mid: int,
        qos: int,
        session: int,
    ) -> None:
        self.transport = transport
        self.item = item
        self.route = route
        self.mid = mid
        self.qos = qos
        self.session = session  # which connection it came in on

    async def send(self, outcome: Outcome, how: Answer) -> None:
        messages = self.route.messages if self.route is not None else None
        extra = messages(self.item, outcome, how) if messages is not None else []
        await self.transport.publish_result(self.item, outcome, how, extra)

    def ack(self) -> None:
        self.transport.ack(self.session, self.mid, self.qos)


class MqttTransport:
    def __init__(
        self,
        cfg: Config,
        pipeline: Pipeline,
        limits: Limits,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.pipeline = pipeline
        self.limits = limits
        self.notifier = notifier or SystemdNotifier()
        self.stopping = pipeline.stopping
        self.connected = asyncio.Event()
        self.online_at: float | None = None
        self.patterns = list(cfg.topics.utterance)
        # Where reply_to may point; the home's devices are closed to it, so
        # whoever swaps the home in sets it again (edged.daemon).
        self.reply_rules = reply_rules(cfg)
        # Other transports' requests (Hermes), matched before edged's own.
        self.routes: list[Route] = []
        # Import messages (edged.home.importer), acked at once and handed on.
        self.on_import: Callable[[str, bytes], None] | None = None
        # Run on each connection before the request topics are subscribed
        # (the import: devices first, then utterances).
        self.before_requests: Callable[[], Awaitable[None]] | None = None
        # After each connection is ready (the daemon tells systemd once).
        self.on_online: Callable[[], None] | None = None
        self.ha_state = HaState()  # what the Home Assistant sensors show
        if cfg.discovery.enabled:
            pipeline.observers.append(self._observe_for_home_assistant)
        self._link: Link | None = None
        self._session_no = 0

    def add_route(self, route: Route) -> None:
        self.routes.append(route)

    def subscriptions(self) -> list[str]:
        return request_subscriptions(self.cfg, self.routes)

    # -- publishing ------------------------------------------------------------------
    async def _publish_all(
        self, messages: list[tuple[str, str]], link: Link | None = None, retain: bool = False
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
        self, messages: list[tuple[str, str]], link: Link | None = None, retain: bool = False
    ) -> None:
        """For edged's own messages (discovery): any failure is an MqttError."""
        codes = await self._publish_all(messages, link, retain)
        if any(code is None or code < 0 or code >= FAILURE for code in codes):
            raise MqttError(f"publish failed (reason codes {codes})")

    async def _await_link(self) -> Link | None:
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

    def _stale(self, received_at: float) -> bool:
        return time.time() - received_at > self.cfg.policy.max_age_s

    async def execute(self, commands: list[ActionOut], received_at: float) -> list[int | None]:
        """The pipeline's executor: publish the device commands; one reason
        code each (see `_publish_all`). One the broker never took for sure is
        sent again on the next connection; one that may have gone out only
        when sending it twice does no harm (edged.delivery.IDEMPOTENT_OPS);
        neither once the request is older than policy.max_age_s (never
        executed late)."""
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
            await self._publish_again(messages, codes, retry)
        return codes

    async def _publish_again(
        self, messages: list[tuple[str, str]], codes: list[int | None], which: list[int]
    ) -> None:
        """Publish `messages[i]` for each i in `which` once there is a
        connection, and put their codes in `codes`; Abandoned when stopping."""
        link = await self._await_link()
        if link is None:
            raise Abandoned
        again = await self._publish_all([messages[i] for i in which], link)
        for i, code in zip(which, again, strict=True):
            codes[i] = code

    async def publish_result(
        self, item: Item, outcome: Outcome, how: Answer, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        """The result event (after `extra`, a route's own messages) on the
        request's reply_to, else topics.result: at least once, so over a
        lost connection it goes out again after the reconnect. A shed
        request's goes out once, waiting for nothing."""
        topic = result_topic(self.cfg, item)
        messages = [*extra, (topic, outcome.result.to_json())]
        codes = await self._publish_all(messages)
        if how is Answer.SHED:
            return
        for attempt in range(RESULT_ATTEMPTS):
            retry = [i for i, code in enumerate(codes) if code is None or code == NOT_SENT]
            if not retry:
                break
            if attempt == RESULT_ATTEMPTS - 1:
                log.error("no acknowledgement for the result of %s", outcome.result.id)
                break
            await self._publish_again(messages, codes, retry)
        refused = [
            (messages[i][0], c) for i, c in enumerate(codes) if c is not None and c >= FAILURE
        ]
        for where, code in refused:
            log.warning("the broker refused the result on %s: %s", where, reason_text(code))
        if topic != self.cfg.topics.result and any(where == topic for where, _ in refused):
            # The sender's reply_to is closed to edged: the default topic.
            await self._publish_all([(self.cfg.topics.result, outcome.result.to_json())])

    def ack(self, session: int, mid: int, qos: int) -> None:
        """Acknowledge on the connection the message came in on; one that has
        dropped since is not acked (its mid means nothing on the new one: the
        broker sends the message again, or forgot it with the session)."""
        link = self._link
        if link is not None and session == link.session:
            link.ack(mid, qos)

    # -- taking messages in ----------------------------------------------------------
    def _take(self, link: Link, message: Message) -> None:
        """paho's on_message, on the event loop: route, decode, then queue.
        Never raises: an exception here would drop the connection."""
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
            self.pipeline.stats.errors += 1
            log.exception("failed to take in a message on %s", message.topic)

    def _route_for(self, topic: str) -> Route | None:
        """The other transports' route whose filter matches (None: edged's own)."""
        for route in self.routes:
            if any(matches(f, topic) for f in route.filters):
                return route
        return None

    def _decode(self, route: Route | None, topic: str, payload: bytes) -> Item:
        """The payload as a request or an error; a decoder that fails in a
        way nobody foresaw still gives an error (so a result and an ack)."""
        try:
            if route is not None:
                return route.decode(topic, payload)
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

    def _take_one(self, link: Link, message: Message) -> None:
        topic = message.topic
        state = self.pipeline.engine.state
        if state.wants(topic):
            # A device reporting its state (edged.home.state): into the
            # store, here on the event loop. Subscribed at QoS 0, so the ack
            # is a no-op unless another subscription overlaps it.
            mono, wall = time.monotonic(), time.time()
            for problem in state.feed(topic, message.payload, mono=mono, wall=wall):
                log.warning("%s", problem)
            link.ack(message.mid, message.qos)
            return
        if self.on_import is not None and is_import_topic(self.cfg.import_, topic):
            # Acked at once: a retained config comes again with every subscribe.
            link.ack(message.mid, message.qos)
            self.on_import(topic, bytes(message.payload))
            return
        self.pipeline.stats.received += 1
        payload = bytes(message.payload)
        if self.cfg.discovery.enabled and topic == self.cfg.discovery.birth_topic:
            # Home Assistant (re)started: it wants the discovery configs again.
            link.ack(message.mid, message.qos)
            if is_birth(self.cfg, topic, payload):
                self.pipeline.spawn(self._announce_quietly(link))
            return
        route = self._route_for(topic)
        item = self._decode(route, topic, payload)
        raw_key = None
        if isinstance(item, InboundError):
            raw_key = "raw:" + hashlib.sha256(topic.encode() + b"\x00" + payload).hexdigest()[:32]
        reply = MqttReply(self, item, route, message.mid, message.qos, link.session)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("in: %s qos=%d dup=%s", describe(item), message.qos, message.dup)
        # QoS 0 has no flow control: shed when the inbox is full. QoS 1/2 is
        # never shed: it waits in the inbox unacknowledged, and the broker
        # stops sending at its Receive Maximum (backpressure).
        self.pipeline.put(
            Request(item, reply, bool(message.dup), raw_key), sheddable=message.qos == 0
        )

    def _drop_stale_inbox(self, session_present: bool) -> None:
        """On a new connection that resumed the session, forget QoS 1
        messages taken in on the old one: they were not acked, the broker
        sends them again, and handling both copies would answer twice. When
        the broker lost the session (a restart without persistence) nothing
        comes again, so they stay and are answered here."""
        if not session_present:
            return

        def keep(request: Request) -> bool:
            reply = request.reply
            if not isinstance(reply, MqttReply):
                return True  # another transport's: nothing comes again
            return reply.qos == 0 or reply.session == self._session_no

        self.pipeline.discard(keep)

    # -- subscriptions ---------------------------------------------------------------
    async def subscribe(self, topics: Sequence[str], qos: int) -> None:
        """On the current connection (for the import at connect)."""
        if self._link is None:
            raise MqttError("not connected")
        for topic in topics:
            await self._link.client.subscribe(topic, qos=qos)

    async def follow_state_topics(self, subscribe: list[str], drop: list[str]) -> None:
        """Listen to the state topics of devices a new home added, and no
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
        except MqttError as e:
            log.warning("state topics of the new home: %s (subscribed on reconnecting)", e)

    # -- Home Assistant discovery (edged.discovery) ----------------------------------
    def _observe_for_home_assistant(self, outcome: Outcome) -> None:
        if self._link is None:
            return
        self.ha_state = self.ha_state.record(outcome.result)
        state = state_message(self.cfg, self.ha_state)
        # QoS 0: the next utterance does not wait for this ack, and a lost
        # update is corrected by the next one.
        with contextlib.suppress(MqttError):
            self._link.publish(state.topic, state.payload.encode(), qos=0, retain=True)

    async def _announce(self, link: Link | None = None) -> None:
        """The retained sensor configs, then the current state."""
        for m in [*announce_messages(self.cfg), state_message(self.cfg, self.ha_state)]:
            await self._publish_or_raise([(m.topic, m.payload)], link, retain=m.retain)

    async def _announce_quietly(self, link: Link) -> None:
        try:
            await self._announce(link)
        except MqttError as e:
            log.warning("could not announce to Home Assistant: %s", e)

    # -- the connection --------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve, and reconnect (with jittered back-off) until
        `stopping` is set; then drain the pipeline and say `offline`."""
        delay = self.cfg.mqtt.reconnect_min_s
        while not self.stopping.is_set():
            try:
                await self._session()
                delay = self.cfg.mqtt.reconnect_min_s
            except MqttError as e:
                self.connected.clear()
                if self._link is not None:
                    # What waits for a PUBACK fails now, and is sent again
                    # (or reported honestly) once the broker is back.
                    self._link.close()
                    self._link = None
                if self.stopping.is_set():
                    break
                msg = explain(e)
                self.notifier.status(f"broker unreachable: {msg}")
                # Jitter: no thundering herd after a broker restart.
                wait = random.uniform(delay / 2, delay)
                log.warning("MQTT: %s; reconnecting in %.1f s", msg, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=wait)
                delay = min(delay * 2, self.cfg.mqtt.reconnect_max_s)

    async def _session(self) -> None:
        client = daemon_client(self.cfg)
        # Numbered before connecting: what the broker sends right after the
        # CONNACK belongs to this connection.
        self._session_no += 1
        link = Link(client, self._session_no, self._take)
        async with client:
            self._drop_stale_inbox(link.session_present)
            self._link = link
            early, link.early = link.early, []
            for message in early:
                self._take(link, message)
            if self.before_requests is not None:
                await self.before_requests()
            # Subscribe before saying online: a hub that waits for `online` and
            # then speaks must find edged listening.
            for topic in self.subscriptions():
                await client.subscribe(topic, qos=self.cfg.mqtt.qos)
            for batch in state_subscriptions(self.pipeline.engine):
                await client.subscribe(batch)
            await client.publish(self.cfg.topics.status, b"online", qos=1, retain=True)
            if self.cfg.discovery.enabled:
                # Never a shared subscription: every instance announces itself.
                await client.subscribe(self.cfg.discovery.birth_topic, qos=1)
                await self._announce()
            self.connected.set()
            if self.on_online is not None:
                self.on_online()
            self.online_at = time.time()
            self.notifier.status(f"online: {self.cfg.mqtt.host}:{self.cfg.mqtt.port}")
            log.info(
                "online: %s:%d, listening on %s",
                self.cfg.mqtt.host,
                self.cfg.mqtt.port,
                ", ".join(self.subscriptions()),
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
            log.info("stopping: draining %d queued utterances", self.pipeline.inbox.qsize())
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self.pipeline.drain(timeout=10)
            await client.publish(self.cfg.topics.status, b"offline", qos=1, retain=True)
            self.connected.clear()

    async def _watch(self, client: Client) -> None:
        """Returns, raising MqttError, when the connection drops. Messages are
        taken by `_take` as paho reads them: aiomqtt's iterator would cost a
        task and an asyncio.wait per message, and here only sees the end."""
        async for _ in client.messages:
            pass


__all__ = [
    "STATE_SUBSCRIBE_BATCH",
    "MqttReply",
    "MqttTransport",
    "Route",
    "oneoff_client",
    "publish_once",
    "request_subscriptions",
    "result_topic",
    "state_subscriptions",
]
