"""A French home through a real Mosquitto with the shipped French model
(models/edged-nlu-fr, issue 25): `language: fr` picks the model and the
French tables; a command acts with a French reply, chatter moves nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Broker, Probe
from tests.integration.conftest import DaemonProcess, say, start_home

REPO = Path(__file__).parent.parent.parent
MODEL_FR = REPO / "models" / "edged-nlu-fr"

HOME = """
language: fr
mqtt: {host: 127.0.0.1, client_id: edged-test-fr}
policy: {max_age_s: 30, confirm_timeout_s: 20, context_ttl_s: 120}
areas:
  - {id: cuisine, name: Cuisine}
  - {id: salon, name: Salon}
devices:
  - {id: lumiere_cuisine, name: Lumière de la cuisine, area: cuisine, kind: light,
     protocol: zigbee2mqtt, topic: zigbee2mqtt/LumiereCuisine}
  - {id: lampadaire, name: Lampadaire, area: salon, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Lampadaire}
"""


def rid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def french(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    d = start_home(broker.port, HOME, MODEL_FR, tmp_path_factory.mktemp("edged-fr"))
    yield d
    d.stop()


def test_eteins_la_lumiere_de_la_cuisine(french: DaemonProcess, broker: Broker) -> None:
    p = Probe(broker.port).connect()
    try:
        r = say(p, "éteins la lumière de la cuisine", rid())
        assert r["status"] == "executed", r
        assert r["intent"] == "HassTurnOff"
        assert [a["device"] for a in r["actions"]] == ["lumiere_cuisine"]
        msg = p.wait_for(lambda m: m.topic == "zigbee2mqtt/LumiereCuisine/set")[0]
        assert json.loads(msg.payload) == {"state": "OFF"}
        assert r["speech"], r
        assert not p.on("zigbee2mqtt/Lampadaire/set")
    finally:
        p.close()


def test_french_chatter_moves_nothing(french: DaemonProcess, broker: Broker) -> None:
    p = Probe(broker.port).connect()
    try:
        r = say(p, "quelle heure est-il", rid())
        assert r["status"] == "not_recognized", r
        assert r["actions"] == [] and r["speech"]
        assert not [m for m in p.messages if m.topic.startswith("zigbee2mqtt/")]
    finally:
        p.close()
