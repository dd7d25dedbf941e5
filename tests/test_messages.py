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
