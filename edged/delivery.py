"""What a result may claim once the broker has (or has not) taken the commands.

Pure functions between the engine's decision and the result event: the
daemon publishes the commands, collects one MQTT reason code per command
(None: no acknowledgement came, so nobody knows whether it went out), and
`settle` turns the engine's optimistic result into an honest one. A command
the broker refused (reason code >= 0x80, e.g. 0x87 "not authorized" from an
ACL) or never acknowledged is never reported as executed.

After a crash or a lost connection the journal holds the commands that were
being sent; `resume_plan` says which may be sent again (an idempotent
operation: sending "on" twice leaves the lamp on) and which may not (a
toggle or a step sent twice undoes or doubles itself: those are reported as
"may not have gone out").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from edged.messages import ActionOut, ResultEvent

# Operations whose second copy changes nothing: set a state, a level, a
# position, a setpoint. Anything else (toggle, steps, next/previous, pause
# and resume on players that toggle, custom messages) is sent at most once.
IDEMPOTENT_OPS = frozenset(
    {
        "on",
        "off",
        "brightness",
        "color",
        "color_temp",
        "temperature",
        "position",
        "open",
        "close",
        "stop",
        "lock",
        "unlock",
        "volume",
        "mute",
        "unmute",
        "speed",
        "vacuum_dock",
    }
)

# MQTT 5: a reason code from 0x80 up is a failure.
FAILURE = 0x80
# Not a reason code: the message was never handed to the connection (there
# was none), so it certainly did not go out.
NOT_SENT = -1
# The reason codes a broker gives for a refused PUBLISH, for the error text.
_REASONS = {
    0x80: "unspecified error",
    0x83: "implementation specific error",
    0x87: "not authorized",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x97: "quota exceeded",
    0x99: "payload format invalid",
}


def is_idempotent(command: ActionOut) -> bool:
    return command.op in IDEMPOTENT_OPS


def reason_text(code: int) -> str:
    return _REASONS.get(code, f"reason code 0x{code:02x}")


def _name(command: ActionOut) -> str:
    return f"{command.op} {command.device} ({command.topic})"


def settle(
    result: ResultEvent,
    commands: list[ActionOut],
    codes: list[int | None],
    note: str | None = None,
) -> ResultEvent:
    """The result as it may be told: executed only when every command was
    acknowledged by the broker with success; otherwise an error that names
    what was refused and what may not have gone out. `note` (e.g. "resent
    after a restart") is kept in `error` when all went well."""
    pairs = list(zip(commands, codes, strict=True))
    refused = [
        f"{_name(c)}: {reason_text(code)}"
        for c, code in pairs
        if code is not None and code >= FAILURE
    ]
    unsent = [_name(c) for c, code in pairs if code == NOT_SENT]
    unknown = [_name(c) for c, code in pairs if code is None]
    if not refused and not unsent and not unknown:
        return replace(result, error=note) if note else result
    done = [_name(c) for c, code in pairs if code is not None and 0 <= code < FAILURE]
    parts = []
    if refused:
        parts.append("the broker refused " + "; ".join(refused) + ": not done")
    if unsent:
        parts.append("not sent (no connection to the broker in time): " + "; ".join(unsent))
    if unknown:
        parts.append("no acknowledgement for " + "; ".join(unknown) + ": it may not have gone out")
    if done:
        parts.append("sent: " + "; ".join(done))
    return replace(result, status="error", error=". ".join(parts))


def resume_plan(commands: list[ActionOut]) -> tuple[list[int], list[int]]:
    """(indexes to send again, indexes that may not be sent again) for the
    commands of a request that was `sending` when edged lost it."""
    again = [i for i, c in enumerate(commands) if is_idempotent(c)]
    never = [i for i, c in enumerate(commands) if not is_idempotent(c)]
    return again, never


def duplicate_result(
    original: dict[str, Any], request_id: str, text: str, site: str | None
) -> ResultEvent:
    """The answer to a request id seen before: the original outcome, marked
    as a duplicate; nothing is done again. The same id with other words is an
    error (a sender reusing ids), still carrying the original outcome."""
    first = ResultEvent.from_dict(original)
    first.extra = {**first.extra, "duplicate": True}
    first.latency_ms = None
    first.stages_ms = {}
    if text == first.text:
        note = f"duplicate of request {request_id}, answered before: not acted on again"
        first.error = f"{note} (first outcome: {first.error})" if first.error else note
        return first
    return ResultEvent(
        id=request_id,
        text=text,
        site=site,
        status="error",
        error=(
            f"id {request_id} was already used for {first.text!r} ({first.status}); "
            "this request was not acted on: give each request its own id"
        ),
        extra={"duplicate": True, "original": original},
    )
