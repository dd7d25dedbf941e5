"""What edged says back: a sentence to speak and a response type for every
result, rendered from the templates in replies.yaml (behaviour as data).

Pure: `render_reply` reads the outcome's facts (status, machine reason, the
actions done with their device names, the answers from state) and the
templates, and returns a `Reply`. The engine calls it once per outcome; the
transports (MQTT result, Hermes dialogue, Wyoming Handled) only carry it.

Response types follow Home Assistant's conversation response:
`action_done` (something was done, or cancelled as asked), `query_answer`
(an answer from state, a confirmation question, or a parse-only result) and
`error` (not recognised, refused, or failed: `error` keeps the reason).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from edged.home.state import StateAnswer, unknown_message

ResponseType = Literal["action_done", "query_answer", "error"]

DEFAULT_TEMPLATES = Path(__file__).with_name("replies.yaml")
# More targets than this are summed up ("and 5 more devices"): a sentence
# naming ten lamps is not worth listening to.
_NAMED_TARGETS = 4


class _ErrorRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str
    say: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return v


class _TemplateFile(BaseModel):
    """replies.yaml as written; checked when loaded so a typo fails at start."""

    model_config = ConfigDict(extra="forbid")
    done: dict[str, str]
    cancelled: str
    answer: dict[str, str]
    confirm: str
    parsed: str
    render_error: str
    failed: str
    not_recognized: str
    errors: list[_ErrorRule]
    # How devices are named in a sentence: one target ("the {name}"), the
    # word between the last two, and the rest summed up. English's by default.
    target: str = "the {name}"
    and_word: str = "and"
    more: str = "{n} more devices"
    # Reported values as spoken ("on" -> "an"); a value not listed is said as is.
    values: dict[str, str] = {}
    # A second sentence joined to the first starts in lower case ("..., and
    # set ..."); not in German, whose nouns keep their capital.
    lower_joined: bool = True
    # A question the device has not answered yet, by reading key (with
    # `default`); {name}. Unset: edged.home.state.unknown_message (English).
    unknown: dict[str, str] | None = None

    @field_validator("done", "answer")
    @classmethod
    def _has_default(cls, v: dict[str, str]) -> dict[str, str]:
        if "default" not in v:
            raise ValueError("needs a 'default' entry")
        return v


@dataclass(frozen=True)
class ReplyTemplates:
    done: Mapping[str, str]
    cancelled: str
    answer: Mapping[str, str]
    confirm: str
    parsed: str
    render_error: str
    failed: str
    not_recognized: str
    errors: tuple[tuple[re.Pattern[str], str], ...]
    target: str = "the {name}"
    and_word: str = "and"
    more: str = "{n} more devices"
    values: Mapping[str, str] = field(default_factory=dict)
    lower_joined: bool = True
    unknown: Mapping[str, str] | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> ReplyTemplates:
        raw = yaml.safe_load((path or DEFAULT_TEMPLATES).read_text(encoding="utf-8"))
        f = _TemplateFile.model_validate(raw)
        return cls(
            done=dict(f.done),
            cancelled=f.cancelled,
            answer=dict(f.answer),
            confirm=f.confirm,
            parsed=f.parsed,
            render_error=f.render_error,
            failed=f.failed,
            not_recognized=f.not_recognized,
            errors=tuple((re.compile(r.match), r.say) for r in f.errors),
            target=f.target,
            and_word=f.and_word,
            more=f.more,
            values=dict(f.values),
            lower_joined=f.lower_joined,
            unknown=None if f.unknown is None else dict(f.unknown),
        )


@dataclass(frozen=True)
class Reply:
    speech: str
    response_type: ResponseType


@dataclass(frozen=True)
class Done:
    """One action that went out: its op, params, and the device's spoken name."""

    op: str
    params: Mapping[str, Any]
    name: str | None  # None: not a device (a custom intent's message)


class _Fields(dict[str, Any]):
    # A placeholder a template names but the facts lack renders empty
    # rather than failing: a reply must never cost the result.
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, fields: Mapping[str, Any]) -> str:
    text = template.format_map(_Fields(fields))
    return " ".join(text.split())


def _the(name: str, target: str = "the {name}") -> str:
    # A name that already starts with the article ("The Den") keeps its own.
    prefix = target.split("{name}", 1)[0]
    return (
        name
        if prefix.strip() and name.lower().startswith(prefix.lower())
        else target.format(name=name)
    )


