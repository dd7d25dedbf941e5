"""The one topic matcher (edged.topics), held against paho's own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from edged.topics import matches

CASES = [
    # (filter, topic, matches)
    ("edged/+/#", "edged/kitchen/utterance", True),
    ("edged/+/#", "edged/kitchen", True),  # '#' matches its parent level too
    ("edged/+/#", "edged", False),  # '+' needs a level
    ("edged/+/utterance", "edged//utterance", True),  # an empty level is a level
    ("edged/+/utterance", "edged/a/b/utterance", False),
    ("edged/#", "edged", True),
    ("#", "$SYS/broker/uptime", False),  # '$' topics only match '$' filters
    ("+/broker/uptime", "$SYS/broker/uptime", False),
    ("$SYS/#", "$SYS/broker/uptime", True),
    ("hermes/nlu/query", "hermes/nlu/query", True),
    ("hermes/nlu/query", "hermes/nlu/query/x", False),
    ("a/b", "a/B", False),
]


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), CASES)
def test_known_cases(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected
    assert topic_matches_sub(topic_filter, topic) is expected


levels = st.sampled_from(["edged", "kitchen", "utterance", "", "$SYS", "a", "+", "#"])
topic_levels = st.sampled_from(["edged", "kitchen", "utterance", "", "$SYS", "a"])


@st.composite
def filters(draw: st.DrawFn) -> str:
    parts = draw(st.lists(levels.filter(lambda p: p != "#"), min_size=0, max_size=4))
    if draw(st.booleans()) or not parts:
        parts.append("#")
    return "/".join(parts)


@settings(max_examples=2_000, deadline=None)
@given(topic_filter=filters(), topic=st.lists(topic_levels, min_size=1, max_size=5).map("/".join))
def test_agrees_with_paho(topic_filter: str, topic: str) -> None:
    assert matches(topic_filter, topic) == topic_matches_sub(topic_filter, topic)
