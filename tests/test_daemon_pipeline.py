"""The daemon's pipeline without a broker: the engine works on the next
message while the last one's publishes are in flight, yet acks go out in
arrival order, each after its own journal entry, and a repeated id acts once."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from edged.config import Config, load_config
from edged.daemon import Daemon, _Inbound
from edged.engine import Outcome
from edged.journal import Journal
from edged.messages import ActionOut, ResultEvent, Utterance

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "home.yaml"


@pytest.fixture(scope="module")
def cfg() -> Config:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGED_MQTT_PASSWORD", "test")
        return load_config(EXAMPLE)


class FakeEngine:
    """Every utterance acts on one device; counts what it was asked."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, bool]] = []

    def handle(self, item: Utterance, now: float, replay: bool = False) -> Outcome:
        self.handled.append((item.id, replay))
        time.sleep(0.001)  # the engine takes a moment, on its thread
        result = ResultEvent(id=item.id, text=item.text, site=None, status="executed")
        command = ActionOut("lamp", "on", {}, f"cmnd/{item.id}/POWER", "ON")
        return Outcome(result, "edged/result", [] if replay else [command])

    def overloaded(self, item: Any, now: float) -> Outcome:  # pragma: no cover - not shed here
        raise AssertionError("nothing is shed in these tests")


class FakePaho:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def ack(self, mid: int, qos: int) -> None:
        self.log.append(("ack", mid))


class FakeClient:
    """publish() waits a random while, as PUBACKs come back out of order."""

    def __init__(self, journal: Journal, seed: int = 0) -> None:
        self.log: list[tuple[str, Any]] = []
        self._client = FakePaho(self.log)
        self.journal = journal
        self.rng = random.Random(seed)

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        rid = topic.split("/")[1] if topic.startswith("cmnd/") else None
        if rid is not None:
            # A command goes out only after "acted" is in the journal.
            assert self.journal.state(f"id:{rid}") == "acted"
        await asyncio.sleep(self.rng.uniform(0, 0.005))
        self.log.append(("publish", topic))
        if rid is None:
            self.log.append(("result", json.loads(payload)["id"]))


def utterance(rid: str) -> Utterance:
    return Utterance("turn on the lamp", rid, None, None, None, "edged/utterance", time.time())


async def run_messages(
    cfg: Config, tmp_path: Path, ids: list[str]
) -> tuple[FakeEngine, FakeClient, Journal]:
    engine = FakeEngine()
    journal = Journal(tmp_path / "journal.log")
    daemon = Daemon(cfg, engine, journal)  # type: ignore[arg-type]
    client = FakeClient(journal)
    daemon._client = client  # type: ignore[assignment]
    worker = asyncio.create_task(daemon._worker())
    for mid, rid in enumerate(ids, start=1):
        daemon.inbox.put_nowait(_Inbound(utterance(rid), mid, 1, daemon._session_no))
    await asyncio.wait_for(daemon.inbox.join(), timeout=30)
    worker.cancel()
    daemon.pool.shutdown()
    return engine, client, journal


def test_acks_in_arrival_order_after_the_answer(cfg: Config, tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(60)]
    engine, client, journal = asyncio.run(run_messages(cfg, tmp_path, ids))
    acks = [mid for what, mid in client.log if what == "ack"]
    assert acks == list(range(1, len(ids) + 1))
    for mid, rid in enumerate(ids, start=1):
        ack_at = client.log.index(("ack", mid))
        published = [
            i
            for i, entry in enumerate(client.log)
            if entry in (("result", rid), ("publish", f"cmnd/{rid}/POWER"))
        ]
        assert len(published) == 2 and max(published) < ack_at, rid
        assert journal.state(f"id:{rid}") == "answered"
    # Pipelined: some message was published after a later one was understood
    # (not asserted: that is timing), but each was understood exactly once.
    assert [h[0] for h in engine.handled] == ids


def test_a_repeated_id_acts_once(cfg: Config, tmp_path: Path) -> None:
    ids = ["same", "same", "other", "same"]
    engine, client, _ = asyncio.run(run_messages(cfg, tmp_path, ids))
    commands = [x for what, x in client.log if what == "publish" and str(x).startswith("cmnd/")]
    assert commands == ["cmnd/same/POWER", "cmnd/other/POWER"]
    # The copies were recognised as answered, not handled again.
    assert engine.handled == [("same", False), ("other", False)]
    assert [mid for what, mid in client.log if what == "ack"] == [1, 2, 3, 4]
