"""One utterance, start to finish, without I/O: NLU -> resolve -> policy -> render.

The daemon and `edged parse --config` (the dry run) both call `Engine.handle`,
so what a dry run shows is what the daemon would publish. The engine keeps
the little state a conversation needs ("it" per site, pending confirmations);
it is used from one thread at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from edged.config import Config
from edged.home import (
    Home,
    PendingConfirmations,
    RenderError,
    SiteContext,
    apply_policy,
    render,
    resolve_targets,
)
from edged.messages import ActionOut, InboundError, ResultEvent, Utterance
from edged.nlu.model import NluModel
from edged.nlu.types import Parse


@dataclass
class Outcome:
    result: ResultEvent
    result_topic: str
    commands: list[ActionOut] = field(default_factory=list)
    # Further (topic, payload) pairs, e.g. Hermes intent messages.
    extra_messages: list[tuple[str, str]] = field(default_factory=list)
    parse: Parse | None = None


class Engine:
    def __init__(self, cfg: Config, model: NluModel, home: Home) -> None:
        self.cfg = cfg
        self.model = model
        self.home = home
        self.context = SiteContext(cfg.policy.context_ttl_s)
        self.pending = PendingConfirmations()

    @classmethod
    def from_config(cls, cfg: Config, model: NluModel | None = None) -> Engine:
        if model is None:
            model = NluModel(
                cfg.nlu.model_dir,
                threads=cfg.nlu.threads,
                backend=cfg.nlu.backend,
                confidence_floor=cfg.nlu.confidence_floor,
            )
            model.warm_up()
        return cls(cfg, model, Home.from_config(cfg))

    def _topic_for(self, item: Utterance | InboundError) -> str:
        return item.reply_to or self.cfg.topics.result

    def error(self, item: Utterance | InboundError, message: str, now: float) -> Outcome:
        result = ResultEvent(
            id=item.id,
            text=getattr(item, "text", ""),
            site=item.site,
            status="error",
            error=message,
            latency_ms=(time.time() - item.received_at) * 1e3 if item.received_at else None,
        )
        return Outcome(result, self._topic_for(item))

    def overloaded(self, item: Utterance | InboundError, now: float) -> Outcome:
        return self.error(
            item, "overloaded: too many utterances queued; this one was not handled, try again", now
        )

    def handle(self, item: Utterance | InboundError, now: float, replay: bool = False) -> Outcome:
        """The outcome of one inbound message. With `replay` (the journal says
        its commands already went out before a crash), the result is rebuilt
        but no command is sent again."""
        if isinstance(item, InboundError):
            return self.error(item, item.error, now)
        started = time.perf_counter()
        parse = self.model.parse(item.text)
        t_nlu = time.perf_counter()
        resolution = resolve_targets(parse, self.home, item.site, self.context, now=now)
        t_resolve = time.perf_counter()
        decision = apply_policy(
            parse,
            resolution,
            self.home.devices,
            self.cfg.policy,
            now=now,
            utterance_ts=item.ts,
            site=item.site,
            pending=self.pending,
        )
        status, reason = decision.status, decision.reason
        commands: list[ActionOut] = []
        try:
            for action in decision.actions:
                device = self.home.device(action.device_id)
                for topic, payload in render(action, device):
                    commands.append(
                        ActionOut(action.device_id, action.op, dict(action.params), topic, payload)
                    )
        except RenderError as e:
            status, reason, commands = "error", str(e), []
        t_render = time.perf_counter()
        if status == "executed" and decision.actions:
            self.context.remember(item.site, [a.device_id for a in decision.actions], now)
        shown = commands
        if status == "needs_confirmation":
            shown = [ActionOut(a.device_id, a.op, dict(a.params), "", "") for a in decision.pending]
        result = ResultEvent(
            id=item.id,
            text=item.text,
            site=item.site,
            status=status,
            intent=parse.intent,
            confidence=parse.confidence,
            slots=[s.to_dict() for s in parse.slots],
            actions=shown,
            error=None if status == "executed" else reason,
            latency_ms=(time.time() - item.received_at) * 1e3,
            stages_ms={
                **parse.timings_ms,
                "resolve": (t_resolve - t_nlu) * 1e3,
                "policy_render": (t_render - t_resolve) * 1e3,
                "engine": (t_render - started) * 1e3,
            },
        )
        if status == "executed" and reason and not commands:
            result.error = None
        return Outcome(
            result=result,
            result_topic=self._topic_for(item),
            commands=[] if replay else commands,
            parse=parse,
        )

    def describe(self) -> dict[str, Any]:
        return {"devices": len(self.home.devices), "intents": len(self.model.intents)}
