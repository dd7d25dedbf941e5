"""examples/node-red-flow.json: a flow Node-RED can import, whose messages
are edged's: its function node (run with node, as Node-RED runs it) builds
an utterance edged accepts, and its mqtt nodes use edged's topics."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from edged.config import parse_config
from edged.messages import Limits, Utterance, decode_inbound
from edged.reply_to import reply_rules
from edged.topics import matches

FLOW = Path(__file__).resolve().parent.parent / "examples" / "node-red-flow.json"
STATUSES = {"executed", "not_recognized", "needs_confirmation", "refused", "error", "parsed"}


@pytest.fixture(scope="module")
def nodes() -> dict[str, dict[str, Any]]:
    flow = json.loads(FLOW.read_text())
    by_id = {n["id"]: n for n in flow}
    assert len(by_id) == len(flow), "node ids must be unique"
    return by_id


def of_type(nodes: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [n for n in nodes.values() if n["type"] == kind]


def test_the_flow_is_wired_to_nodes_that_exist(nodes: dict[str, dict[str, Any]]) -> None:
    (tab,) = of_type(nodes, "tab")
    (broker,) = of_type(nodes, "mqtt-broker")
    for node in nodes.values():
        if node["type"] in ("tab", "mqtt-broker"):
            continue
        assert node["z"] == tab["id"], node["id"]
        for output in node["wires"]:
            assert all(target in nodes for target in output), node["id"]
        if node["type"].startswith("mqtt"):
            assert node["broker"] == broker["id"]
    (switch,) = of_type(nodes, "switch")
    assert len(switch["wires"]) == switch["outputs"] == len(switch["rules"])
    assert switch["property"] == "payload.status"
    assert {r["v"] for r in switch["rules"] if "v" in r} <= STATUSES


def _run_function(node: dict[str, Any], msg: dict[str, Any]) -> Any:
    node_js = shutil.which("node")
    if node_js is None:
        pytest.skip("node is not installed: the function node's JavaScript cannot be run")
    script = (
        "const f = new Function('msg', 'node', process.argv[1]);\n"
        "const out = f(JSON.parse(process.argv[2]), {warn() {}, error() {}});\n"
        "process.stdout.write(JSON.stringify(out === undefined ? null : out));\n"
    )
    done = subprocess.run(
        [node_js, "-e", script, node["func"], json.dumps(msg)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_its_utterance_is_one_edged_accepts_and_answers_where_the_flow_listens(
    nodes: dict[str, dict[str, Any]],
) -> None:
    cfg = parse_config("")  # edged's defaults, as the flow expects them
    (inject,) = of_type(nodes, "inject")
    (function,) = of_type(nodes, "function")
    (out,) = of_type(nodes, "mqtt out")
    (listen,) = of_type(nodes, "mqtt in")
    site = next(p["v"] for p in inject["props"] if p["p"] == "site")
    msg = _run_function(function, {"payload": inject["payload"], "site": site, "_msgid": "m1"})
    assert msg["topic"] == out["topic"] and out["qos"] == "1"
    assert any(matches(f, out["topic"]) for f in cfg.topics.utterance)
    item = decode_inbound(
        out["topic"],
        json.dumps(msg["payload"]).encode(),
        Limits(),
        list(cfg.topics.utterance),
        reply_rules=reply_rules(cfg),
    )
    assert isinstance(item, Utterance), item
    assert (item.text, item.id, item.site) == ("turn on the kitchen light", "m1", "kitchen")
    assert item.reply_to == listen["topic"] and listen["datatype"] == "json"
    # Nothing said: nothing sent.
    assert _run_function(function, {"payload": "  ", "_msgid": "m2"}) is None
