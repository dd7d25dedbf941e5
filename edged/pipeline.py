"""The pipeline between the transports and the engine, in no wire format.

A transport (edged.transports) turns what arrives into a `Request`: an
utterance (or an `InboundError` for what could not be read) and a `Reply`,
its own side of that request: how an outcome goes out in its messages, and
how the request is acknowledged. `Pipeline.put` queues it in the inbox; one
worker takes requests in arrival order and runs the engine (NLU, resolve,
policy, render) on a worker thread so the event loop never blocks; the
device commands go to the `Executor` (edged.delivery says what became of
each); then the reply sends the outcome, and only once every earlier request
was acknowledged is this one acknowledged (`Reply.ack`). Every request gets
exactly one answer and one ack, whatever fails on the way (an error then).

A request that arrived but was not finished when the process died comes again
from its sender (MQTT's persistent session); the journal (edged.journal)
makes sure it does not act twice and answers it from what was recorded.
Order is arrival order, for every site at once: the engine's context ("it",
a pending "yes") is per site, and a site's requests are never reordered.

Nothing here knows a topic, a protocol or a client library: the engine gives
outcomes without topics, the executor and the replies are the transports'.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from edged.config import Config
from edged.delivery import duplicate_result, resume_plan, settle
from edged.engine import Outcome
from edged.journal import Entry, Journal, JournalWriteError
from edged.messages import ActionOut, InboundError, ResultEvent, Utterance
from edged.metrics import Metrics, log_result
from edged.nlu.types import Parse

if TYPE_CHECKING:
    from edged.engine import Engine

log = logging.getLogger("edged.pipeline")

# Requests understood and being answered at once (the rest wait in the inbox).
PIPELINE_DEPTH = 32
# Utterances parsed at once, at most (and not more than the cores allow).
PARSE_WORKERS = 2

T = TypeVar("T")


class Answer(enum.Enum):
    """Why an outcome is being sent (a transport may answer each its own way)."""

    NEW = "new"  # the engine's outcome of a new request
    DUPLICATE = "duplicate"  # a repeated request: the first outcome, marked as such
    RESUMED = "resumed"  # interrupted by a crash or a lost connection, finished now
    SHED = "shed"  # not handled (the inbox was full): sent once, nothing waits on it


class Abandoned(Exception):
    """Stopping while the request's answer or commands cannot go out: it
    stays unacknowledged, so its sender still has it (MQTT redelivers)."""


class Reply:
    """A transport's side of one request."""

    async def send(self, outcome: Outcome, how: Answer) -> None:
        """Send the outcome in the transport's messages; at least once (wait
        for the peer's acknowledgement, try again after a reconnect), or raise
        `Abandoned` when stopping first."""
        raise NotImplementedError

    def ack(self) -> None:
        """The request is done: its answer is out, and every request that
        arrived before it was acknowledged."""

    def dropped(self) -> None:
        """This process will not answer the request (it is stopping)."""


class Executor(Protocol):
    """Carries out device commands (edged.transports.mqtt publishes them)."""

    async def execute(self, commands: list[ActionOut], received_at: float) -> list[int | None]:
        """One code per command in edged.delivery's terms (the broker's
        reason code, None: unknown, NOT_SENT); `Abandoned` when stopping."""
        ...


@dataclass
class Stats:
    received: int = 0
    handled: int = 0
    duplicates: int = 0
    shed: int = 0
    errors: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class Request:
    item: Utterance | InboundError
    reply: Reply
    # The sender says it sent this before (MQTT's DUP flag): the journal is asked.
    redelivered: bool = False
    raw_key: str | None = None  # the journal key of a payload that could not be read
    answered: bool = False

    @property
    def key(self) -> str:
        if isinstance(self.item, Utterance):
            return self.item.dedupe_key
        return self.raw_key or f"raw:{self.item.id}"

    @property
    def sender_key(self) -> bool:
        """The key is the sender's own id: the same id again is a duplicate,
        redelivered or not. Other keys (site and text, the raw payload) only
        recognise redeliveries: the same words said again are a new request
        (a second "yes" is answered)."""
        return isinstance(self.item, Utterance) and self.item.has_own_id


