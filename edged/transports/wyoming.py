"""edged as a Wyoming service, for Home Assistant's Assist pipeline.

Home Assistant's Wyoming integration connects once per sentence, sends a
`transcript` (text, language, and a context with its conversation_id and
the satellite's or device's id) and reads back one answer:

- the **intent program** only recognises: `intent` with Home Assistant's
  intent name and slot names as entities, which Home Assistant then runs on
  its own entities, or `not-recognized`;
- the **handle program** acts: the utterance goes through the same pipeline
  as an MQTT one (order, journal, executors, the result on edged/result) and
  `handled` carries the sentence edged says back, `not-handled` the refusal
  or error in plain words.

Both are announced in `info`; a client picks one with `select-program`
(wyoming >= 1.10), and one that does not (Home Assistant) gets
`wyoming.program`. Several clients at once; a frame that cannot be read is
answered with an `error` event and the connection closed, never the server.
With `wyoming.zeroconf` the service is advertised as `_wyoming._tcp.local.`,
where Home Assistant's Wyoming integration discovers it (needs the
`zeroconf` package; without it edged says so once and serves anyway).

`WyomingService` knows the wire format only: what to do with a sentence
comes in as two callables (`recognise` and `handle`). `WyomingTransport`
gives it those from the pipeline (edged.pipeline): a handled sentence is a
request like any other, so the engine and the pipeline import nothing from
wyoming.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wyoming.asr import Transcript
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    IntentModel,
    IntentProgram,
    SelectProgram,
)
from wyoming.intent import Entity, Intent, NotRecognized, Recognize
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncTcpServer

from edged import __version__
from edged.config import Config, WyomingConfig
from edged.engine import Outcome
from edged.messages import InboundError, Limits, ResultEvent, Utterance, decode_inbound
from edged.nlu.types import Parse
from edged.pipeline import Answer, Pipeline, Reply, Request

log = logging.getLogger("edged.wyoming")

INTENT_PROGRAM = "edged-intent"
HANDLE_PROGRAM = "edged"
_ATTRIBUTION = Attribution(name="edged", url="https://github.com/edged/edged")
# Slots whose words Home Assistant matches against its own names: sent as
# said, not as edged's resolved value (which names edged's devices).
_SPOKEN_SLOTS = frozenset({"name", "area", "floor"})
SERVICE_TYPE = "_wyoming._tcp.local."
# Where mDNS goes: connecting a UDP socket there (nothing is sent) tells which
# local address the host's multicast leaves from.
_MDNS_GROUP = "224.0.0.251"

Recognise = Callable[[str], Awaitable[Parse]]
# (text, site) -> the result, once the pipeline answered it.
HandleText = Callable[[str, str | None], Awaitable[ResultEvent]]


@dataclass(frozen=True)
class Replies:
    """What the intent program says when it has no intent to give."""

    not_recognized: str = "Sorry, I couldn't understand that."
    not_for_home_assistant: str = "Sorry, only edged itself can do that."


def build_info(cfg: WyomingConfig) -> Info:
    version = __version__
    return Info(
        intent=[
            IntentProgram(
                name=INTENT_PROGRAM,
                description="edged: recognises Home Assistant intents (Home Assistant acts)",
                attribution=_ATTRIBUTION,
                installed=True,
                version=version,
                models=[
                    IntentModel(
                        name="edged-nlu",
                        description="INT8 ONNX intent and slot model",
                        attribution=_ATTRIBUTION,
                        installed=True,
                        version=version,
                        languages=list(cfg.languages),
                    )
                ],
            )
        ],
        handle=[
            HandleProgram(
                name=HANDLE_PROGRAM,
                description="edged: understands and acts on its own MQTT devices",
                attribution=_ATTRIBUTION,
                installed=True,
                version=version,
                models=[
                    HandleModel(
                        name="edged-nlu",
                        description="INT8 ONNX intent and slot model",
                        attribution=_ATTRIBUTION,
                        installed=True,
                        version=version,
                        languages=list(cfg.languages),
                    )
                ],
                supports_home_control=True,
            )
        ],
    )


def intent_event(parse: Parse, context: dict[str, Any] | None, replies: Replies) -> Event:
    """A parse as Home Assistant wants it: its intent name, its slot names."""
    if not parse.recognised or parse.intent is None:
        return NotRecognized(text=replies.not_recognized, context=context).event()
    if not parse.intent.startswith("Hass"):
        # edged's own intents (relative heating, custom sentences) mean
        # nothing to Home Assistant's intent handlers.
        return NotRecognized(text=replies.not_for_home_assistant, context=context).event()
    entities = []
    for slot in parse.slots:
        value = slot.value
        if slot.name in _SPOKEN_SLOTS or not isinstance(value, str | int | float | bool):
            value = slot.text
        entities.append(Entity(name=slot.name, value=value))
    return Intent(name=parse.intent, entities=entities, context=context).event()


def handled_event(result: ResultEvent, context: dict[str, Any] | None) -> Event:
    if result.response_type == "error":
        return NotHandled(text=result.speech, context=context).event()
    return Handled(text=result.speech, context=context).event()


def _site(context: dict[str, Any] | None) -> str | None:
    """The requesting satellite (or device) as edged's site, so "it" and a
    pending "yes" stay with the device that was spoken to."""
    if not isinstance(context, dict):
        return None
    for key in ("satellite_id", "device_id"):
        value = context.get(key)
        if isinstance(value, str) and value.strip():
            clean = "".join(c if c.isalnum() or c in "._-" else "_" for c in value.strip())
            return clean[:64]
    return None


class _Connection(AsyncEventHandler):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        service: WyomingService,
    ) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.program = service.cfg.program
        self.peer = str(writer.get_extra_info("peername"))

    async def run(self) -> None:
        """wyoming's loop, except that a frame it cannot read (broken JSON,
        no type, a data length that lies) ends this connection with an
        `error` event instead of an exception in the server's task."""
        try:
            while True:
                try:
                    event = await async_read_event(self.reader)
                except (KeyError, TypeError, AttributeError, asyncio.IncompleteReadError) as e:
                    await self._refuse(f"malformed frame: {type(e).__name__}")
                    break
                if event is None:
                    if not self.reader.at_eof():
                        await self._refuse("malformed frame: not a Wyoming event")
                    break
                if not await self.handle_event(event):
                    break
        except (ConnectionError, OSError) as e:
            log.info("wyoming: %s went away: %s", self.peer, e)
        finally:
            self.writer.close()

    async def _refuse(self, why: str) -> None:
        log.warning("wyoming: %s from %s; closing the connection", why, self.peer)
        with contextlib.suppress(ConnectionError, OSError):
            await self.write_event(Error(text=why, code="malformed").event())

    async def handle_event(self, event: Event) -> bool:
        try:
            return await self._answer(event)
        except (KeyError, TypeError, ValueError) as e:
            # A known event type with fields that are not what they should be.
            await self.write_event(
                Error(text=f"bad {event.type} event: {type(e).__name__}", code="bad-event").event()
            )
            return True
        except (ConnectionError, OSError):
            raise
        except Exception as e:
            # Whatever failed behind the service, the client hears of it and
            # the server keeps serving.
            log.exception("wyoming: failed to answer %s from %s", event.type, self.peer)
            await self.write_event(
                Error(text=f"internal error: {type(e).__name__}", code="internal").event()
            )
            return True

    async def _answer(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.service.info.event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif SelectProgram.is_type(event.type):
            name = SelectProgram.from_event(event).name
            if name == INTENT_PROGRAM:
                self.program = "intent"
            elif name == HANDLE_PROGRAM:
                self.program = "handle"
            else:
                await self.write_event(
                    Error(text=f"no program {name!r}", code="unknown-program").event()
                )
        elif Transcript.is_type(event.type) or Recognize.is_type(event.type):
            text = event.data["text"]
            context = event.data.get("context")
            if not isinstance(text, str) or not (context is None or isinstance(context, dict)):
                raise TypeError("text must be a string, context an object")
            # A recognize request asks for an intent whatever the program.
            program = "intent" if Recognize.is_type(event.type) else self.program
            await self.write_event(await self.service.answer(text, context, program))
        else:
            # Wyoming's rule: events a server does not know are dropped.
            log.debug("wyoming: %s ignored from %s", event.type, self.peer)
        return True


class WyomingService:
    """The TCP server and what it answers. `recognise` parses a text (no
    state, no action); `handle` runs an utterance through the pipeline and
    returns its result."""

    def __init__(
        self,
        cfg: WyomingConfig,
        recognise: Recognise,
        handle: HandleText,
        replies: Replies | None = None,
    ) -> None:
        self.cfg = cfg
        self.recognise = recognise
        self.handle = handle
        self.replies = replies or Replies()
        self.info = build_info(cfg)
        self._server = AsyncTcpServer(cfg.host, cfg.port)

    async def answer(self, text: str, context: dict[str, Any] | None, program: str) -> Event:
        if program == "intent":
            return intent_event(await self.recognise(text), context, self.replies)
        return handled_event(await self.handle(text, _site(context)), context)

    async def start(self) -> None:
        await self._server.start(lambda r, w: _Connection(r, w, self))
        log.info("wyoming: serving on %s:%d", self.cfg.host, self.cfg.port)

    async def stop(self) -> None:
        await self._server.stop()


# --- on the pipeline ------------------------------------------------------------

# (the request, its outcome, why) -> the result event elsewhere (edged/result).
Announce = Callable[[Utterance | InboundError, Outcome, Answer], Awaitable[None]]


class WyomingReply(Reply):
    """A sentence from a Wyoming client: its outcome goes back to the
    connection that waits for it, after the result event went out as for
    every request (`announce`: on edged/result, for logs and automations)."""

    def __init__(self, item: Utterance | InboundError, announce: Announce | None) -> None:
        self.item = item
        self.announce = announce
        self.outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

    async def send(self, outcome: Outcome, how: Answer) -> None:
        if how is Answer.SHED and not self.outcome.done():
            self.outcome.set_result(outcome)  # the client does not wait for the broker
        if self.announce is not None:
            await self.announce(self.item, outcome, how)
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    def dropped(self) -> None:
        if not self.outcome.done():
            self.outcome.cancel()


class WyomingTransport:
    """The Wyoming service on the pipeline: `handle` puts the sentence in
    the inbox like any request (order, journal, executors) and waits for its
    outcome; `recognise` only parses, on the pipeline's parser threads."""

    def __init__(
        self, cfg: Config, pipeline: Pipeline, limits: Limits, announce: Announce | None = None
    ) -> None:
        self.cfg = cfg.wyoming
        # The advertised name: one per instance, as the broker wants client ids.
        self.name = cfg.mqtt.client_id
        self.pipeline = pipeline
        self.limits = limits
        self.announce = announce
        engine = pipeline.engine
        self.service = WyomingService(
            self.cfg,
            self.recognise,
            self.handle,
            Replies(not_recognized=engine.replies.not_recognized + "."),
        )
        self._zeroconf: Any = None
        self._advertised: Any = None

    async def recognise(self, text: str) -> Parse:
        loop = asyncio.get_running_loop()
        model = self.pipeline.engine.model
        return await loop.run_in_executor(self.pipeline.parse_pool, model.parse, text)

    async def handle(self, text: str, site: str | None) -> ResultEvent:
        # The same checks as an MQTT payload (size, text, site); stamped now,
        # so a sentence held up (no broker) is dropped as stale after
        # policy.max_age_s rather than acted on late.
        fields: dict[str, Any] = {"text": text, "ts": time.time()}
        if site:
            fields["site"] = site
        item = decode_inbound("wyoming", json.dumps(fields).encode(), self.limits, [])
        reply = WyomingReply(item, self.announce)
        self.pipeline.stats.received += 1
        self.pipeline.put(Request(item, reply), sheddable=True)
        return (await reply.outcome).result

    async def start(self) -> None:
        await self.service.start()
        if self.cfg.zeroconf:
            await self._advertise()

    async def stop(self) -> None:
        if self._zeroconf is not None:
            with contextlib.suppress(Exception):
                await self._zeroconf.async_unregister_service(self._advertised)
            with contextlib.suppress(Exception):
                await self._zeroconf.async_close()
            self._zeroconf = None
        await self.service.stop()

    async def _advertise(self) -> None:
        """`_wyoming._tcp.local.` as Home Assistant's Wyoming integration
        looks for it: a service named after the instance (mqtt.client_id),
        on the address the service listens on (the host's own when it
        listens on all of them). A failure only costs the discovery."""
        try:
            from zeroconf import InterfaceChoice
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError:
            log.warning(
                "wyoming: not advertised over zeroconf: the zeroconf package is not installed "
                "(pip install 'zeroconf>=0.154'); add edged in Home Assistant by host and "
                "port %d, or set wyoming.zeroconf: false",
                self.cfg.port,
            )
            return
        name = self.name
        address = advertised_address(self.cfg.host)
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[address],
            port=self.cfg.port,
            server=f"{name}.local.",
        )
        try:
            zc = AsyncZeroconf(
                interfaces=[self.cfg.host] if _is_loopback(self.cfg.host) else InterfaceChoice.All
            )
            await zc.async_register_service(info, allow_name_change=True)
        except Exception as e:
            log.warning("wyoming: not advertised over zeroconf: %s", e)
            return
        self._zeroconf, self._advertised = zc, info
        log.info(
            "wyoming: advertised as %s on %s:%d",
            info.name,
            socket.inet_ntop(_family(address), address),
            self.cfg.port,
        )


def _family(packed: bytes) -> int:
    return socket.AF_INET6 if len(packed) == 16 else socket.AF_INET


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1"


def advertised_address(host: str) -> bytes:
    """The packed address to announce for a service bound to `host`."""
    for family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            packed = socket.inet_pton(family, host)
            if packed not in (bytes(4), bytes(16)):  # not 0.0.0.0 / ::
                return packed
    if host not in ("0.0.0.0", "::", ""):
        with contextlib.suppress(OSError):
            return socket.inet_aton(socket.gethostbyname(host))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((_MDNS_GROUP, 5353))  # UDP: nothing is sent
            return socket.inet_aton(probe.getsockname()[0])
        except OSError:
            return socket.inet_aton("127.0.0.1")
