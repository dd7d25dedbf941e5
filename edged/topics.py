"""The one MQTT topic matcher: production (routing, sites, reply_to rules,
imported devices) and the tests use this function, nothing else.

MQTT's rules (MQTT 5.0 section 4.7), as paho's `topic_matches_sub` applies
them: `+` matches exactly one level (an empty one too), `#` the rest of
the topic including none of it (`edged/#` matches `edged`), and a topic that
starts with `$` is matched by no filter that starts with a wildcard. It is
plain text work, so the contracts (edged.messages) and the engine need no
MQTT client library to use it; tests/test_topics.py holds it against paho's.
"""

from __future__ import annotations


def matches(topic_filter: str, topic: str) -> bool:
    """Whether a message on `topic` is one a subscription to `topic_filter` gets."""
    want = topic_filter.split("/")
    got = topic.split("/")
    dollar = topic.startswith("$")
    for i, level in enumerate(want):
        if level == "#":
            return not (dollar and i == 0)
        if i == len(got):
            return False
        if level == "+":
            if dollar and i == 0:
                return False
        elif level != got[i]:
            return False
    return len(want) == len(got)


__all__ = ["matches"]