def describe(item: Utterance | InboundError) -> str:
    return f"id={item.id} site={item.site}"


class Pipeline:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        journal: Journal | None = None,
        executor: Executor | None = None,
        metrics: Metrics | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        # In memory when no state_dir: duplicates are then known while it runs.
        self.journal = journal if journal is not None else Journal(None)
        self.executor = executor
        self.metrics = metrics
        self.stopping = stopping or asyncio.Event()
        self.stats = Stats()
        # Called with every outcome sent (e.g. Home Assistant's sensors).
        self.observers: list[Callable[[Outcome], None]] = []
        # Unbounded for requests a sender holds until acknowledged (MQTT QoS
        # 1/2: the broker's Receive Maximum bounds them); others are shed
        # beyond limits.inbox_size.
        self.inbox: asyncio.Queue[Request] = asyncio.Queue()
        # Held until set (the devices imported at start-up).
        self.ready = asyncio.Event()
        self.ready.set()
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
        self._spawned: set[asyncio.Task[None]] = set()
        # Outcomes being answered while the engine works on the next request.
        self._delivering: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._flush_scheduled = False
        self._sync_waiter: asyncio.Future[None] | None = None
        self._syncing = False
        # Queued for (or on) the engine thread.
        self._understanding: dict[asyncio.Future[Outcome], Future[Parse | None]] = {}
        self._last_delivery: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(PIPELINE_DEPTH)

    # -- the entry for every transport -------------------------------------------
    def put(self, request: Request, sheddable: bool = False) -> bool:
        """Queue a request (False: shed). `sheddable`: its sender does not
        hold it for us (MQTT QoS 0, a Wyoming client), so when the inbox is
        full or edged is stopping it is answered at once with an overload
        error instead of waiting without a bound."""
        if sheddable and (
            self.stopping.is_set() or self.inbox.qsize() >= self.cfg.limits.inbox_size
        ):
            self.stats.shed += 1
            log.warning("inbox full (%d): shedding %s", self.inbox.qsize(), describe(request.item))
            self.spawn(self._shed(request))
            return False
        self.inbox.put_nowait(request)
        return True

    def discard(self, keep: Callable[[Request], bool]) -> None:
        """Forget queued requests that `keep` refuses (their transport will
        bring them again, e.g. MQTT after resuming its session)."""
        kept = []
        while not self.inbox.empty():
            request = self.inbox.get_nowait()
            self.inbox.task_done()
            if keep(request):
                kept.append(request)
        for request in kept:
            self.inbox.put_nowait(request)

    async def drain(self, timeout: float) -> None:
        """Wait until everything queued was answered (at most `timeout`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.inbox.join(), timeout=timeout)

    async def on_engine_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` where `Engine.handle` runs: between two utterances."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def close(self) -> None:
        """At shutdown: what is still queued or waiting for its transport
        stays unacknowledged (its sender keeps it) and the journal knows how
        far it got."""
        for understood, parsed in list(self._understanding.items()):
            understood.cancel()
            parsed.cancel()
        for task in list(self._delivering):
            task.cancel()
        self._last_delivery = None
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.parse_pool.shutdown(wait=False, cancel_futures=True)

    # -- the worker ---------------------------------------------------------------
    async def run(self) -> None:
        """Hands each inbox request, in arrival order, to the engine thread
        and to a delivery task that answers it, without waiting for either:
        the engine works through the requests back to back while the event
        loop answers the ones before (the engine thread and the event loop
        then overlap on two cores). Acks still go out in arrival order, each
        only after its own request was answered."""
        await self.ready.wait()
        while True:
            request = await self.inbox.get()
            handed_over = False
            try:
                await self._slots.acquire()
                try:
                    await self._start(request)
                    handed_over = True
                finally:
                    if not handed_over:
                        self._slots.release()
            except Exception:
                self.stats.errors += 1
                log.exception("failed to handle %s", describe(request.item))
            finally:
                if not handed_over:
                    self.inbox.task_done()

    async def _start(self, request: Request) -> None:
        """Decide what this request needs (a new one for the engine, a
        duplicate to answer from the journal, an interrupted one to finish,
        or a redelivery already answered) and start its delivery task, which
        then owns it (it answers, acks, and marks it done)."""
        key = request.key
        if key in self._in_flight:
            # The same request is still being answered (a redelivery after a
            # reconnect, or a sender that repeated itself): wait, so the
            # journal below knows how that went.
            await asyncio.wait({self._in_flight[key]})
        entry = None
        if request.sender_key or request.redelivered:
            entry = self.journal.get(key)
        understood: asyncio.Future[Outcome] | None = None
        if entry is None:
            item = request.item
            parsed = self.parse_pool.submit(self.engine.parse, item)
            understood = asyncio.get_running_loop().run_in_executor(
                self.pool, self._understand, item, parsed
            )
            self._understanding[understood] = parsed
            understood.add_done_callback(lambda f: self._understanding.pop(f, None))
        else:
            self.stats.duplicates += 1
        task = asyncio.create_task(
            self._finish(request, understood, entry, self._last_delivery),
            name=f"edged-deliver-{request.item.id}",
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
        self._slots.release()
        self.inbox.task_done()

    def _understand(self, item: Utterance | InboundError, parsed: Future[Parse | None]) -> Outcome:
        """On the engine thread, in arrival order; `now` when it gets there,
        not when queued. Whatever fails becomes an error outcome."""
        try:
            parse = parsed.result()
            return self.engine.handle(item, time.time(), parse=parse)
        except Exception as e:
            log.exception("the engine failed on %s", describe(item))
            return self.engine.error(item, f"internal error: {type(e).__name__}: {e}", time.time())

    async def _finish(
        self,
        request: Request,
        understood: asyncio.Future[Outcome] | None,
        entry: Entry | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        """Answer one request, then ack it once the request before it was
        acked. A new request goes through the engine; one the journal knows
        is answered from the journal."""
        item = request.item
        try:
            try:
                if understood is not None:
                    await self._deliver(await understood, request)
                elif entry is not None and entry.state == "answered":
                    if request.redelivered:
                        # The sender's copy of a request answered before (its
                        # ack was lost): it already has its one result.
                        log.info("redelivered %s: answered before, acknowledged", describe(item))
                    else:
                        await self._answer_duplicate(entry, request)
                elif entry is not None:
                    await self._resume(entry, request)
            except (Abandoned, asyncio.CancelledError):
                raise
            except Exception as e:
                # Whatever went wrong, the sender hears of it.
                self.stats.errors += 1
                log.exception("failed to handle %s", describe(item))
                failed = self.engine.error(item, f"internal error: {type(e).__name__}", time.time())
                await self._answer(request, failed, Answer.NEW)
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            request.reply.ack()
        except Abandoned:
            log.warning("stopping while disconnected: %s stays with its sender", describe(item))
        finally:
            if not request.answered:
                request.reply.dropped()

    def _stale(self, received_at: float) -> bool:
        return time.time() - received_at > self.cfg.policy.max_age_s

    async def _execute(self, commands: list[ActionOut], received_at: float) -> list[int | None]:
        if self.executor is None:
            raise RuntimeError("no executor: nothing can carry out device commands")
        return await self.executor.execute(commands, received_at)

    async def _answer(self, request: Request, outcome: Outcome, how: Answer) -> None:
        """The outcome through the request's transport, then logs, metrics
        and observers."""
        t_send = time.perf_counter()
        await request.reply.send(outcome, how)
        request.answered = True
        self._observe(outcome, (time.perf_counter() - t_send) * 1e3)
        status = outcome.result.status
        if status == "error":
            self.stats.errors += 1
        self.stats.handled += 1
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1

    async def _shed(self, request: Request) -> None:
        # Answered without waiting on the pipeline (and never acknowledged:
        # a sheddable request has nothing to acknowledge).
        outcome = self.engine.overloaded(request.item, time.time())
        try:
            await request.reply.send(outcome, Answer.SHED)
            request.answered = True
        except Abandoned:
            pass
        finally:
            if not request.answered:
                request.reply.dropped()
        self._observe(outcome, 0.0)

    def _observe(self, outcome: Outcome, send_ms: float) -> None:
        log_result(log, outcome.result, send_ms)
        if self.metrics is not None:
            self.metrics.observe(outcome.result, send_ms)
        for observer in self.observers:
            try:
                observer(outcome)
            except Exception:
                log.exception("an observer failed on the result of %s", outcome.result.id)

    # -- the journal: what was done, by request (edged.journal, edged.delivery) --
    async def _deliver(self, outcome: Outcome, request: Request) -> None:
        """A new request: `sending` journaled before any command goes out
        (a command that cannot be recorded is not sent), the commands, `sent`
        once the executor confirmed them, the honest result, `answered`."""
        key, item = request.key, request.item
        if outcome.commands:
            try:
                self._journal(key, "sending", item, outcome, durable=False)
                await self._journal_synced()
            except JournalWriteError as e:
                log.error("journal not written (%s): %s not acted on", e, describe(item))
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
            codes = await self._execute(outcome.commands, item.received_at)
            outcome.result = self.engine.reword(settle(outcome.result, outcome.commands, codes))
            self._journal_quietly(key, "sent", item, outcome)
        await self._answer(request, outcome, Answer.NEW)
        self._journal_quietly(key, "answered", item, outcome)

    async def _answer_duplicate(self, entry: Entry, request: Request) -> None:
        item = request.item
        result = duplicate_result(
            entry.record.get("result") or {}, item.id, getattr(item, "text", ""), item.site
        )
        log.info("duplicate %s: answered with the first outcome", describe(item))
        await self._answer(request, Outcome(result), Answer.DUPLICATE)

    async def _resume(self, entry: Entry, request: Request) -> None:
        """A request edged was sending when it died or lost its executor: the
        commands that were confirmed are not repeated; of the others, only
        idempotent ones are sent again; the result says which is which."""
        item = request.item
        fallback = ResultEvent.from_dict({"id": item.id, "status": "error"})
        outcome = Outcome.from_record(entry.record, fallback)
        result, commands = outcome.result, outcome.commands
        if entry.state == "sending":
            again, _ = resume_plan(commands)
            codes: list[int | None] = [None] * len(commands)
            if again and not self._stale(item.received_at):
                sent = await self._execute([commands[i] for i in again], item.received_at)
                for i, code in zip(again, sent, strict=True):
                    codes[i] = code
            note = "redelivered after a restart: its commands were sent again (idempotent)"
            outcome.result = self.engine.reword(settle(result, commands, codes, note))
            log.info("resumed %s: %s", describe(item), outcome.result.error)
        elif result.status == "executed":
            outcome.result.error = (
                "redelivered after a restart: its commands went out before "
                "(acknowledged by the broker) and are not repeated"
            )
        self._journal_quietly(request.key, "sent", item, outcome)
        await self._answer(request, outcome, Answer.RESUMED)
        self._journal_quietly(request.key, "answered", item, outcome)

    def _journal(
        self,
        key: str,
        state: str,
        item: Utterance | InboundError,
        outcome: Outcome,
        durable: bool = True,
    ) -> None:
        """Record a state; raises JournalWriteError (the caller decides)."""
        self.journal.mark(key, state, text=item.text, record=outcome.to_record(), durable=durable)

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
            log.warning("journal not written (%s): %s is not marked %s", e, describe(item), state)
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


__all__ = [
    "PIPELINE_DEPTH",
    "Abandoned",
    "Answer",
    "Executor",
    "Pipeline",
    "Reply",
    "Request",
    "Stats",
    "describe",
]
