"""SQLite persistence: the queue, the history, the server state and the change log.

Every change is made durable before the request that made it is answered, so a server
killed with SIGKILL loses nothing it has acknowledged. Adds (the requests clients send
most) go first to an append-only journal beside the database (``queue.sqlite-adds.jsonl``,
one JSON line per add, written straight to the operating system): one ``write`` instead of
a transaction. A background thread fsyncs that journal at most ``fsync_interval`` after an
add (so it survives a crash of the machine too, as the database's WAL does at its
checkpoints). The journalled adds are applied to SQLite in one transaction by ``flush()``
(the server calls it shortly after adds) and by any other change before its own; reopening
replays the adds the database does not hold yet (each line carries the queue version it
made, so lines already applied are skipped, and the journal is emptied only once it is long).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from qserver import wire

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (uid TEXT PRIMARY KEY, pos INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_pos ON items(pos);
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL,
                                who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
"""

Item = dict[str, Any]
FSYNC_INTERVAL = 0.05  # seconds: how long an acknowledged add may sit in the OS cache before it is fsync'd
JOURNAL_SUFFIX = "-adds.jsonl"
JOURNAL_KEEP = 1 << 22  # bytes: a journal whose adds are all in SQLite is emptied once it is this long


def encode_item(item: Item) -> str:
    """An item as stored and answered: JSON (a NaN, which JSON lacks, becomes null)."""
    try:
        return json.dumps(item, allow_nan=False)
    except ValueError:
        return wire.dumps(item)


class _Add(NamedTuple):
    """One journalled add, not yet in SQLite: the version it made, where, by whom, the items as JSON."""

    version: int
    at: int
    who: str
    action: str
    time: float
    uids: list[str]
    bodies: list[str]


