"""Importing a 300-device home from the broker: build time, start-up, memory.

    python bench/import_home.py [--model DIR] [--size 300] [--runs 5]

The 300-device home of bench/hassil_compare.py, told the way the broker
would tell it: its Zigbee2MQTT and Tasmota devices in one Zigbee2MQTT
`bridge/devices` list (with `exposes` per kind, half of them named by a
`area/name` path), the others as Home Assistant discovery configs (`~`,
abbreviations, `suggested_area`); kinds edged has no import for (media
players, vacuums) become discovered switches, so all `size` devices arrive.

  1. build: every message folded in (edged.home.importer.apply_message) and
     the Home built (merge_home + Home.from_config), in process, `runs` times.
  2. start-up: `edged run` with only `mqtt:` and `import:` against a broker
     holding those retained messages, process start -> `online`, and -> the
     first utterance answered through an imported device; RSS once online.
     The same home written as YAML is the baseline. `import.settle_s` (how
     long start-up waits for the retained messages to stop) is part of the
     figure and reported beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for p in (str(REPO), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import e2e  # noqa: E402
import hassil_compare  # noqa: E402
import memory  # noqa: E402
import yaml  # noqa: E402
from benchstats import pct  # noqa: E402

SETTLE_S = 0.5  # edged's default import.settle_s

_STATE = {"type": "binary", "name": "state", "property": "state", "access": 7}
_EXPOSES: dict[str, list[dict[str, Any]]] = {
    "light": [
        {
            "type": "light",
            "features": [
                {**_STATE, "value_on": "ON", "value_off": "OFF"},
                {"type": "numeric", "name": "brightness", "property": "brightness", "access": 7},
                {
                    "type": "numeric",
                    "name": "color_temp",
                    "property": "color_temp",
                    "access": 7,
                    "value_min": 153,
                    "value_max": 500,
                },
            ],
        }
    ],
    "switch": [{"type": "switch", "features": [_STATE]}],
    "cover": [
        {
            "type": "cover",
            "features": [
                {"type": "enum", "name": "state", "property": "state", "access": 3},
                {"type": "numeric", "name": "position", "property": "position", "access": 7},
            ],
        }
    ],
    "lock": [{"type": "lock", "features": [{**_STATE, "value_on": "LOCK"}]}],
    "fan": [
        {
            "type": "fan",
            "features": [{**_STATE, "property": "fan_state"}],
        }
    ],
    "climate": [
        {
            "type": "climate",
            "features": [
                {
                    "type": "numeric",
                    "name": "occupied_heating_setpoint",
                    "property": "occupied_heating_setpoint",
                    "access": 7,
                    "value_min": 5,
                    "value_max": 30,
                },
                {
                    "type": "enum",
                    "name": "system_mode",
                    "property": "system_mode",
                    "access": 7,
                    "values": ["off", "heat"],
                },
            ],
        }
    ],
    "sensor": [{"type": "numeric", "name": "temperature", "property": "temperature", "access": 1}],
}
_HA_COMPONENT = {"light": "light", "switch": "switch", "cover": "cover", "lock": "lock"}
_HA_COMPONENT |= {"fan": "fan", "climate": "climate", "sensor": "sensor"}


def import_messages(size: int = 300) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The retained messages that describe the home, and the home itself."""
    home = hassil_compare.generate_home(size)
    area_names = {a["id"]: a.get("name") or a["id"].replace("_", " ") for a in home["areas"]}
    bridge: list[dict[str, Any]] = [
        {"ieee_address": "0x00", "type": "Coordinator", "friendly_name": "Coordinator"}
    ]
    messages: list[tuple[str, str]] = []
    for i, d in enumerate(home["devices"]):
        kind, area = d["kind"], area_names.get(d.get("area") or "", "")
        if d["protocol"] in ("zigbee2mqtt", "tasmota") and kind in _EXPOSES:
            name = d["name"]
            if i % 2 and area and name.lower().startswith(area.lower() + " "):
                name = f"{area}/{name[len(area) + 1 :]}"
            bridge.append(
                {
                    "ieee_address": f"0x{i:016x}",
                    "type": "Router",
                    "friendly_name": name,
                    "supported": True,
                    "disabled": False,
                    "definition": {"model": "bench", "vendor": "bench", "exposes": _EXPOSES[kind]},
                }
            )
            continue
        component = _HA_COMPONENT.get(kind, "switch")
        config: dict[str, Any] = {
            "~": f"home/{d['id']}",
            "name": d["name"],
            "uniq_id": d["id"],
            "stat_t": "~/state",
            "dev": {"ids": d["id"], "sa": area},
        }
        if component == "light":
            config |= {"schema": "json", "cmd_t": "~/set", "brightness": True}
        elif component == "climate":
            config |= {"temp_cmd_t": "~/target/set", "mode_cmd_t": "~/mode/set"}
        elif component != "sensor":
            config["cmd_t"] = "~/set"
        messages.append((f"homeassistant/{component}/{d['id']}/config", json.dumps(config)))
    return [("zigbee2mqtt/bridge/devices", json.dumps(bridge)), *messages], home


