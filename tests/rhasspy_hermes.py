"""The `rhasspy-hermes` message classes, as a judge of edged's Hermes payloads.

rhasspy-hermes 0.6.2 pins paho-mqtt 1.5 (edged needs 2.x) and its message
module needs dataclasses-json 0.5 with marshmallow 3, so it cannot share
edged's environment: it gets a virtual environment of its own, built once and
cached in the temp directory by version, and the tests talk to it through one
subprocess per batch of payloads. A payload passes when the class's
marshmallow schema loads it (strict: an unknown field or a wrong type fails)
and `from_dict(...).to_dict()` gives every field back unchanged (the class
may add the optional fields it defaults).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = "rhasspy-hermes"
VERSION = "0.6.2"

_JUDGE = r"""
import json, sys
import rhasspyhermes.dialogue as dialogue
import rhasspyhermes.nlu as nlu

out = []
for item in json.load(sys.stdin):
    if item["op"] == "query":
        # A real NluQuery as Rhasspy's dialogue manager builds it.
        q = nlu.NluQuery(**item["kwargs"])
        out.append({"ok": True, "topic": q.topic(), "payload": q.payload()})
        continue
    cls = getattr(dialogue if item["cls"].startswith("Dialogue") else nlu, item["cls"])
    payload = item["payload"]
    try:
        cls.schema().load(payload)
        obj = cls.from_dict(payload)
        back = obj.to_dict()
    except Exception as e:
        out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
        continue
    def contains(big, small):
        # The class may add fields it defaults (null); what was sent must come back.
        if isinstance(small, dict):
            return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
        if isinstance(small, list):
            return isinstance(big, list) and len(big) == len(small) and all(contains(b, s) for b, s in zip(big, small))
        return big == small
    changed = {k: [v, back.get(k)] for k, v in payload.items() if not contains(back.get(k), v)}
    topic = item.get("topic")
    topic_ok = topic is None or cls.is_topic(topic)
    extra = {}
    if cls is nlu.NluIntent and topic is not None and topic_ok:
        extra["intent_from_topic"] = cls.get_intent_name(topic)
        extra["rhasspy"] = obj.to_rhasspy_dict()
    out.append({"ok": not changed and topic_ok, "changed": changed, "topic_ok": topic_ok,
                "back": back, **extra})
json.dump(out, sys.stdout)
"""


def _venv_dir() -> Path:
    tag = f"{PACKAGE}-{VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
    return Path(tempfile.gettempdir()) / f"edged-test-{tag}"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Parallel test runs (xdist, two checkouts) build the venv once.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_env() -> Path:
    """The venv's python, building the venv if needed. Raises RuntimeError
    with pip's output when it cannot be built (no route to PyPI)."""
    venv = _venv_dir()
    done = venv / ".edged-ok"
    with _locked(venv.parent / f"{venv.name}.lock"):
        if done.is_file() and _python(venv).is_file():
            return _python(venv)
        env = {
            k: v
            for k, v in os.environ.items()
            # edged's own pip settings (constraints, the active venv) are not its.
            if k not in ("PIP_CONSTRAINT", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        }
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [
                str(_python(venv)),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"{PACKAGE}=={VERSION}",
            ],
            [str(_python(venv)), "-c", "import rhasspyhermes.nlu"],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"cannot build the {PACKAGE} test environment in {venv}: "
                    f"{' '.join(cmd[:4])} ... failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
                )
        done.write_text(VERSION)
        return _python(venv)


class Judge:
    """Checks payloads with rhasspy-hermes; one subprocess per call."""

    def __init__(self, python: Path) -> None:
        self.python = python

    def _run(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [str(self.python), "-c", _JUDGE],
            input=json.dumps(items),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"rhasspy-hermes judge failed:\n{proc.stderr[-3000:]}")
        result: list[dict[str, Any]] = json.loads(proc.stdout)
        return result

    def check(self, messages: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """(class name, topic, payload) -> one verdict each (`ok`, `back`, ...)."""
        return self._run(
            [{"op": "check", "cls": c, "topic": t, "payload": p} for c, t, p in messages]
        )

    def query(self, **kwargs: Any) -> dict[str, Any]:
        """An NluQuery built by rhasspy-hermes: `{"topic", "payload"}`."""
        return self._run([{"op": "query", "kwargs": kwargs}])[0]
