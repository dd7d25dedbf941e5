"""What has been done, by request: so a redelivered message never acts twice
and a repeated request is answered with what happened the first time.

One row per request key, in SQLite (the standard library's `sqlite3`, WAL
mode): a crash or power cut mid-write loses at most the last transaction and
never leaves a half record for the next one to be read into, which a
hand-written line file could not promise. The states, in order:

- `sending`: device commands are about to be published (stored with the
  result the engine decided, so a redelivery is answered from here, not by
  running the engine again);
- `sent`: the broker acknowledged every command (its reason codes are in the
  stored result);
- `answered`: the result event was acknowledged too.

Keys are `id:<request id>` when the sender gave one, else a hash of site and
text (`sha:`) or of the raw payload (`raw:`, for payloads that could not be
read). With `synchronous=NORMAL` each write survives the process dying (what a
redelivery follows); a power cut may lose the last few, never the file. A
`sending` mark is also fsynced before its commands go out (`sync`, one for
all marks made in the same moment), so not even a power cut can make edged
forget a command it sent.

A write that fails (disk full, I/O error) raises `JournalWriteError` with a
one-line reason: the daemon then sends no command it could not record. A
state directory that cannot hold the journal raises `JournalUnavailable`
(edged exits 78 with that one line); a journal file that is not a database
any more is moved aside and a fresh one started (logged).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("edged.journal")

FILE_NAME = "journal.db"
STATES = ("sending", "sent", "answered")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL DEFAULT '{}'
)
"""


class JournalUnavailable(Exception):
    """The state directory cannot hold the journal (one line, for exit 78)."""


class JournalWriteError(Exception):
    """A journal write failed (disk full, I/O error); one line."""


