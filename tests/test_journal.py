"""The SQLite journal: states survive a reopen, a torn write loses only
itself, a damaged file is moved aside, a full disk is one clear error, and
an unusable state_dir is one line."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from edged.delivery import NOT_SENT, duplicate_result, resume_plan, settle
from edged.journal import Journal, JournalUnavailable, JournalWriteError
from edged.messages import ActionOut, ResultEvent


def test_states_and_records_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = Journal(path)
    j.mark("id:a", "sending", text="toggle the lamp", record={"commands": [{"op": "toggle"}]})
    j.mark("id:a", "answered", text="toggle the lamp", record={"result": {"id": "a"}})
    j.mark("sha:b", "sent", text="b")
    j.close()
    again = Journal(path)
    entry = again.get("id:a")
    assert entry is not None and entry.state == "answered" and entry.text == "toggle the lamp"
    assert entry.record == {"result": {"id": "a"}}
    assert again.state("sha:b") == "sent"
    assert again.state("id:nothing") is None
    again.close()


def test_windows_and_pruning(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.db", id_window_s=100, content_window_s=10, max_entries=2)
    j.mark("id:old", "answered", now=1000.0)
    j.mark("sha:old", "answered", now=1000.0)
    assert j.state("id:old", now=1050.0) == "answered"
    assert j.state("sha:old", now=1050.0) is None  # a content key lives shorter
    j.mark("id:x", "answered", now=1060.0)
    j.mark("id:y", "answered", now=1061.0)
    j.prune(1070.0)
    assert len(j) == 2 and j.state("id:old", now=1070.0) is None


def test_a_torn_last_write_loses_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = Journal(path)
    for k in range(50):
        j.mark(f"id:{k}", "answered", record={"pad": "x" * 500})
    # A crash: the files as they are while it runs (a clean close would
    # checkpoint the WAL), with the WAL's last frame cut in half.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(path, crashed / "journal.db")
    shutil.copy(f"{path}-wal", crashed / "journal.db-wal")
    wal = crashed / "journal.db-wal"
    os.truncate(wal, wal.stat().st_size - 1000)
    path = crashed / "journal.db"
    again = Journal(path)
    kept = [k for k in range(50) if again.state(f"id:{k}") == "answered"]
    assert kept == list(range(len(kept))) and 40 <= len(kept) < 50
    again.mark("id:new", "sending")  # and it goes on
    assert again.state("id:new") == "sending"


def test_a_damaged_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database, it is a torn line\n" * 100)
    j = Journal(path)
    j.mark("id:a", "answered")
    assert j.state("id:a") == "answered"
    assert [p.name for p in tmp_path.glob("journal.db.corrupt-*")]


def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.db")
    j._db.execute("PRAGMA max_page_count = 8")
    with pytest.raises(JournalWriteError) as e:
        for k in range(1000):
            j.mark(f"id:{k}", "sending", record={"pad": "x" * 2000})
    assert "full" in str(e.value) and "\n" not in str(e.value)
    assert j.state("id:0") == "sending"  # what was written is still read


def test_an_unusable_state_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalUnavailable) as e:
        Journal(blocker / "state" / "journal.db")
    assert "state_dir" in str(e.value) and "\n" not in str(e.value)


def test_memory_only_without_a_path() -> None:
    j = Journal(None)
    j.mark("id:a", "answered")
    assert j.state("id:a") == "answered"
    assert isinstance(j._db, sqlite3.Connection)


# -- edged.delivery --------------------------------------------------------------------


def _result() -> ResultEvent:
    actions = [
        ActionOut("lamp", "toggle", {}, "cmnd/lamp/POWER", "TOGGLE"),
        ActionOut("fan", "on", {}, "home/fan/set", "ON"),
    ]
    return ResultEvent("r1", "lamp and fan", None, "executed", actions=list(actions))


def test_settle_reports_what_the_broker_did() -> None:
    result = _result()
    commands = result.actions
    assert settle(result, commands, [0, 16]).status == "executed"
    refused = settle(result, commands, [0, 0x87])
    assert refused.status == "error" and "not authorized" in (refused.error or "")
    unknown = settle(result, commands, [None, 0])
    assert unknown.status == "error" and "may not have gone out" in (unknown.error or "")
    unsent = settle(result, commands, [NOT_SENT, 0])
    assert unsent.status == "error" and "not sent" in (unsent.error or "")


def test_only_idempotent_commands_are_sent_again() -> None:
    again, never = resume_plan(_result().actions)
    assert again == [1] and never == [0]


def test_duplicate_result_carries_the_first_outcome() -> None:
    first = _result().to_dict()
    same = duplicate_result(first, "r1", "lamp and fan", None).to_dict()
    assert same["duplicate"] is True and same["status"] == "executed"
    assert same["actions"] == first["actions"]
    other = duplicate_result(first, "r1", "something else", None).to_dict()
    assert other["status"] == "error" and other["original"]["text"] == "lamp and fan"
    assert other["actions"] == []