class QueueDB:
    """The persistent queue; reads come from an in-memory mirror kept in step with the file."""

    def __init__(self, path: str | Path, fsync_interval: float = FSYNC_INTERVAL) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        # one server per state dir: its locks are taken once and kept (fewer system calls per change,
        # and a second server on the same state dir is refused instead of interleaving its changes)
        self.conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.conn.executescript(SCHEMA)
        rows = self.conn.execute("SELECT body FROM items ORDER BY pos").fetchall()
        self.items: list[Item] = [json.loads(r[0]) for r in rows]
        self.version = int(self.get("version", 0))
        self._est = [0.0, 0]  # the queue's summed estimate and how many items have none, kept in step
        self._account(self.items, +1)
        self.pending: list[_Add] = []  # adds in the journal, not yet in SQLite
        self.last_json: list[str] = []  # the items of the last insert as JSON (``encode_item``)
        self.journal_path = self.path.with_name(self.path.name + JOURNAL_SUFFIX)
        self._replay()
        self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self.flush()
        self.fsync_interval = fsync_interval
        self._fd_lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = False
        self._syncer = threading.Thread(target=self._sync_loop, name="queue-journal-fsync", daemon=True)
        self._syncer.start()

    # -- the adds journal ----------------------------------------------------------------------
    def _replay(self) -> None:
        """Put the journalled adds that SQLite does not hold yet into the mirror (and ``pending``)."""
        if not self.journal_path.exists():
            return
        data = self.journal_path.read_bytes()
        whole = data.rfind(b"\n") + 1
        if whole < len(data):  # a line cut short by a kill (never answered): cut it off before appending again
            os.truncate(self.journal_path, whole)
        for line in data[:whole].split(b"\n"):
            try:
                rec = json.loads(line)
            except ValueError:  # the empty tail, or a line cut short by a kill: its add was never answered
                continue
            if int(rec["v"]) <= self.version:
                continue  # applied to SQLite before the journal was emptied
            items = rec["items"]
            self.items[rec["at"]:rec["at"]] = items
            self._account(items, +1)
            self.version = int(rec["v"])
            self.pending.append(_Add(self.version, int(rec["at"]), rec["who"], rec["action"], float(rec["time"]),
                                     [it["uid"] for it in items], [encode_item(it) for it in items]))

    def _journal(self, add: _Add) -> None:
        line = (f'{{"v": {add.version}, "at": {add.at}, "who": {json.dumps(add.who)}, '
                f'"action": {json.dumps(add.action)}, "time": {add.time!r}, "items": [{", ".join(add.bodies)}]}}\n'
                ).encode()
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
        except BaseException:
            os.ftruncate(self._fd, self._size)  # no half line before the next add's
            raise
        self._size += len(line)
        if not self._dirty.is_set():  # (the fsync thread clears it when it starts an fsync)
            self._dirty.set()

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            with self._fd_lock:
                if self._closed:
                    return
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass
            time.sleep(self.fsync_interval)

    def _apply_pending(self) -> None:
        """Inside a transaction: write the journalled adds into SQLite (the mirror holds them already)."""
        if not self.pending:
            return
        uids = [uid for add in self.pending for uid in add.uids]
        first = len(self.items) - len(uids)
        if [it["uid"] for it in self.items[first:]] == uids:  # the usual case: every add at the back
            at = dict(zip(uids, range(first, len(self.items)), strict=True))
        else:
            at = {it["uid"]: i for i, it in enumerate(self.items)}
        rows = []
        for add in self.pending:
            rows += [(uid, at[uid], body) for uid, body in zip(add.uids, add.bodies, strict=True)]
            detail = f'{{"items": [{", ".join(add.bodies)}], "pos": {add.at}}}'
            self.conn.execute("INSERT INTO log(time, who, action, detail) VALUES (?, ?, ?, ?)",
                              (add.time, add.who, add.action, detail))
        self.conn.executemany("INSERT INTO items(uid, pos, body) VALUES (?, ?, ?)", rows)
        start = min(row[1] for row in rows)
        if len(self.items) - start != len(rows):
            self._rewrite_positions(start)  # an add ahead of items already stored moved them
        self._put("version", self.pending[-1].version)

    def _applied(self) -> None:
        """After a commit that applied the journalled adds: forget them; empty the journal once it is long
        (a truncation costs milliseconds here; replay skips the lines SQLite already holds, by version)."""
        if self.pending:
            self.pending = []
            if self._size > JOURNAL_KEEP:
                os.ftruncate(self._fd, 0)
                self._size = 0

    def flush(self) -> None:
        """Apply the journalled adds to SQLite now (one transaction) and empty the journal."""
        if self.pending:
            with self._tx():
                pass

    def _account(self, items: list[Item], sign: int) -> None:
        for it in items:
            est = it.get("estimate")
            if est is None:
                self._est[1] += sign
            else:
                self._est[0] += sign * float(est)
        if not self.items:
            self._est = [0.0, 0]

    def estimates(self) -> tuple[float, int]:
        """The queue's total estimated duration (s) and the number of items without an estimate."""
        return max(0.0, float(self._est[0])), int(self._est[1])

    # -- state -----------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """A server-state value (JSON), or ``default``."""
        row = self.conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def _put(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def set(self, key: str, value: Any, who: str = "server", action: str | None = None) -> None:
        """Set a server-state value, logging it as ``action`` when given."""
        with self._tx():
            self._put(key, value)
            if action:
                self._log(who, action, {key: value})

    def _log(self, who: str, action: str, detail: Any) -> None:
        self.conn.execute("INSERT INTO log(time, who, action, detail) VALUES (?, ?, ?, ?)",
                          (time.time(), who, action, json.dumps(detail)))

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """BEGIN IMMEDIATE, the journalled adds first, the change … COMMIT (then the journal is emptied),
        or ROLLBACK on error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._apply_pending()
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self._applied()

    # -- queue -------------------------------------------------------------------------------
    def index(self, uid: str) -> int:
        """The position of item ``uid``; ``KeyError`` naming it if absent."""
        for i, item in enumerate(self.items):
            if item["uid"] == uid:
                return i
        raise KeyError(f"no item {uid!r} in the queue")

    def _rewrite_positions(self, start: int) -> None:
        self.conn.executemany("UPDATE items SET pos=? WHERE uid=?",
                              [(i, it["uid"]) for i, it in enumerate(self.items) if i >= start])

    def _bump(self, who: str, action: str, detail: Any) -> int:
        self.version += 1
        self._put("version", self.version)
        self._log(who, action, detail)
        return self.version

    def insert(self, items: list[Item], pos: int | None, who: str, action: str = "add") -> int:
        """Insert ``items`` at ``pos`` (None: at the back); return the new version.

        Durable on return through the adds journal (SQLite gets it at the next ``flush``)."""
        at = len(self.items) if pos is None else max(0, min(pos, len(self.items)))
        add = _Add(self.version + 1, at, who, action, time.time(), [it["uid"] for it in items],
                   [encode_item(it) for it in items])
        self._journal(add)
        self.items[at:at] = items
        self._account(items, +1)
        self.version = add.version
        self.pending.append(add)
        self.last_json = add.bodies
        return self.version

    def remove(self, uid: str, who: str, action: str = "remove") -> tuple[Item, int]:
        """Remove item ``uid``; return it and the new version."""
        with self._tx():
            i = self.index(uid)
            item = self.items.pop(i)
            self._account([item], -1)
            self.conn.execute("DELETE FROM items WHERE uid=?", (uid,))
            self._rewrite_positions(i)
            return item, self._bump(who, action, {"uid": uid, "name": item["name"]})

    def move(self, uid: str, pos: int, who: str) -> int:
        """Move item ``uid`` to index ``pos`` of the queue without it; return the new version."""
        with self._tx():
            i = self.index(uid)
            item = self.items.pop(i)
            at = max(0, min(pos, len(self.items)))
            self.items.insert(at, item)
            self._rewrite_positions(min(i, at))
            return self._bump(who, "move", {"uid": uid, "from": i, "to": at})

    def replace(self, item: Item, who: str) -> int:
        """Replace the item with ``item['uid']`` in place; return the new version."""
        with self._tx():
            i = self.index(item["uid"])
            old = self.items[i]
            self.items[i] = item
            self._account([old], -1)
            self._account([item], +1)
            self.conn.execute("UPDATE items SET body=? WHERE uid=?", (json.dumps(item), item["uid"]))
            return self._bump(who, "edit", {"uid": item["uid"], "old": old, "new": item})

    def clear(self, who: str) -> int:
        """Empty the queue; return the new version."""
        with self._tx():
            n = len(self.items)
            self.items = []
            self._account([], 0)
            self.conn.execute("DELETE FROM items")
            return self._bump(who, "clear", {"removed": n})

    def take_front(self, item: Item | None, running: dict[str, Any], who: str) -> int:
        """Atomically move ``item`` (the queue's front, or None for an item from outside) to 'running'."""
        with self._tx():
            if item is not None:
                i = self.index(item["uid"])
                del self.items[i]
                self._account([item], -1)
                self.conn.execute("DELETE FROM items WHERE uid=?", (item["uid"],))
                # positions stay the mirror's indexes (a gap at the front would misplace later adds)
                self.conn.execute("UPDATE items SET pos=pos-1 WHERE pos>?", (i,))
            self._put("running", running)
            return self._bump(who, "dispatch", {"uid": running["item"]["uid"], "exec_id": running["exec_id"]})

    def finish(self, record: dict[str, Any], requeue: Item | None) -> int:
        """Atomically record a finished item in the history, clear 'running', maybe re-queue (loop mode)."""
        with self._tx():
            self.conn.execute("INSERT INTO history(body) VALUES (?)", (json.dumps(record),))
            self._put("running", None)
            if requeue is not None:
                self.items.append(requeue)
                self._account([requeue], +1)
                self.conn.execute("INSERT INTO items(uid, pos, body) VALUES (?, ?, ?)",
                                  (requeue["uid"], len(self.items) - 1, json.dumps(requeue)))
            return self._bump("server", "finished", {"uid": record["item"]["uid"],
                                                      "exit_status": record["exit_status"]})

    # -- history and log ----------------------------------------------------------------------
    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Executed items, oldest first (the last ``limit`` only, when given)."""
        if limit is None:
            rows = self.conn.execute("SELECT body FROM history ORDER BY seq").fetchall()
        else:
            rows = self.conn.execute("SELECT body FROM (SELECT seq, body FROM history ORDER BY seq DESC LIMIT ?) "
                                     "ORDER BY seq", (limit,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def has_exec(self, exec_id: str) -> bool:
        """Whether the history already holds the execution ``exec_id``."""
        row = self.conn.execute("SELECT 1 FROM history WHERE json_extract(body, '$.exec_id')=?",
                                (exec_id,)).fetchone()
        return row is not None

    def clear_history(self, who: str) -> None:
        """Forget the history (logged)."""
        with self._tx():
            self.conn.execute("DELETE FROM history")
            self._log(who, "clear_history", {})

    def log(self, who: str, action: str, detail: Any) -> None:
        """Record an action that changes no table."""
        with self._tx():
            self._log(who, action, detail)

    def changes(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` entries of the change log, oldest first."""
        self.flush()
        rows = self.conn.execute("SELECT seq, time, who, action, detail FROM log ORDER BY seq DESC LIMIT ?",
                                 (limit,)).fetchall()
        return [{"seq": s, "time": t, "who": w, "action": a, "detail": json.loads(d)} for s, t, w, a, d in rows[::-1]]

    def close(self) -> None:
        """Apply the journalled adds, close the journal and the database file."""
        self.flush()
        with self._fd_lock:
            self._closed = True
            os.close(self._fd)
        self._dirty.set()
        self.conn.close()
