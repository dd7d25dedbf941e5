"""decode_inbound's shortcuts give what the full checks give."""

from __future__ import annotations

import json
import random

import pytest

from edged.messages import (
    InboundError,
    Limits,
    Utterance,
    _json_depth_ok,
    _json_depth_scan,
    decode_inbound,
    site_from_topic,
)

LIMITS = Limits()
PATTERNS = ["edged/utterance", "edged/+/utterance"]


def test_depth_check_matches_the_full_scan() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        raw = "".join(rng.choice('[]{}"\\a') for _ in range(rng.randint(0, 24)))
        limit = rng.randint(1, 8)
        assert _json_depth_ok(raw, limit) == _json_depth_scan(raw, limit), (raw, limit)


@pytest.mark.parametrize(("levels", "ok"), [(8, True), (9, False)])
def test_depth_limit_at_the_edge(levels: int, ok: bool) -> None:
    inner: object = "x"
    for _ in range(levels - 1):
        inner = {"a": inner}
    payload = json.dumps({"text": "lamp on", "extra": inner}).encode()
    item = decode_inbound("edged/utterance", payload, LIMITS, PATTERNS)
    assert isinstance(item, Utterance) is ok, item


def test_control_characters_become_spaces_and_runs_collapse() -> None:
    item = decode_inbound(
        "edged/utterance", "turn\x00on\tthe \u200blamp".encode(), LIMITS, PATTERNS
    )
    assert isinstance(item, Utterance)
    assert item.text == "turn on the lamp"


def test_ids_own_or_random() -> None:
    own = decode_inbound("edged/utterance", b'{"text": "lamp on", "id": 7}', LIMITS, PATTERNS)
    assert isinstance(own, Utterance) and own.id == "7" and own.has_own_id
    a = decode_inbound("edged/utterance", b"lamp on", LIMITS, PATTERNS)
    b = decode_inbound("edged/utterance", b"lamp on", LIMITS, PATTERNS)
    assert isinstance(a, Utterance) and isinstance(b, Utterance)
    assert not a.has_own_id and len(a.id) == 32 and a.id != b.id
    bad = decode_inbound("edged/utterance", b"{", LIMITS, PATTERNS)
    assert isinstance(bad, InboundError) and len(bad.id) == 32
    bad_field = decode_inbound("edged/utterance", b'{"text": 5, "id": "r9"}', LIMITS, PATTERNS)
    assert isinstance(bad_field, InboundError) and bad_field.id == "r9"


# -- issue 22: ids, the topic's site, timestamps, reply_to ------------------------------

NOW = 1_800_000_000.0


def _decode(payload: bytes, topic: str = "edged/utterance", rules=None):  # type: ignore[no-untyped-def]
    return decode_inbound(topic, payload, LIMITS, PATTERNS, now=NOW, reply_rules=rules)


@pytest.mark.parametrize(
    "raw_id",
    [
        b'"\\udfff1"',  # a lone surrogate
        b"7" * 5000,  # more digits than int() takes
        b'"a\\nb"',  # a newline: a forged journal or log line
        b'"' + b"i" * 257 + b'"',
        b"1.5",
        b"true",
        b"[1]",
    ],
)
def test_a_bad_id_is_replaced_and_answered(raw_id: bytes) -> None:
    item = _decode(b'{"text": "turn on the lamp", "id": ' + raw_id + b"}")
    assert isinstance(item, InboundError) and "invalid id" in item.error
    assert item.id.isprintable() and len(item.id) == 32
    json.dumps({"id": item.id, "error": item.error}, ensure_ascii=False).encode()


def test_integer_ids_of_any_size_are_ids() -> None:
    big = 10**200
    item = _decode(json.dumps({"text": "lamp on", "id": big}).encode())
    assert isinstance(item, Utterance) and item.id == str(big)