@dataclass
class Entry:
    key: str
    state: str
    at: float
    text: str = ""
    # What the daemon stored with the state: the commands, the result, extra
    # messages (plain JSON-able dicts; edged.delivery reads them).
    record: dict[str, Any] = field(default_factory=dict)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class Journal:
    def __init__(
        self,
        path: Path | None,
        id_window_s: float = 24 * 3600,
        content_window_s: float = 300.0,
        max_entries: int = 100_000,
    ) -> None:
        self.path = path
        self.id_window_s = id_window_s
        self.content_window_s = content_window_s
        self.max_entries = max_entries
        self._db = self._open(path)

    @classmethod
    def open_default(cls, cfg: Any) -> Journal:
        """In systemd's StateDirectory when there is one, else the configured
        state_dir, else memory only (duplicates are then caught only while the
        process lives)."""
        state = os.environ.get("STATE_DIRECTORY") or getattr(cfg, "state_dir", None)
        path = Path(str(state).split(":")[0]) / FILE_NAME if state else None
        window = float(getattr(getattr(cfg, "limits", None), "dedupe_window_s", 300.0))
        return cls(path, content_window_s=window)

    # -- opening -----------------------------------------------------------
    def _open(self, path: Path | None) -> sqlite3.Connection:
        if path is None:
            return self._connect(":memory:")
        where = path.parent
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalUnavailable(
                f"state_dir {where}: cannot create it ({e.strerror or e})"
            ) from None
        if not where.is_dir():
            raise JournalUnavailable(f"state_dir {where}: not a directory")
        if not os.access(where, os.W_OK | os.X_OK):
            raise JournalUnavailable(f"state_dir {where}: not writable by this user")
        try:
            return self._connect(str(path))
        except sqlite3.DatabaseError as e:
            if "not a database" not in str(e) and "malformed" not in str(e):
                raise JournalUnavailable(f"journal {path}: {_one_line(e)}") from None
        # The file is damaged beyond what SQLite's own recovery handles: keep
        # it for a post-mortem and start again (only a redelivery of a message
        # in flight at the damage can then repeat its commands).
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        log.error("journal %s is damaged; moved to %s, starting a new one", path, aside)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        try:
            return self._connect(str(path))
        except sqlite3.Error as e:
            raise JournalUnavailable(f"journal {path}: {_one_line(e)}") from None

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as e:
            raise JournalUnavailable(f"journal {target}: {_one_line(e)}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            if target != ":memory:":
                row = db.execute("PRAGMA quick_check").fetchone()
                if row is None or row[0] != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({row})")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- reading and writing -----------------------------------------------
    def _window(self, key: str) -> float:
        return self.id_window_s if key.startswith(("id:", "hermes:")) else self.content_window_s

    def get(self, key: str, now: float | None = None) -> Entry | None:
        now = time.time() if now is None else now
        try:
            row = self._db.execute(
                "SELECT state, at, text, record FROM requests WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as e:
            log.warning("journal: cannot read %s: %s", key, _one_line(e))
            return None
        if row is None or now - row[1] > self._window(key):
            return None
        try:
            record = json.loads(row[3])
        except ValueError:
            record = {}
        return Entry(key, row[0], row[1], row[2], record)

    def state(self, key: str, now: float | None = None) -> str | None:
        entry = self.get(key, now)
        return None if entry is None else entry.state

    def mark(
        self,
        key: str,
        state: str,
        now: float | None = None,
        *,
        text: str = "",
        record: dict[str, Any] | None = None,
        durable: bool = True,
    ) -> None:
        """Record `state` for `key` (replacing what was there). `durable`:
        committed before this returns (with what waits to be, see `flush`),
        else JournalWriteError and nothing of it is kept. Not durable: kept
        in the open transaction until the next `flush`, so marks made close
        together share one commit (a commit is ~50-150 us; three per request
        were a fifth of a core at 300 requests/s)."""
        now = time.time() if now is None else now
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO requests (key, state, at, text, record) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, state, now, text, json.dumps(record or {}, ensure_ascii=False)),
            )
        except (sqlite3.Error, ValueError) as e:
            self._rollback()
            raise JournalWriteError(_one_line(e)) from None
        if durable:
            self.flush()

    def flush(self) -> None:
        """Commit what `mark` left open; JournalWriteError (and those marks
        dropped) when the commit fails."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise JournalWriteError(_one_line(e)) from None

    def sync(self) -> None:
        """fsync the write-ahead log: what was committed survives a power cut
        too (`synchronous=NORMAL` alone promises that only for a crash of
        the process). Touches only the file, not the connection, so it may
        run on another thread while the event loop goes on."""
        if self.path is None:
            return
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed and removed: the data is in the main file
        except OSError as e:
            raise JournalWriteError(f"cannot sync the journal: {e.strerror or e}") from None
        try:
            os.fsync(fd)
        except OSError as e:
            raise JournalWriteError(f"cannot sync the journal: {e.strerror or e}") from None
        finally:
            os.close(fd)

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def prune(self, now: float) -> None:
        """Forget what is older than its window, and the oldest beyond max_entries."""
        try:
            self.flush()
            self._db.execute(
                "DELETE FROM requests WHERE (key LIKE 'id:%' OR key LIKE 'hermes:%') AND at < ?",
                (now - self.id_window_s,),
            )
            self._db.execute(
                "DELETE FROM requests WHERE key NOT LIKE 'id:%' AND key NOT LIKE 'hermes:%' "
                "AND at < ?",
                (now - self.content_window_s,),
            )
            excess = len(self) - self.max_entries
            if excess > 0:
                self._db.execute(
                    "DELETE FROM requests WHERE key IN "
                    "(SELECT key FROM requests ORDER BY at LIMIT ?)",
                    (excess,),
                )
        except (sqlite3.Error, JournalWriteError) as e:
            log.warning("journal: pruning failed: %s", _one_line(e))

    def __len__(self) -> int:
        try:
            return int(self._db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        except sqlite3.Error:
            return 0

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, JournalWriteError):
            self.flush()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
