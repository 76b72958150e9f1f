"""SQLite persistence: the queue, the history, the server state and the change log.

Every change is one transaction, committed before the request that made it is answered,
so a server killed with SIGKILL loses nothing it has acknowledged (WAL journal).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (uid TEXT PRIMARY KEY, pos INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_pos ON items(pos);
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL,
                                who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
"""

Item = dict[str, Any]


class QueueDB:
    """The persistent queue; reads come from an in-memory mirror kept in step with the file."""

    def __init__(self, path: str | Path) -> None:
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

    def _tx(self) -> _Transaction:
        return _Transaction(self.conn)

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
        """Insert ``items`` at ``pos`` (None: at the back); return the new version."""
        with self._tx():
            at = len(self.items) if pos is None else max(0, min(pos, len(self.items)))
            self.items[at:at] = items
            self._account(items, +1)
            if at == len(self.items) - len(items):
                self.conn.executemany("INSERT INTO items(uid, pos, body) VALUES (?, ?, ?)",
                                      [(it["uid"], at + k, json.dumps(it)) for k, it in enumerate(items)])
            else:
                self.conn.executemany("INSERT INTO items(uid, pos, body) VALUES (?, ?, ?)",
                                      [(it["uid"], -1, json.dumps(it)) for it in items])
                self._rewrite_positions(at)
            return self._bump(who, action, {"items": items, "pos": at})

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
                self.items.remove(item)
                self._account([item], -1)
                self.conn.execute("DELETE FROM items WHERE uid=?", (item["uid"],))
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
        rows = self.conn.execute("SELECT seq, time, who, action, detail FROM log ORDER BY seq DESC LIMIT ?",
                                 (limit,)).fetchall()
        return [{"seq": s, "time": t, "who": w, "action": a, "detail": json.loads(d)} for s, t, w, a, d in rows[::-1]]

    def close(self) -> None:
        """Close the database file."""
        self.conn.close()


class _Transaction:
    """``with db._tx():`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK (and a reload of the mirror) on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
