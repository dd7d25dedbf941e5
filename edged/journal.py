"""What has been done, by request: so a redelivered message never acts twice.

Two marks per utterance: `acted` (device commands were about to go out) and
`answered` (the result event went out). A message the broker delivers again
after a crash or a reconnect is looked up here: answered -> acknowledged and
dropped; acted but not answered -> the result is sent again without
repeating the commands (at most once for devices, at least once for results).

Keys are the request id when the sender gave one, else a hash of site + text
kept only for `content_window_s` (two identical "toggle the lamp" a minute
apart are two requests). The file is an append-only log, flushed (not
fsynced) per entry: it survives the process dying, which is what a
redelivery follows; compacted when it grows.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, TextIO

_STATES = ("acted", "answered")


class Journal:
    def __init__(
        self,
        path: Path | None,
        id_window_s: float = 24 * 3600,
        content_window_s: float = 10.0,
        max_entries: int = 100_000,
    ) -> None:
        self.path = path
        self.id_window_s = id_window_s
        self.content_window_s = content_window_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, float]] = {}
        self._file: TextIO | None = None
        self._lines = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._load(path)
            self._file = path.open("a", encoding="utf-8")

    @classmethod
    def open_default(cls, cfg: Any) -> Journal:
        """In systemd's StateDirectory when there is one, else the configured
        state_dir, else memory only (duplicates are then caught only while the
        process lives)."""
        state = os.environ.get("STATE_DIRECTORY") or getattr(cfg, "state_dir", None)
        path = Path(str(state).split(":")[0]) / "journal.log" if state else None
        window = float(getattr(getattr(cfg, "limits", None), "dedupe_window_s", 10.0))
        return cls(path, content_window_s=window)

    def _window(self, key: str) -> float:
        return self.content_window_s if key.startswith("sha:") else self.id_window_s

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        now = time.time()
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) != 3 or parts[1] not in _STATES:
                    continue  # a torn last line after a crash
                try:
                    ts = float(parts[0])
                except ValueError:
                    continue
                if now - ts <= self._window(parts[2]):
                    self._entries[parts[2]] = (parts[1], ts)
                self._lines += 1

    def state(self, key: str, now: float | None = None) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = time.time() if now is None else now
        if now - entry[1] > self._window(key):
            del self._entries[key]
            return None
        return entry[0]

    def mark(self, key: str, state: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._entries[key] = (state, now)
        if self._file is not None:
            self._file.write(f"{now:.3f} {state} {key}\n")
            self._file.flush()
            self._lines += 1
            if self._lines > 2 * max(len(self._entries), 1000):
                self._compact()

    def prune(self, now: float) -> None:
        stale = [k for k, (_, ts) in self._entries.items() if now - ts > self._window(k)]
        for k in stale:
            del self._entries[k]
        if len(self._entries) > self.max_entries:
            for k, _ in sorted(self._entries.items(), key=lambda kv: kv[1][1])[
                : len(self._entries) - self.max_entries
            ]:
                del self._entries[k]

    def _compact(self) -> None:
        if self.path is None or self._file is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for key, (state, ts) in self._entries.items():
                f.write(f"{ts:.3f} {state} {key}\n")
        self._file.close()
        os.replace(tmp, self.path)
        self._file = self.path.open("a", encoding="utf-8")
        self._lines = len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