IMPORT_CFG = {"zigbee2mqtt": {"base_topic": "zigbee2mqtt"}, "homeassistant": {}}


def measure_build(messages: list[tuple[str, str]], runs: int) -> dict[str, Any]:
    from edged.config import parse_config
    from edged.home.importer import ImportState, apply_message, build_home

    cfg = parse_config(yaml.safe_dump({"import": IMPORT_CFG}))
    folds, builds, totals = [], [], []
    devices = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        state = ImportState()
        for topic, payload in messages:
            state, _ = apply_message(state, cfg.import_, topic, payload.encode())
        t1 = time.perf_counter()
        _, home = build_home(cfg, state.devices())
        t2 = time.perf_counter()
        folds.append((t1 - t0) * 1e3)
        builds.append((t2 - t1) * 1e3)
        totals.append((t2 - t0) * 1e3)
        devices = len(home.devices)

    def stat(xs: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(xs), 2), "max_ms": round(max(xs), 2)}

    return {
        "devices": devices,
        "messages": len(messages),
        "runs": runs,
        "fold_messages": stat(folds),
        "build_home": stat(builds),
        "total": stat(totals),
        "total_p99_ms": round(pct(totals, 0.99), 2),
    }


def _daemon_config(port: int, model_dir: Path | None, status: str, tag: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"edged-import-{tag}"},
        "topics": {"status": status},
        "import": IMPORT_CFG,
    }
    if model_dir is not None:
        cfg["nlu"] = {"model_dir": str(model_dir)}
    return cfg


class _ImportDaemon(e2e.Daemon):
    """e2e.Daemon with a config of `mqtt:` and `import:` only."""

    def __init__(self, port: int, workdir: Path, model_dir: Path | None) -> None:
        super().__init__(port, workdir, model_dir)
        tag = uuid.uuid4().hex[:8]
        self.config = _daemon_config(port, model_dir, self.status_topic, tag)
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))


def measure_startup(
    port: int, workdir: Path, model_dir: Path | None, home: dict[str, Any], runs: int
) -> dict[str, Any]:
    """Start each daemon `runs` times: imported vs the same home in YAML."""
    client = e2e.BenchClient(port, ("bench/+/status", "edged/result")).connect()
    out: dict[str, Any] = {}
    try:
        for label in ("import", "yaml"):
            online, ready, rss = [], [], []
            for _ in range(runs):
                d = (
                    _ImportDaemon(port, workdir, model_dir)
                    if label == "import"
                    else e2e.Daemon(port, workdir, model_dir, home)
                ).start()
                try:
                    online.append(d.wait_online(client))
                    ready.append(d.wait_ready(client))
                    rss.append(memory.rss_mb(d.pid))
                    if label == "import":
                        log = d.output()
                        if f"home: {len(home['devices'])} devices" not in log:
                            raise RuntimeError(
                                "the import did not bring every device:\n" + log[-2000:]
                            )
                finally:
                    d.stop()
            out[label] = {
                "online_s": round(statistics.median(online), 3),
                "online_runs_s": [round(t, 3) for t in online],
                "first_result_s": round(statistics.median(ready), 3),
                "rss_mb": round(statistics.median(rss), 1),
                "rss_runs_mb": [round(x, 1) for x in rss],
            }
    finally:
        client.close()
    out["settle_s"] = SETTLE_S
    out["import_cost_s"] = round(out["import"]["online_s"] - out["yaml"]["online_s"], 3)
    out["import_rss_cost_mb"] = round(out["import"]["rss_mb"] - out["yaml"]["rss_mb"], 1)
    return out


def run(model_dir: Path | None, size: int, runs: int, workdir: Path) -> dict[str, Any]:
    messages, home = import_messages(size)
    # The build is cheap: more runs, so its p99 means something.
    result: dict[str, Any] = {"size": size, "build": measure_build(messages, max(runs * 4, 20))}
    with e2e.running_broker(workdir) as broker:
        pub = e2e.BenchClient(broker.port, ("bench/none",)).connect()
        try:
            for topic, payload in messages:
                pub.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
        finally:
            pub.close()
        result["startup"] = measure_startup(broker.port, workdir, model_dir, home, runs)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--size", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edged-import-bench-") as tmp:
        print(json.dumps(run(args.model, args.size, args.runs, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
