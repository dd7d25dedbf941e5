"""The daemon's pipeline without a broker: the engine works on the next
message while the last one's publishes are in flight, yet acks go out in
arrival order, each after its own journal entry, and a repeated id acts once."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edged.config import Config, load_config
from edged.daemon import Daemon
from edged.engine import Outcome
from edged.journal import Journal
from edged.messages import ActionOut, ResultEvent, Utterance
from edged.pipeline import Request
from edged.transports._paho import coalesce as _coalesce
from edged.transports.mqtt import MqttReply

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

    def parse(self, item: Utterance) -> str:
        time.sleep(0.001)  # the model takes a moment, on a parser thread
        return f"parsed {item.id}"

    def handle(self, item: Utterance, now: float, parse: Any = None) -> Outcome:
        replay = False
        # Each utterance comes with its own parse, however the parsers overlapped.
        assert parse == f"parsed {item.id}"
        self.handled.append((item.id, replay))
        time.sleep(0.001)  # the engine takes a moment, on its thread
        result = ResultEvent(id=item.id, text=item.text, site=None, status="executed")
        command = ActionOut("lamp", "on", {}, f"cmnd/{item.id}/POWER", "ON")
        return Outcome(result, [] if replay else [command])

    def reword(self, result: ResultEvent) -> ResultEvent:
        # Sentences are the engine's (tests/test_engine_state.py); none here.
        return result

    def overloaded(self, item: Any, now: float) -> Outcome:  # pragma: no cover - not shed here
        raise AssertionError("nothing is shed in these tests")


class FakeLink:
    """The daemon's connection: a publish's PUBACK comes back after a random
    while, so they return out of order."""

    def __init__(self, journal: Journal, seed: int = 0) -> None:
        self.log: list[tuple[str, Any]] = []
        self.journal = journal
        self.rng = random.Random(seed)
        self.session = 0
        self.timeout = 10.0
        self.alive = True

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool = False
    ) -> asyncio.Future[int]:
        rid = topic.split("/")[1] if topic.startswith("cmnd/") else None
        if rid is not None:
            # A command goes out only after "sending" is in the journal.
            assert self.journal.state(f"id:{rid}") == "sending"
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()

        def puback() -> None:
            self.log.append(("publish", topic))
            if rid is None:
                self.log.append(("result", json.loads(payload)["id"]))
            fut.set_result(0)

        loop.call_later(self.rng.uniform(0, 0.005), puback)
        return fut

    def ack(self, mid: int, qos: int) -> None:
        self.log.append(("ack", mid))


def utterance(rid: str) -> Utterance:
    return Utterance("turn on the lamp", rid, None, None, None, "edged/utterance", time.time())


async def run_messages(
    cfg: Config, tmp_path: Path, ids: list[str]
) -> tuple[FakeEngine, FakeLink, Journal]:
    engine = FakeEngine()
    journal = Journal(tmp_path / "journal.db")
    daemon = Daemon(cfg, engine, journal)  # type: ignore[arg-type]
    client = FakeLink(journal)
    mqtt, pipeline = daemon.mqtt, daemon.pipeline
    mqtt._link = client  # type: ignore[assignment]
    mqtt.connected.set()
    worker = asyncio.create_task(pipeline.run())
    for mid, rid in enumerate(ids, start=1):
        item = utterance(rid)
        pipeline.put(Request(item, MqttReply(mqtt, item, None, mid, 1, client.session)))
    await asyncio.wait_for(pipeline.inbox.join(), timeout=30)
    worker.cancel()
    pipeline.pool.shutdown()
    pipeline.parse_pool.shutdown()
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
    # The copies were recognised as answered, not handled again, and each
    # still got its result: the first outcome, marked as a duplicate.
    assert engine.handled == [("same", False), ("other", False)]
    assert [mid for what, mid in client.log if what == "ack"] == [1, 2, 3, 4]
    assert sorted(x for what, x in client.log if what == "result") == ["other"] + ["same"] * 3


def _queued_stream(coalesce: bool, qos0_too: bool = False) -> tuple[int, bytes]:
    """What a paho client with two QoS 1 publishes and an ack queued writes,
    and how many packets it held just before writing."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)
    client._sock = ours
    client._state = mqtt._ConnectionState.MQTT_CS_CONNECTED
    client.on_socket_register_write = lambda *args: None  # held until loop_write
    client.publish("cmnd/lamp/POWER", b"ON", 1)
    client._send_puback(7)
    client.publish("edged/result", b'{"id": "1"}', 1)
    if qos0_too:
        client.publish("edged/state", b"x", 0)
    if coalesce:
        _coalesce(client)
    queued = len(client._out_packet)
    client.loop_write()
    assert not client.want_write()
    data = theirs.recv(65536)
    ours.close()
    theirs.close()
    return queued, data


def test_coalesced_writes_send_the_same_bytes_in_one_go() -> None:
    queued, plain = _queued_stream(coalesce=False)
    assert queued == 3
    queued, joined = _queued_stream(coalesce=True)
    assert queued == 1 and joined == plain
    # A QoS 0 publish (its completion is the write itself) is left alone.
    queued, _ = _queued_stream(coalesce=True, qos0_too=True)
    assert queued == 4
