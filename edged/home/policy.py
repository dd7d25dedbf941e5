"""Whether resolved actions may run: confidence, age, and sensitive operations.

`apply_policy` is pure except for the `PendingConfirmations` store it is
handed (a small plain object the daemon owns, one entry per site).

Confirmation works by keywords, checked on the raw text before the NLU's
verdict counts: a bare "yes"/"no" is not something the intent model is
trained on, and it must work even when the model calls it out of scope.
`confirmation_reply(text)` is that check.
A reply only ever answers its own site's pending request; any other new
request from that site replaces (drops) what was pending there, so a later
"yes" can never confirm something the user has moved on from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from edged.config import PolicyConfig
from edged.home.registry import Device
from edged.home.resolve import Action, Resolution
from edged.lang import Language
from edged.lang import en as _english
from edged.nlu.types import Parse

ENGLISH = _english.LANGUAGE

Status = Literal["executed", "not_recognized", "needs_confirmation", "refused", "error"]
Reply = Literal["yes", "no"]

# Whole (normalised) utterances, not words in a sentence: "yes turn off the
# lights" is a command, not a confirmation. English's; per language
# `Language.yes_phrases` / `no_phrases`.
YES_PHRASES = ENGLISH.yes_phrases
NO_PHRASES = ENGLISH.no_phrases


def _normalise_reply(text: str, lang: Language = ENGLISH) -> str:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z' ]+" if lang.ascii_words else r"[^\w' ]+|[\d_]+", " ", text)
    return " ".join(text.split())


def confirmation_reply(text: str, lang: Language = ENGLISH) -> Reply | None:
    """ "yes" / "no" when the whole utterance is a confirmation keyword phrase."""
    said = _normalise_reply(text, lang)
    if said in lang.yes_phrases:
        return "yes"
    if said in lang.no_phrases:
        return "no"
    return None


@dataclass(frozen=True, slots=True)
class Pending:
    actions: tuple[Action, ...]
    expires_at: float
    prompt: str


class PendingConfirmations:
    """Actions waiting for a "yes", at most one request per site."""

    def __init__(self) -> None:
        self._by_site: dict[str | None, Pending] = {}

    def put(self, site: str | None, pending: Pending) -> None:
        self._by_site[site] = pending

    def take(self, site: str | None) -> Pending | None:
        """Remove and return the site's entry, expired or not."""
        return self._by_site.pop(site, None)

    def discard(self, site: str | None) -> None:
        self._by_site.pop(site, None)

    def keep_only(self, keep: Callable[[Pending], bool]) -> list[str | None]:
        """Drop the entries `keep` rejects (the home changed under them);
        returns their sites."""
        gone = [s for s, p in self._by_site.items() if not keep(p)]
        for site in gone:
            del self._by_site[site]
        return gone

    def __len__(self) -> int:
        return len(self._by_site)


@dataclass(frozen=True, slots=True)
class Decision:
    """`actions` are to be rendered and published now (only when executed);
    `pending` are those held back waiting for a confirmation."""

    status: Status
    actions: tuple[Action, ...] = ()
    reason: str | None = None
    pending: tuple[Action, ...] = field(default=())


_OP_WORDS = ENGLISH.op_words


def _describe(
    actions: Sequence[Action], devices: Mapping[str, Device], lang: Language = ENGLISH
) -> str:
    parts = []
    for a in actions:
        device = devices.get(a.device_id)
        name = device.name if device is not None else a.device_id
        op = lang.op_words.get(a.op, a.op.replace("_", " "))
        parts.append(lang.target.format(op=op, name=name))
    return lang.and_word.join(dict.fromkeys(parts))


def answer_confirmation(
    reply: Reply, site: str | None, pending: PendingConfirmations, now: float
) -> Decision | None:
    """Settle the site's pending request with a yes/no; None if it has none."""
    entry = pending.take(site)
    if entry is None:
        return None
    if now > entry.expires_at:
        return Decision("error", reason="the confirmation came too late; nothing was done")
    if reply == "no":
        return Decision("executed", reason="cancelled")
    return Decision("executed", actions=entry.actions, reason="confirmed")