def test_lone_surrogates_elsewhere_are_replaced() -> None:
    item = _decode(b'{"text": "lamp \\ud800 on", "id": "s1"}')
    assert isinstance(item, Utterance)
    item.text.encode()


def test_the_topics_site_wins() -> None:
    item = _decode(b'{"text": "yes", "site": "hallway"}', topic="edged/kitchen/utterance")
    assert isinstance(item, InboundError) and "differs" in item.error
    assert item.site == "kitchen"
    same = _decode(b'{"text": "yes", "site": "kitchen"}', topic="edged/kitchen/utterance")
    assert isinstance(same, Utterance) and same.site == "kitchen"
    bare = _decode(b'{"text": "yes", "site": "hallway"}')
    assert isinstance(bare, Utterance) and bare.site == "hallway"


@pytest.mark.parametrize("ts", [b"NaN", b"Infinity", b"-Infinity", b"1e12", str(NOW + 60).encode()])
def test_odd_timestamps_are_errors(ts: bytes) -> None:
    item = _decode(b'{"text": "yes", "ts": ' + ts + b"}")
    assert isinstance(item, InboundError) and "ts" in item.error


def test_a_little_clock_skew_is_fine() -> None:
    item = _decode(b'{"text": "yes", "ts": ' + str(NOW + 2).encode() + b"}")
    assert isinstance(item, Utterance)


def test_reply_to_rules_from_the_config() -> None:
    from edged.config import load_config
    from edged.reply_to import reply_rules, reply_to_problem
    from tests.integration.conftest import HERE

    rules = reply_rules(load_config(HERE / "home.yaml"))
    assert reply_to_problem("edged/reply/hub", rules) is None
    for topic in [
        "zigbee2mqtt/Kitchen Ceiling/set",
        "zigbee2mqtt/bridge/request/device/remove",
        "edged/utterance",
        "edged/status",
        "homeassistant/sensor/edged/x/config",
        "hub/answers",
    ]:
        assert reply_to_problem(topic, rules) is not None, topic
    # A broad prefix still never reaches what edged listens on or commands.
    wide = type(rules)(("",), rules.forbidden)
    assert reply_to_problem("home/bedroom_fan/set", wide) is not None
    assert reply_to_problem("edged/kitchen/utterance", wide) is not None
    assert reply_to_problem("somewhere/else", wide) is None
    item = _decode(b'{"text": "lamp on", "id": "r", "reply_to": "cmnd/coffee/POWER"}', rules=rules)
    assert isinstance(item, InboundError) and item.reply_to is None  # answered on edged/result


@pytest.mark.parametrize(
    ("topic", "patterns", "site"),
    [
        ("edged/kitchen/utterance", PATTERNS, "kitchen"),
        ("edged/utterance", PATTERNS, None),
        ("edged//utterance", PATTERNS, None),  # an empty level names no site
        ("edged/kitchen/other", PATTERNS, None),
        ("edged/a/b/utterance", PATTERNS, None),
        ("other/topic", PATTERNS, None),
        # '#' matches the rest, and its parent level too (MQTT's rule)
        ("rooms/kitchen/say/now", ["rooms/+/#"], "kitchen"),
        ("rooms/kitchen", ["rooms/+/#"], "kitchen"),
        ("voice/anything/at/all", ["voice/#"], None),
        # a '$' topic only matches a pattern that starts with it
        ("$SYS/kitchen/utterance", ["+/kitchen/utterance", "#"], None),
        # the first pattern that matches decides
        ("edged/kitchen/utterance", ["edged/#", "edged/+/utterance"], None),
    ],
)
def test_site_from_topic(topic: str, patterns: list[str], site: str | None) -> None:
    assert site_from_topic(topic, patterns) == site


def test_the_topic_level_is_the_utterances_site() -> None:
    item = decode_inbound("rooms/kitchen/say", b"turn on the light", LIMITS, ["rooms/+/say"])
    assert isinstance(item, Utterance) and item.site == "kitchen"
