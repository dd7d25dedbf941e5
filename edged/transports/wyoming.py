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

This module knows the wire format only: what to do with a sentence comes in
as two callables (`recognise` and `handle`), so the engine and the pipeline
import nothing from wyoming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from edged.config import WyomingConfig
from edged.messages import ResultEvent
from edged.nlu.types import Parse

log = logging.getLogger("edged.wyoming")

INTENT_PROGRAM = "edged-intent"
HANDLE_PROGRAM = "edged"
_ATTRIBUTION = Attribution(name="edged", url="https://github.com/edged/edged")
# Slots whose words Home Assistant matches against its own names: sent as
# said, not as edged's resolved value (which names edged's devices).
_SPOKEN_SLOTS = frozenset({"name", "area", "floor"})

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