def check_utterance(
    parse: Parse,
    policy: PolicyConfig,
    *,
    now: float,
    utterance_ts: float | None,
    site: str | None,
    pending: PendingConfirmations,
    nevermind: bool = False,
    not_recognized: bool = False,
    language: Language = ENGLISH,
) -> Decision | None:
    """The checks that come before any target: stale, a yes/no answer,
    nevermind, not recognised, the confidence floor. None: go on.
    Shared by apply_policy and custom intents (which have no devices)."""
    if utterance_ts is not None and not math.isfinite(utterance_ts):
        # NaN compares false with everything: it would never be stale.
        return Decision("error", reason="the utterance's timestamp is not a finite number")
    if utterance_ts is not None and now - utterance_ts > policy.max_age_s:
        return Decision(
            "error",
            reason=f"stale: {now - utterance_ts:.0f}s old (max {policy.max_age_s:g}s); "
            "dropped, not executed late",
        )
    reply = confirmation_reply(parse.text, language)
    if reply is not None:
        answered = answer_confirmation(reply, site, pending, now)
        if answered is not None:
            return answered
    # Anything else said at this site moves on from what was pending there.
    pending.discard(site)
    if parse.intent == "HassNevermind" or nevermind:
        return Decision("executed", reason="cancelled")
    if parse.intent is None or not_recognized:
        return Decision("not_recognized", reason="not recognised")
    if parse.confidence < policy.confidence_floor:
        return Decision(
            "not_recognized",
            reason=f"confidence {parse.confidence:.2f} below floor {policy.confidence_floor:g}",
        )
    return None


def apply_policy(
    parse: Parse,
    resolution: Resolution,
    devices: Mapping[str, Device],
    policy: PolicyConfig,
    *,
    now: float,
    utterance_ts: float | None,
    site: str | None,
    pending: PendingConfirmations,
    language: Language = ENGLISH,
) -> Decision:
    """Decide what happens to a resolved utterance.

    In order: a stale utterance (older than max_age_s by its own timestamp;
    None = no timestamp, not checked) is dropped; a bare yes/no answers the
    site's pending confirmation; HassNevermind cancels it; below the
    confidence floor is not recognised; a resolution error is an error;
    an action on a sensitive device (lock, garage door, gate, alarm) below
    policy.sensitive_floor is not recognised, whatever the op; sensitive ops ask for confirmation or are refused per device; the rest
    executes. `devices` is Home.devices. `language` gives the yes/no words
    and the question's words.
    """
    early = check_utterance(
        parse,
        policy,
        now=now,
        utterance_ts=utterance_ts,
        site=site,
        pending=pending,
        nevermind=resolution.reason == "nevermind",
        not_recognized=resolution.reason == "not_recognized",
        language=language,
    )
    if early is not None:
        return early
    if resolution.error is not None:
        return Decision("error", reason=resolution.error)
    if not resolution.actions:
        return Decision("error", reason="nothing to do")
    unsure = [a for a in resolution.actions if _is_sensitive_device(a, devices)]
    if unsure and parse.confidence < policy.sensitive_floor:
        # A kind word in chatter ("lock screen ...") must not reach a lock:
        # sensitive devices need a parse above the stricter floor, every op.
        return Decision(
            "not_recognized",
            reason=f"confidence {parse.confidence:.2f} below the floor for "
            f"{_describe(unsure, devices)} ({policy.sensitive_floor:g}); say it again",
        )

    sensitive = [a for a in resolution.actions if _is_sensitive(a, devices)]
    if not sensitive:
        return Decision("executed", actions=tuple(resolution.actions))
    refusing = [a for a in sensitive if _refused(a, devices)]
    if refusing:
        # All or nothing: half a request ("unlock and turn on the light")
        # surprises more than none of it.
        return Decision("refused", reason=f"not allowed by voice: {_describe(refusing, devices)}")
    actions = tuple(resolution.actions)
    prompt = language.confirm_prompt.format(what=_describe(sensitive, devices, language))
    pending.put(site, Pending(actions, now + policy.confirm_timeout_s, prompt))
    return Decision("needs_confirmation", reason=prompt, pending=actions)


def _refused(action: Action, devices: Mapping[str, Device]) -> bool:
    device = devices.get(action.device_id)
    return device is None or device.sensitive_action == "refuse"


def _is_sensitive_device(action: Action, devices: Mapping[str, Device]) -> bool:
    device = devices.get(action.device_id)
    return device is None or device.sensitive


def _is_sensitive(action: Action, devices: Mapping[str, Device]) -> bool:
    device = devices.get(action.device_id)
    # An action for a device the home doesn't know is never waved through.
    return device is None or action.op in device.sensitive_ops