def join_names(names: Sequence[str], t: ReplyTemplates | None = None) -> str:
    """ "the A", "the A and the B", "the A, the B and the C", and past four
    "the A, the B, the C and 3 more devices" (in `t`'s words; English's
    without)."""
    target, and_word, more = (
        ("the {name}", "and", "{n} more devices") if t is None else (t.target, t.and_word, t.more)
    )
    names = [_the(n, target) for n in dict.fromkeys(names)]
    if len(names) > _NAMED_TARGETS:
        rest = len(names) - (_NAMED_TARGETS - 1)
        names = [*names[: _NAMED_TARGETS - 1], more.format(n=rest)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {and_word} " + names[-1]


def _number(value: Any, words: Mapping[str, str] | None = None) -> str:
    if isinstance(value, bool):
        said = "on" if value else "off"
        return (words or {}).get(said, said)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)


def _shared_params(dones: Sequence[Done], words: Mapping[str, str]) -> dict[str, str]:
    """The params all of an op's actions share, as spoken text (brightness 50)."""
    shared: dict[str, str] | None = None
    for d in dones:
        mine = {k: _number(v, words) for k, v in d.params.items() if not isinstance(v, dict | list)}
        shared = mine if shared is None else {k: v for k, v in shared.items() if mine.get(k) == v}
    return shared or {}


def _needs(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def done_sentence(t: ReplyTemplates, done: Sequence[Done]) -> str:
    by_op: dict[str, list[Done]] = {}
    for d in done:
        by_op.setdefault(d.op, []).append(d)
    parts = []
    for op, group in by_op.items():
        params = _shared_params(group, t.values)
        names = [d.name for d in group if d.name]
        fields = {**params, "targets": join_names(names, t)}
        if op in params:
            fields["value"] = params[op]
        # "volume" by a step has no level to say: its own line, if any.
        candidates = [f"{op}_step"] if "step" in params else []
        candidates += [op, "changed" if names else "default"]
        template = next(
            t.done[c]
            for c in [*candidates, "default"]
            if c in t.done and _needs(t.done[c]) <= set(fields)
        )
        parts.append(_fill(template, fields))
    parts = list(dict.fromkeys(parts))
    if not parts:
        return t.done["default"]
    joint = f", {t.and_word} "
    if not t.lower_joined:
        return parts[0] + "".join(joint + p for p in parts[1:])
    return parts[0] + "".join(joint + p[0].lower() + p[1:] for p in parts[1:])


def answer_sentence(t: ReplyTemplates, answers: Sequence[StateAnswer]) -> str:
    parts = []
    for a in answers:
        if not a.known:
            if t.unknown is None:
                parts.append(unknown_message(a))
            else:
                template = t.unknown.get(a.key, t.unknown.get("default", ""))
                parts.append(_fill(template, {"name": a.name}))
            continue
        if isinstance(a.value, str):
            value = t.values.get(a.value, a.value.replace("_", " "))
        else:
            value = _number(a.value, t.values)
        template = t.answer.get(a.key, t.answer["default"])
        parts.append(_fill(template, {"name": a.name, "value": value, "unit": a.unit or ""}))
    return " ".join(_sentence(p) for p in parts)


def error_sentence(t: ReplyTemplates, reason: str) -> str:
    for pattern, say in t.errors:
        m = pattern.search(reason)
        if m is not None:
            return _fill(say, {"reason": reason, **m.groupdict()})
    return reason


def render_reply(
    t: ReplyTemplates,
    *,
    status: str,
    reason: str | None,
    done: Sequence[Done] = (),
    answers: Sequence[StateAnswer] = (),
    render_failed: bool = False,
) -> Reply:
    """The sentence and response type of one outcome. `reason` is the
    machine reason (the result's `error`, or the policy's "cancelled")."""
    if status == "executed":
        if answers:
            spoken = answer_sentence(t, answers)
            others = [d for d in done if d.op != "query"]
            if others:
                spoken = _sentence(done_sentence(t, others)) + " " + spoken
            return Reply(_sentence(spoken), "query_answer")
        if not done:
            return Reply(_sentence(t.cancelled), "action_done")
        return Reply(_sentence(done_sentence(t, done)), "action_done")
    if status == "needs_confirmation":
        return Reply(_sentence(_fill(t.confirm, {"reason": reason or ""})), "query_answer")
    if status == "parsed":
        # Hermes with act false: the hub acts and speaks; this is for logs.
        return Reply(_sentence(t.parsed), "query_answer")
    if render_failed:
        return Reply(_sentence(t.render_error), "error")
    if status == "not_recognized" and (reason is None or reason == "not recognised"):
        return Reply(_sentence(t.not_recognized), "error")
    if not reason:
        return Reply(_sentence(t.failed), "error")
    return Reply(_sentence(error_sentence(t, reason)), "error")
