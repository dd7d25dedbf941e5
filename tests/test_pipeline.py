"""The transport seam: edged.pipeline driven by a transport written here,
in memory, with the real engine (the shipped model), a journal on disk and
the real ordering and acknowledgement. What the MQTT transport adds is
proven through Mosquitto (tests/integration), Wyoming's in test_wyoming.py."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from edged.config import Config, parse_config
from edged.engine import Engine, Outcome
from edged.journal import Journal
from edged.messages import ActionOut, Limits, ResultEvent, Utterance, decode_inbound
from edged.nlu.types import Parse, Slot
from edged.pipeline import Abandoned, Answer, Pipeline, Reply, Request

HOME = Path(__file__).parent / "integration" / "home.yaml"
LIMITS = Limits()


@pytest.fixture(scope="module")
def cfg() -> Config:
    return parse_config(HOME.read_text())


@pytest.fixture(scope="module")
def engine(cfg: Config) -> Engine:
    return Engine.from_config(cfg)


@dataclass
class Wire:
    """Everything the in-memory transport saw, in order."""

    events: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, list[tuple[Answer, Outcome]]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))


class MemoryReply(Reply):
    """A request of the in-memory transport: its answer and its ack go on the wire log."""

    def __init__(self, wire: Wire, name: str) -> None:
        self.wire, self.name = wire, name

    async def send(self, outcome: Outcome, how: Answer) -> None:
        # A peer acknowledges after a while, so sends finish out of order.
        await asyncio.sleep(self.wire.rng.uniform(0, 0.02))
        self.wire.answers.setdefault(self.name, []).append((how, outcome))
        self.wire.events.append(("answer", self.name))

    def ack(self) -> None:
        self.wire.events.append(("ack", self.name))

    def dropped(self) -> None:
        self.wire.events.append(("dropped", self.name))


class MemoryExecutor:
    """Carries out device commands by writing them down (the broker's 'accepted' code)."""

    def __init__(self, wire: Wire, journal: Journal, give_up: bool = False) -> None:
        self.wire, self.journal, self.give_up = wire, journal, give_up

    async def execute(self, commands: list[ActionOut], received_at: float) -> list[int | None]:
        await asyncio.sleep(0)
        if self.give_up:
            raise Abandoned  # stopping while the devices are unreachable
        for c in commands:
            self.wire.events.append(("command", c.topic))
        return [0] * len(commands)


def said(text: str, rid: str | None = None, site: str | None = None) -> Utterance:
    body = {"text": text, **({"id": rid} if rid else {}), **({"site": site} if site else {})}
    item = decode_inbound("memory", json.dumps(body).encode(), LIMITS, [])
    assert isinstance(item, Utterance)
    return item


async def run(
    cfg: Config,
    engine: Engine,
    journal: Journal,
    requests: list[tuple[str, Utterance, bool]],
    give_up: bool = False,
) -> Wire:
    """Put (name, utterance, redelivered) requests in, in order; wait until done."""
    wire = Wire()
    pipeline = Pipeline(cfg, engine, journal, MemoryExecutor(wire, journal, give_up))
    worker = asyncio.create_task(pipeline.run())
    try:
        for name, item, redelivered in requests:
            assert pipeline.put(Request(item, MemoryReply(wire, name), redelivered))
        await asyncio.wait_for(pipeline.inbox.join(), timeout=60)
    finally:
        worker.cancel()
        pipeline.close()
    return wire


def test_requests_are_answered_then_acked_in_arrival_order(
    cfg: Config, engine: Engine, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.db")
    texts = [
        "turn on the reading lamp",
        "purple monkey dishwasher",
        "switch off the coffee maker",
        "turn off the reading lamp",
        "turn on the kitchen ceiling light",
    ]
    requests = [(f"r{i}", said(t, f"r{i}"), False) for i, t in enumerate(texts)]
    wire = asyncio.run(run(cfg, engine, journal, requests))
    names = [name for name, _, _ in requests]
    assert [n for what, n in wire.events if what == "ack"] == names
    for name in names:
        # One answer each, before its ack; commands before the answer.
        assert wire.events.count(("answer", name)) == 1
        assert wire.events.index(("answer", name)) < wire.events.index(("ack", name))
        assert journal.state(f"id:{name}") == "answered"
    statuses = [wire.answers[n][0][1].result.status for n in names]
    assert statuses == ["executed", "not_recognized", "executed", "executed", "executed"]
    commands = [topic for what, topic in wire.events if what == "command"]
    assert commands == [
        "cmnd/reading_lamp/POWER",
        "cmnd/coffee/POWER",
        "cmnd/reading_lamp/POWER",
        "zigbee2mqtt/Kitchen Ceiling/set",
    ]
    first_command = wire.events.index(("command", "cmnd/reading_lamp/POWER"))
    assert first_command < wire.events.index(("answer", "r0"))
    # Every answer carries its sentence, from the engine, in no wire format.
    assert wire.answers["r2"][0][1].result.speech == "Turned off the Coffee Maker."


def test_a_repeated_id_acts_once_and_is_answered_from_the_journal(
    cfg: Config, engine: Engine, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.db")
    requests = [
        ("first", said("turn on the reading lamp", "same"), False),
        ("again", said("turn on the reading lamp", "same"), False),
    ]
    wire = asyncio.run(run(cfg, engine, journal, requests))
    assert [t for what, t in wire.events if what == "command"] == ["cmnd/reading_lamp/POWER"]
    ((how1, first),) = wire.answers["first"]
    ((how2, again),) = wire.answers["again"]
    assert (how1, how2) == (Answer.NEW, Answer.DUPLICATE)
    assert again.commands == [] and again.result.status == first.result.status == "executed"
    assert [n for what, n in wire.events if what == "ack"] == ["first", "again"]


def test_a_request_interrupted_before_its_answer_is_resumed_not_redone(
    cfg: Config, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    item = said("turn on the reading lamp", "cut")
    # The first process gives up mid-delivery (stopping with no broker): no
    # answer, no ack, and the journal says its command was being sent.
    journal = Journal(path)
    wire = asyncio.run(run(cfg, engine, journal, [("cut", item, False)], give_up=True))
    assert wire.events == [("dropped", "cut")]
    assert journal.state("id:cut") == "sending"
    journal.close()
    # The next one gets the same request again from its sender.
    journal = Journal(path)
    wire = asyncio.run(run(cfg, engine, journal, [("cut", item, True)]))
    ((how, outcome),) = wire.answers["cut"]
    assert how is Answer.RESUMED
    assert [t for what, t in wire.events if what == "command"] == ["cmnd/reading_lamp/POWER"]
    assert "sent again (idempotent)" in (outcome.result.error or "")
    # The parse came back from the journal, for a transport that answers with it.
    assert outcome.parse is not None and outcome.parse.intent == "HassTurnOn"
    assert [n for what, n in wire.events if what == "ack"] == ["cut"]
    assert journal.state("id:cut") == "answered"


def test_a_sheddable_request_beyond_the_inbox_is_answered_overloaded_and_never_acked(
    engine: Engine, tmp_path: Path
) -> None:
    small = parse_config(yaml.safe_dump({**yaml.safe_load(HOME.read_text()),
                                         "limits": {"inbox_size": 1}}))  # fmt: skip

    async def main() -> Wire:
        wire = Wire()
        journal = Journal(tmp_path / "journal.db")
        pipeline = Pipeline(small, engine, journal, MemoryExecutor(wire, journal))
        # No worker yet: the first fills the inbox, the second is shed.
        assert pipeline.put(Request(said("turn on the reading lamp"), MemoryReply(wire, "a")), True)
        assert not pipeline.put(Request(said("lights off"), MemoryReply(wire, "b")), True)
        worker = asyncio.create_task(pipeline.run())
        await asyncio.wait_for(pipeline.inbox.join(), timeout=60)
        while "b" not in wire.answers:
            await asyncio.sleep(0.01)
        worker.cancel()
        pipeline.close()
        assert pipeline.stats.shed == 1
        return wire

    wire = asyncio.run(main())
    ((how, outcome),) = wire.answers["b"]
    assert how is Answer.SHED and outcome.result.status == "error"
    assert "overloaded" in (outcome.result.error or "") and outcome.result.speech
    assert ("ack", "b") not in wire.events and ("ack", "a") in wire.events


def test_an_outcome_survives_the_journal() -> None:
    parse = Parse("dim it", "HassLightSet", 0.91, (Slot("brightness", "half", 4, 8, 50, 0.8),))
    outcome = Outcome(
        parse=parse,
        result=ResultEvent(
            id="x", text="dim it", site="den", status="executed", intent="HassLightSet"
        ),
        commands=[ActionOut("lamp", "brightness", {"brightness": 50}, "cmnd/lamp/Dimmer", "50")],
    )
    back = Outcome.from_record(json.loads(json.dumps(outcome.to_record())), outcome.result)
    assert back.result.to_dict() == outcome.result.to_dict()
    assert back.commands == outcome.commands
    assert back.parse == parse


def test_the_engine_and_the_pipeline_load_no_transport_library() -> None:
    code = (
        "import sys, edged.engine, edged.pipeline\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('paho', 'aiomqtt', 'wyoming'))\n"
        "print(' '.join(bad))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == ""
    # ... while a transport does (so the check above can tell).
    out = subprocess.run(
        [sys.executable, "-c", code.replace("edged.pipeline", "edged.transports.mqtt")],
        capture_output=True,
        text=True,
        cwd=root,
        check=True,
    )
    assert {"paho", "aiomqtt"} <= {m.split(".")[0] for m in out.stdout.split()}


def test_stale_requests_are_answered_not_acted_on(
    cfg: Config, engine: Engine, tmp_path: Path
) -> None:
    old = said("turn on the reading lamp", "old")
    old = Utterance(
        old.text, old.id, old.site, time.time() - 3600, None, old.topic, old.received_at
    )
    wire = asyncio.run(run(cfg, engine, Journal(tmp_path / "j.db"), [("old", old, False)]))
    ((_, outcome),) = wire.answers["old"]
    assert [t for what, t in wire.events if what == "command"] == []
    assert outcome.result.status != "executed"
