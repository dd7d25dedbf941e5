"""Where a request's `reply_to` may send its result.

A payload's `reply_to` is untrusted: left open, `{"reply_to":
"zigbee2mqtt/Kitchen Ceiling/set"}` puts the result JSON on a lamp's command
topic, and `edged/utterance` makes edged read its own answer as the next
command. So a reply topic must start with one of `topics.reply_prefixes`
(default `edged/reply/`) and must never be a topic edged itself listens on or
commands: a device's command topics, an utterance or Hermes topic, the status,
result, state or discovery topics. The second rule holds even when a user's
prefix is broad enough to reach them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edged.config import Config
from edged.topics import matches


@dataclass(frozen=True, slots=True)
class ReplyRules:
    prefixes: tuple[str, ...]
    # MQTT filters a reply may never match.
    forbidden: tuple[str, ...]


def _template_root(topic: str) -> str:
    """The fixed part of a template topic, up to its first placeholder."""
    cut = topic.find("{")
    root = topic if cut < 0 else topic[:cut]
    return root.rsplit("/", 1)[0] if cut >= 0 else root


def reply_rules(cfg: Config) -> ReplyRules:
    forbidden: list[str] = [*cfg.topics.utterance, "hermes/#", "$SYS/#"]
    forbidden += [cfg.topics.status, cfg.topics.result]
    forbidden += [cfg.discovery.state_topic, cfg.discovery.birth_topic, f"{cfg.discovery.prefix}/#"]
    for device in cfg.devices:
        if device.protocol == "zigbee2mqtt" and device.topic:
            # The bridge's own requests (zigbee2mqtt/bridge/request/device/remove)
            # live under the same base as every device.
            forbidden.append(f"{device.topic.split('/', 1)[0]}/#")
            forbidden.append(f"{device.topic}/#")
        elif device.protocol == "tasmota" and device.topic:
            forbidden += [f"cmnd/{device.topic}/#", f"cmnd/{device.topic}"]
        for topic in device.command_topics.values():
            forbidden += [topic, f"{topic}/#"]
        for spec in device.template.values():
            root = _template_root(spec.topic)
            forbidden += [root, f"{root}/#"] if root else ["#"]
    for custom in cfg.custom_intents.values():
        for message in custom.actions:
            root = _template_root(message.topic)
            forbidden += [root, f"{root}/#"] if root else ["#"]
    return ReplyRules(tuple(cfg.topics.reply_prefixes), tuple(dict.fromkeys(forbidden)))


def reply_to_problem(topic: str, rules: ReplyRules) -> str | None:
    """None when `topic` may carry a result, else why not (for the error result)."""
    if not any(topic.startswith(prefix) for prefix in rules.prefixes):
        allowed = ", ".join(rules.prefixes) or "nothing (topics.reply_prefixes is empty)"
        return f"reply_to {topic!r} is not allowed: it must start with {allowed}"
    for pattern in rules.forbidden:
        if matches(pattern, topic):
            return f"reply_to {topic!r} is not allowed: edged listens on or commands {pattern}"
    return None
