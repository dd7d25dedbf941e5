"""A German home through a real Mosquitto with the shipped German model
(models/edged-nlu-de, issue 25): `language: de` picks the model and the
German tables; commands act, the reply is German, a lock waits for "ja"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Broker, Probe
from tests.integration.conftest import DaemonProcess, result_for, say, start_home

REPO = Path(__file__).parent.parent.parent
MODEL_DE = REPO / "models" / "edged-nlu-de"

HOME = """
language: de
mqtt: {host: 127.0.0.1, client_id: edged-test-de}
policy: {max_age_s: 30, confirm_timeout_s: 20, context_ttl_s: 120}
areas:
  - {id: kueche, name: Küche}
  - {id: flur, name: Flur}
  - {id: wohnzimmer, name: Wohnzimmer}
devices:
  - {id: kuechenlicht, name: Küchenlicht, area: kueche, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Kuechenlicht}
  - {id: stehlampe, name: Stehlampe, area: wohnzimmer, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Stehlampe}
  - {id: haustuer, name: Haustür, area: flur, kind: lock, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Haustuer}
"""


def rid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def german(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    d = start_home(broker.port, HOME, MODEL_DE, tmp_path_factory.mktemp("edged-de"))
    yield d
    d.stop()


def test_schalte_das_licht_in_der_kueche_aus(german: DaemonProcess, broker: Broker) -> None:
    p = Probe(broker.port).connect()
    try:
        r = say(p, "schalte das Licht in der Küche aus", rid())
        assert r["status"] == "executed", r
        assert r["intent"] == "HassTurnOff"
        assert [a["device"] for a in r["actions"]] == ["kuechenlicht"]
        msg = p.wait_for(lambda m: m.topic == "zigbee2mqtt/Kuechenlicht/set")[0]
        assert json.loads(msg.payload) == {"state": "OFF"}
        assert r["speech"] and "Küchenlicht" in r["speech"], r["speech"]
        assert not p.on("zigbee2mqtt/Stehlampe/set")
    finally:
        p.close()


def test_german_chatter_moves_nothing(german: DaemonProcess, broker: Broker) -> None:
    p = Probe(broker.port).connect()
    try:
        r = say(p, "wie spät ist es", rid())
        assert r["status"] == "not_recognized", r
        assert r["actions"] == [] and r["speech"]
        assert not [m for m in p.messages if m.topic.startswith("zigbee2mqtt/")]
    finally:
        p.close()


def test_unlock_waits_for_ja(german: DaemonProcess, broker: Broker) -> None:
    p = Probe(broker.port).connect()
    try:
        r = say(p, "schließ die Haustür auf", rid(), site="flur")
        assert r["status"] == "needs_confirmation", r
        assert not p.on("zigbee2mqtt/Haustuer/set")
        yes = rid()
        p.publish("edged/utterance", json.dumps({"text": "ja", "id": yes, "site": "flur"}))
        r2 = result_for(p, yes)
        assert r2["status"] == "executed", r2
        msg = p.wait_for(lambda m: m.topic == "zigbee2mqtt/Haustuer/set")[0]
        assert json.loads(msg.payload) == {"state": "UNLOCK"}
    finally:
        p.close()
