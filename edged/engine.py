"""One utterance, start to finish, without I/O: NLU -> resolve -> policy -> render.

The pipeline (edged.pipeline) and `edged parse --config` (the dry run) both
call `Engine.handle`, so what a dry run shows is what the daemon would
publish. The engine keeps the little state a conversation needs ("it" per
site, pending confirmations); it is used from one thread at a time.

It knows no transport: an `Outcome` has no topics and no protocol messages.
Each transport (edged.transports) turns it into its own (the MQTT result
event, Hermes' intentParsed and endSession, Wyoming's handled).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any

from edged.config import PLACEHOLDER_RE, Config, CustomIntentConfig, placeholders
from edged.home import (
    Action,
    Decision,
    Home,
    Pending,
    PendingConfirmations,
    RenderError,
    SiteContext,
    apply_policy,
    render,
    resolve_targets,
)
from edged.home.policy import check_utterance
from edged.home.replies import Done, ReplyTemplates, render_reply
from edged.home.state import StateAnswer, StateStore, answer_query, unknown_message
from edged.lang import get_language
from edged.messages import ActionOut, InboundError, Limits, ResultEvent, Utterance
from edged.nlu.model import NluModel
from edged.nlu.types import Parse

# The op of a custom intent's message: topic and payload come from the config.
CUSTOM_OP = "publish"


def _payload_value(value: Any) -> str:
    """A slot value as text safe inside a JSON string in a payload template."""
    if isinstance(value, dict):
        value = value.get("name", "")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


def _fill(template: str, values: dict[str, str]) -> str:
    # Unknown placeholders become empty: a slot that was not said.
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), template)


def custom_intent_problems(cfg: Config, model: NluModel) -> list[str]:
    """What in `custom_intents` the loaded model can never do: an intent it
    does not know (a typo, or a model trained without that sentence file), or
    a slot, required or in a payload, that the intent was never trained with
    (its payload would get an empty string). The daemon logs each at start."""
    info = model.info
    problems = []
    for intent, custom in cfg.custom_intents.items():
        if intent not in info.intents:
            problems.append(
                f"custom_intents.{intent}: the model in {info.path} has no intent {intent!r}, "
                "so it never runs (train it with edged train --sentences)"
            )
            continue
        slots = info.intent_slots.get(intent, info.slots)
        used = {n for m in custom.actions for n in placeholders(m.payload)}
        for name in sorted((used | set(custom.required_slots)) - {"intent", "site", "text"}):
            if name not in slots:
                problems.append(
                    f"custom_intents.{intent}: slot {{{name}}} is never filled: {intent} was "
                    f"trained with {', '.join(slots) if slots else 'no slots'}"
                )
    return problems


def restrict_to_filter(parse: Parse, intents: tuple[str, ...] | None) -> Parse:
    """The parse as the request allows it: an intent outside `intents` is not
    recognised (none or an empty filter allows every intent, as in Rhasspy
    and Snips)."""
    if not intents or parse.intent is None or parse.intent in intents:
        return parse
    return dataclasses.replace(parse, intent=None, slots=(), best_guess=parse.intent)


@dataclass
class Outcome:
    """What became of one request, in no wire format: the result event, the
    device commands to send, and the parse (None when nothing was parsed:
    a payload that could not be read, an overload, an internal error)."""

    result: ResultEvent
    commands: list[ActionOut] = field(default_factory=list)
    parse: Parse | None = None

    def to_record(self) -> dict[str, Any]:
        """As the journal keeps it, so a redelivery is answered without the engine."""
        return {
            "result": self.result.to_dict(),
            "commands": [c.to_dict() for c in self.commands],
            "parse": None if self.parse is None else self.parse.to_dict(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], fallback: ResultEvent) -> Outcome:
        result = record.get("result")
        parse = record.get("parse")
        return cls(
            ResultEvent.from_dict(result) if result else fallback,
            [ActionOut.from_dict(c) for c in record.get("commands") or []],
            Parse.from_dict(parse) if isinstance(parse, dict) else None,
        )


class Engine:
    def __init__(self, cfg: Config, model: NluModel, home: Home) -> None:
        self.cfg = cfg
        self.model = model
        self.home = home
        self.context = SiteContext(cfg.policy.context_ttl_s)
        self.pending = PendingConfirmations()
        # The words of the config's language (edged.lang): yes/no, replies.
        self.language = get_language(cfg.language)
        # What is said back (edged/home/replies.yaml or its language's), loaded once.
        self.replies = ReplyTemplates.load(self.language.replies)
        # What devices last reported: the daemon feeds it (state topics),
        # resolve and query answers read snapshots of it.
        lim = cfg.limits
        self.state = StateStore(
            home, Limits(lim.max_payload_bytes, lim.max_json_depth, lim.max_text_chars)
        )

    @classmethod
    def from_config(cls, cfg: Config, model: NluModel | None = None) -> Engine:
        if model is None:
            model = NluModel(
                cfg.nlu.model_dir,
                threads=cfg.nlu.threads,
                backend=cfg.nlu.backend,
                confidence_floor=cfg.nlu.confidence_floor,
                providers=cfg.nlu.providers,
                language=cfg.language,
            )
            model.warm_up()
        return cls(cfg, model, Home.from_config(cfg))

    def replace_home(self, cfg: Config, home: Home) -> None:
        """Serve `cfg` and `home` from the next utterance on (a reload, or
        devices imported from the broker). Call it where `handle` runs (the
        daemon's engine thread), so it falls between two utterances and
        never inside one. "it" keeps pointing at devices that still exist
        (resolve skips the others); a confirmation still waiting is dropped
        when a device it would move is gone or changed, since the "yes"
        was asked about the device as it was."""
        old = self.home
        self.cfg = cfg
        self.home = home
        self.context.ttl_s = cfg.policy.context_ttl_s

        def unchanged(pending: Pending) -> bool:
            return all(
                home.devices.get(a.device_id) == old.devices.get(a.device_id)
                for a in pending.actions
                if a.op != CUSTOM_OP
            )

        self.pending.keep_only(unchanged)

    def _speak(
        self,
        result: ResultEvent,
        reason: str | None,
        actions: tuple[Action, ...] = (),
        answers: list[StateAnswer] | None = None,
        render_failed: bool = False,
    ) -> ResultEvent:
        """The one place every outcome gets its sentence and response type."""
        done = [
            Done(
                a.op,
                a.params,
                self.home.devices[a.device_id].name if a.device_id in self.home.devices else None,
            )
            for a in actions
        ]
        reply = render_reply(
            self.replies,
            status=result.status,
            reason=reason,
            done=done,
            answers=answers or [],
            render_failed=render_failed,
        )
        result.speech, result.response_type = reply.speech, reply.response_type
        return result

    def reword(self, result: ResultEvent) -> ResultEvent:
        """A result the daemon turned into an error after the engine (the
        broker refused a command, the journal cannot be written) says so:
        a sentence that claimed success must not be spoken."""
        if result.status == "error" and result.response_type != "error":
            return self._speak(result, result.error)
        return result

    def error(self, item: Utterance | InboundError, message: str, now: float) -> Outcome:
        result = ResultEvent(
            id=item.id,
            text=getattr(item, "text", ""),
            site=item.site,
            status="error",
            error=message,
            latency_ms=(time.time() - item.received_at) * 1e3 if item.received_at else None,
        )
        return Outcome(self._speak(result, message))

    def overloaded(self, item: Utterance | InboundError, now: float) -> Outcome:
        return self.error(
            item, "overloaded: too many utterances queued; this one was not handled, try again", now
        )

    def parse(self, item: Utterance | InboundError) -> Parse | None:
        """The NLU step of `handle` on its own (None: nothing to parse). It
        reads no engine state, so it may run on another thread, ahead of
        `handle` (the daemon parses the next utterances while this one is
        resolved)."""
        if isinstance(item, InboundError):
            return None
        return self.model.parse(item.text)

    def handle(
        self,
        item: Utterance | InboundError,
        now: float,
        replay: bool = False,
        parse: Parse | None = None,
    ) -> Outcome:
        """The outcome of one inbound message. With `replay` (the journal says
        its commands already went out before a crash), the result is rebuilt
        but no command is sent again. `parse`: the item's `Engine.parse`,
        when it was done already."""
        if isinstance(item, InboundError):
            return self.error(item, item.error, now)
        started = time.perf_counter()
        # The NLU's own time when it ran before, so "engine" is still the sum.
        parsed_before_ms = 0.0
        if parse is None:
            parse = self.model.parse(item.text)
        else:
            parsed_before_ms = sum(parse.timings_ms.values())
        # What the transport asked for (a Hermes query's intentFilter; only
        # the intent, as Rhasspy's NLU service, with topics.hermes.act false).
        parse = restrict_to_filter(parse, item.intents)
        if item.recognise_only:
            return self._parse_only(item, parse, started, parsed_before_ms)
        t_nlu = time.perf_counter()
        custom = self.cfg.custom_intents.get(parse.intent or "")
        if custom is not None:
            decision = self._custom_decision(parse, item, custom, now)
            t_resolve = time.perf_counter()
        else:
            snapshot = self.state.snapshot()
            resolution = resolve_targets(
                parse,
                self.home,
                item.site,
                self.context,
                now=now,
                state=snapshot,
                sure=self.cfg.policy.sensitive_floor,
            )
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
                language=self.language,
            )
        status, reason = decision.status, decision.reason
        commands: list[ActionOut] = []
        answers: list[StateAnswer] = []
        render_failed = False
        try:
            for action in decision.actions:
                if action.op == "query":
                    answer = self._answer(action, parse.intent)
                    answers.append(answer)
                    if answer.known:
                        continue  # answered from state: nothing to send
                if action.op == CUSTOM_OP:
                    p = action.params
                    commands.append(
                        ActionOut(action.device_id, CUSTOM_OP, {}, p["topic"], p["payload"])
                    )
                    continue
                device = self.home.device(action.device_id)
                for topic, payload in render(action, device):
                    commands.append(
                        ActionOut(action.device_id, action.op, dict(action.params), topic, payload)
                    )
        except RenderError as e:
            status, reason, commands, render_failed = "error", str(e), [], True
        t_render = time.perf_counter()
        if status == "executed" and answers and not any(a.known for a in answers):
            # Nothing guessed: the question goes back unanswered, saying why.
            status, reason = "error", unknown_message(answers[0])
        touched = [a.device_id for a in decision.actions if a.op != CUSTOM_OP]
        if status == "executed" and touched:
            self.context.remember(item.site, touched, now)
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
                "engine": (t_render - started) * 1e3 + parsed_before_ms,
            },
            state=answers[0].to_dict() if len(answers) == 1 else None,
            states=[a.to_dict() for a in answers] if len(answers) > 1 else [],
        )
        if status == "executed" and reason and not commands:
            result.error = None
        self._speak(
            result,
            reason,
            decision.actions if status == "executed" else (),
            answers,
            render_failed,
        )
        return Outcome(result=result, commands=[] if replay else commands, parse=parse)

    def _answer(self, action: Action, intent: str | None) -> StateAnswer:
        """A query on one device, from its last reported state. When it has
        reported nothing, the query is rendered: zigbee2mqtt and tasmota are
        asked to report (their answer lands in the store, for next time);
        other protocols have nothing to ask and send nothing."""
        device = self.home.device(action.device_id)
        return answer_query(device, intent, self.state.get(device.id), time.monotonic())

    def _parse_only(
        self, item: Utterance, parse: Parse, started: float, parsed_before_ms: float = 0.0
    ) -> Outcome:
        """A request to recognise only (edged as Rhasspy's NLU): the transport
        sends the intent back in its own messages; nothing is resolved and no
        device is touched. The result event still goes out (status `parsed`)
        for logs and metrics."""
        done = time.perf_counter()
        result = ResultEvent(
            id=item.id,
            text=item.text,
            site=item.site,
            status="parsed" if parse.recognised else "not_recognized",
            intent=parse.intent,
            confidence=parse.confidence,
            slots=[s.to_dict() for s in parse.slots],
            error=None if parse.recognised else "not recognised",
            latency_ms=(time.time() - item.received_at) * 1e3,
            stages_ms={**parse.timings_ms, "engine": (done - started) * 1e3 + parsed_before_ms},
        )
        return Outcome(result=self._speak(result, result.error), parse=parse)

    def _custom_decision(
        self, parse: Parse, item: Utterance, custom: CustomIntentConfig, now: float
    ) -> Decision:
        """A custom intent: the same checks as built-in ones (stale, yes/no,
        floor), then its configured messages, after a "yes" if it asks for one."""
        policy = self.cfg.policy
        if custom.confidence_floor is not None:
            policy = policy.model_copy(update={"confidence_floor": custom.confidence_floor})
        early = check_utterance(
            parse,
            policy,
            now=now,
            utterance_ts=item.ts,
            site=item.site,
            pending=self.pending,
            language=self.language,
        )
        if early is not None:
            return early
        missing = [n for n in custom.required_slots if parse.slot(n) is None]
        if missing:
            return Decision("error", reason=f"{parse.intent} needs {', '.join(missing)}: not heard")
        values = {
            s.name: _payload_value(s.value if s.value is not None else s.text) for s in parse.slots
        }
        values |= {
            "intent": parse.intent or "",
            "site": item.site or "",
            "text": _payload_value(item.text),
        }
        actions = tuple(
            Action(
                f"custom:{parse.intent}",
                CUSTOM_OP,
                {"topic": m.topic, "payload": _fill(m.payload, values)},
            )
            for m in custom.actions
        )
        if custom.confirm:
            prompt = self.language.custom_prompt.format(intent=parse.intent)
            self.pending.put(item.site, Pending(actions, now + policy.confirm_timeout_s, prompt))
            return Decision("needs_confirmation", reason=prompt, pending=actions)
        return Decision("executed", actions=actions)
