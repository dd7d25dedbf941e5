"""edged.transports.wyoming over real TCP, spoken to with the wyoming
library's own AsyncTcpClient as Home Assistant does, with the shipped model
and a real engine behind it (the daemon's pipeline is in
tests/integration/test_state_mqtt.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info, SelectProgram
from wyoming.intent import Intent, NotRecognized

from edged.config import WyomingConfig, parse_config
from edged.engine import Engine
from edged.messages import Limits, ResultEvent, decode_inbound
from edged.nlu.types import Parse
from edged.transports.wyoming import HANDLE_PROGRAM, INTENT_PROGRAM, WyomingService
from tests.broker import free_port

HOME = Path(__file__).parent / "integration" / "home.yaml"


@pytest.fixture(scope="module")
def engine() -> Engine:
    cfg = yaml.safe_load(HOME.read_text())
    return Engine.from_config(parse_config(yaml.safe_dump(cfg)))


def serve(
    engine: Engine, program: str, body: Callable[[int], Awaitable[None]]
) -> list[ResultEvent]:
    """Run `body(port)` against a service on a free port; the results the
    engine produced, in order."""
    results: list[ResultEvent] = []
    lock = threading.Lock()  # the engine is used from one thread at a time

    def run(text: str, site: str | None) -> ResultEvent:
        item = decode_inbound("wyoming", json.dumps({"text": text, "site": site}).encode(),
                              Limits(), [])  # fmt: skip
        with lock:
            result = engine.handle(item, time.time()).result
        results.append(result)
        return result

    async def recognise(text: str) -> Parse:
        return await asyncio.to_thread(engine.model.parse, text)

    async def handle(text: str, site: str | None) -> ResultEvent:
        return await asyncio.to_thread(run, text, site)

    async def main() -> None:
        port = free_port()
        cfg = WyomingConfig(enabled=True, host="127.0.0.1", port=port, program=program)  # type: ignore[arg-type]
        service = WyomingService(cfg, recognise, handle)
        await service.start()
        try:
            await asyncio.wait_for(body(port), timeout=30)
        finally:
            await service.stop()

    asyncio.run(main())
    return results


async def ask(port: int, *events: Event) -> Event | None:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        return await client.read_event()


def transcript(text: str, **context: Any) -> Event:
    ctx = {"conversation_id": "c1", **context}
    return Transcript(text, context=ctx, language="en").event()


def test_describe_announces_both_programs(engine: Engine) -> None:
    async def body(port: int) -> None:
        event = await ask(port, Describe().event())
        assert event is not None and Info.is_type(event.type)
        info = Info.from_event(event)
        assert [p.name for p in info.intent] == [INTENT_PROGRAM]
        assert [p.name for p in info.handle] == [HANDLE_PROGRAM]
        assert info.handle[0].supports_home_control and info.handle[0].installed
        assert info.intent[0].models[0].languages == ["en"]

    serve(engine, "handle", body)


def test_intent_round_trip_gives_home_assistants_names(engine: Engine) -> None:
    async def body(port: int) -> None:
        event = await ask(port, transcript("turn off the kitchen ceiling light"))
        assert event is not None and Intent.is_type(event.type), event
        intent = Intent.from_event(event)
        assert intent.name == "HassTurnOff"
        assert {e.name: e.value for e in intent.entities}.get("name") == "kitchen ceiling light"
        assert intent.context == {"conversation_id": "c1"}  # handed back as it came

    results = serve(engine, "intent", body)
    assert results == []  # recognised only: nothing was handled or sent


def test_handle_round_trip_says_what_was_done(engine: Engine) -> None:
    async def body(port: int) -> None:
        event = await ask(port, transcript("switch off the coffee maker", satellite_id="kitchen"))
        assert event is not None and Handled.is_type(event.type), event
        handled = Handled.from_event(event)
        assert handled.text == "Turned off the Coffee Maker."
        assert handled.context == {"conversation_id": "c1", "satellite_id": "kitchen"}

    results = serve(engine, "handle", body)
    assert [(r.status, r.site, [a.topic for a in r.actions]) for r in results] == [
        ("executed", "kitchen", ["cmnd/coffee/POWER"])
    ]


def test_select_program_picks_per_connection(engine: Engine) -> None:
    async def body(port: int) -> None:
        event = await ask(
            port, SelectProgram(INTENT_PROGRAM).event(), transcript("turn on the reading lamp")
        )
        assert event is not None and Intent.is_type(event.type), event
        event = await ask(
            port, SelectProgram(HANDLE_PROGRAM).event(), transcript("turn on the reading lamp")
        )
        assert event is not None and Handled.is_type(event.type), event
        assert Handled.from_event(event).text == "Turned on the Reading Lamp."
        event = await ask(port, SelectProgram("nope").event())
        assert event is not None and Error.is_type(event.type)

    serve(engine, "intent", body)


def test_not_recognised(engine: Engine) -> None:
    async def intent_side(port: int) -> None:
        event = await ask(port, transcript("purple monkey dishwasher"))
        assert event is not None and NotRecognized.is_type(event.type), event
        assert NotRecognized.from_event(event).text == "Sorry, I couldn't understand that."

    serve(engine, "intent", intent_side)

    async def handle_side(port: int) -> None:
        event = await ask(port, transcript("purple monkey dishwasher"))
        assert event is not None and NotHandled.is_type(event.type), event
        assert NotHandled.from_event(event).text == "Sorry, I couldn't understand that."

    results = serve(engine, "handle", handle_side)
    assert [r.status for r in results] == ["not_recognized"]


def test_malformed_frames_are_answered_and_the_server_lives_on(engine: Engine) -> None:
    async def raw(port: int, data: bytes) -> list[dict[str, Any]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await writer.drain()
        lines = []
        while line := await reader.readline():  # until the server closes
            lines.append(json.loads(line))
            n = lines[-1].get("data_length") or 0
            if n:
                lines[-1]["data"] = json.loads(await reader.readexactly(n))
        writer.close()
        return lines

    async def body(port: int) -> None:
        for frame in (b"this is not json\n", b'{"data": {"text": "hi"}}\n', b"[1, 2]\n"):
            answers = await raw(port, frame)
            assert [a["type"] for a in answers] == ["error"], (frame, answers)
            assert answers[0]["data"]["text"].startswith("malformed frame")
        # A known event with a wrong field: an error, and the connection stays usable.
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Event("transcript", {"text": 42}))
            event = await client.read_event()
            assert event is not None and Error.is_type(event.type)
            await client.write_event(Event("transcript", {}))
            event = await client.read_event()
            assert event is not None and Error.is_type(event.type)
            await client.write_event(Event("audio-chunk", {"rate": 16000}))  # not ours: dropped
            await client.write_event(transcript("turn on the reading lamp"))
            event = await client.read_event()
            assert event is not None and Handled.is_type(event.type), event
        # Still serving new clients.
        event = await ask(port, Describe().event())
        assert event is not None and Info.is_type(event.type)

    serve(engine, "handle", body)


def test_several_clients_at_once(engine: Engine) -> None:
    texts = ["turn on the reading lamp", "turn off the reading lamp", "switch on the coffee maker"]

    async def body(port: int) -> None:
        clients = [AsyncTcpClient("127.0.0.1", port) for _ in range(6)]
        for c in clients:
            await c.connect()
        try:
            # All connected before any asks: none waits for another to close.
            for i, c in enumerate(clients):
                await c.write_event(transcript(texts[i % 3]))
            events = await asyncio.gather(*(c.read_event() for c in clients))
        finally:
            for c in clients:
                await c.disconnect()
        assert all(e is not None and Handled.is_type(e.type) for e in events), events
        said = [Handled.from_event(e).text for e in events if e is not None]
        assert said[0] == "Turned on the Reading Lamp." and said[2] == "Turned on the Coffee Maker."

    results = serve(engine, "handle", body)
    assert len(results) == 6 and all(r.status == "executed" for r in results)


def test_a_failure_behind_the_service_is_an_error_event_not_a_dead_server(engine: Engine) -> None:
    async def broken(text: str) -> Parse:
        raise RuntimeError("model gone")

    async def main() -> None:
        port = free_port()
        cfg = WyomingConfig(enabled=True, host="127.0.0.1", port=port, program="intent")
        service = WyomingService(cfg, broken, lambda text, site: asyncio.sleep(0))  # type: ignore[arg-type,return-value]
        await service.start()
        try:
            event = await ask(port, transcript("turn on the reading lamp"))
            assert event is not None and Error.is_type(event.type)
            assert Error.from_event(event).text == "internal error: RuntimeError"
            event = await ask(port, Describe().event())
            assert event is not None and Info.is_type(event.type)
        finally:
            await service.stop()

    asyncio.run(main())


# --- on the pipeline, and advertised over zeroconf ---------------------------------


def _on_pipeline(engine: Engine, body: Callable[[int], Awaitable[None]], **wyoming: Any) -> None:
    """`body(port)` against WyomingTransport on a real pipeline (no broker:
    results are not announced elsewhere)."""
    from edged.pipeline import Pipeline
    from edged.transports.wyoming import WyomingTransport

    class Devices:
        async def execute(self, commands: list[Any], received_at: float) -> list[int | None]:
            return [0] * len(commands)

    async def main() -> None:
        port = free_port()
        raw = yaml.safe_load(HOME.read_text())
        raw["wyoming"] = {"enabled": True, "host": "127.0.0.1", "port": port, **wyoming}
        pipeline = Pipeline(parse_config(yaml.safe_dump(raw)), engine, executor=Devices())
        transport = WyomingTransport(pipeline.cfg, pipeline, Limits())
        worker = asyncio.create_task(pipeline.run())
        await transport.start()
        try:
            await asyncio.wait_for(body(port), timeout=30)
        finally:
            await transport.stop()
            worker.cancel()
            pipeline.close()

    asyncio.run(main())


def test_handle_goes_through_the_pipeline(engine: Engine) -> None:
    async def body(port: int) -> None:
        event = await ask(port, transcript("switch on the coffee maker", satellite_id="kitchen"))
        assert event is not None and Handled.is_type(event.type), event
        assert Handled.from_event(event).text == "Turned on the Coffee Maker."

    _on_pipeline(engine, body, zeroconf=False)


def test_without_the_zeroconf_package_it_says_so_and_serves(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "zeroconf", None)  # import zeroconf fails
    monkeypatch.setitem(sys.modules, "zeroconf.asyncio", None)

    async def body(port: int) -> None:
        event = await ask(port, Describe().event())
        assert event is not None and Info.is_type(event.type)

    with caplog.at_level("WARNING", logger="edged.wyoming"):
        _on_pipeline(engine, body)
    assert any(
        "not advertised over zeroconf" in r.getMessage() and "zeroconf package" in r.getMessage()
        for r in caplog.records
    )


def test_advertised_as_home_assistant_looks_for_it(engine: Engine) -> None:
    """Browsed with zeroconf's own browser on the loopback interface only."""
    pytest.importorskip("zeroconf")
    from zeroconf import ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    from edged.transports.wyoming import SERVICE_TYPE

    async def body(port: int) -> None:
        found: asyncio.Queue[str] = asyncio.Queue()

        def seen(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
            if state_change is ServiceStateChange.Added:
                found.put_nowait(name)

        zc = AsyncZeroconf(interfaces=["127.0.0.1"])
        browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[seen])
        try:
            name = await asyncio.wait_for(found.get(), timeout=20)
            assert name.endswith("." + SERVICE_TYPE) and name.startswith("edged-test")
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            assert await info.async_request(zc.zeroconf, 5000)
            assert info.port == port
            assert "127.0.0.1" in info.parsed_addresses()
            # What Home Assistant does next: connect there and describe.
            event = await ask(port, Describe().event())
            assert event is not None and Info.is_type(event.type)
        finally:
            await browser.async_cancel()
            await zc.async_close()

    _on_pipeline(engine, body)
