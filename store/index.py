"""The catalog's index: an SQLite database of runs, made (and remade) from the run files alone.

Table ``runs`` holds one row per run file (uid, path, file mtime and size, scan_id,
plan_name, start time, exit status, number of events, streams, and the start and stop
documents as JSON); table ``start_keys`` holds every start-document key flattened
(``sample.name`` for nested keys; one row per element of a list) with its value as a number
and/or as text, so that any key can be searched with equality, ranges and ``in``. Files that
are not readable runs are kept in ``bad_files`` so that they are reported, not reread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, path TEXT NOT NULL, mtime REAL, size INTEGER,
    scan_id INTEGER, plan_name TEXT, time REAL, exit_status TEXT, num_events INTEGER,
    streams TEXT, start TEXT, stop TEXT);
CREATE INDEX IF NOT EXISTS runs_time ON runs (time, id);
CREATE INDEX IF NOT EXISTS runs_path ON runs (path);
CREATE INDEX IF NOT EXISTS runs_scan_id ON runs (scan_id, time);
CREATE INDEX IF NOT EXISTS runs_plan ON runs (plan_name, time);
CREATE INDEX IF NOT EXISTS runs_status ON runs (exit_status, time);
CREATE TABLE IF NOT EXISTS start_keys (run INTEGER NOT NULL, key TEXT NOT NULL, num REAL, txt TEXT, time REAL);
CREATE INDEX IF NOT EXISTS start_keys_txt ON start_keys (key, txt, time, run);
CREATE INDEX IF NOT EXISTS start_keys_num ON start_keys (key, num, time, run);
CREATE INDEX IF NOT EXISTS start_keys_run ON start_keys (run, key, txt, num);
CREATE TABLE IF NOT EXISTS bad_files (path TEXT PRIMARY KEY, mtime REAL, size INTEGER, error TEXT);
"""

RANGE_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
COLUMN_KEYS = ("plan_name", "scan_id", "exit_status", "num_events")
BROAD_MATCHES = 2000  # a start-key condition matching this many rows is walked in time order instead
COLUMNS = ("uid", "path", "scan_id", "plan_name", "time", "exit_status", "num_events", "streams", "start", "stop")


@dataclass(frozen=True)
class Entry:
    """One indexed run."""

    uid: str
    path: str
    scan_id: int
    plan_name: str
    time: float
    exit_status: str
    num_events: int
    streams: list[str]
    start: dict[str, Any]
    stop: dict[str, Any] | None


def flatten(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float | None, str | None]]:
    """``(key, number, text)`` rows for every scalar in a start document (nested keys dotted)."""
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, name + ".")
            continue
        for v in value if isinstance(value, list) else [value]:
            row = _scalar(v)
            if row is not None:
                yield (name, *row)


def _scalar(v: Any) -> tuple[float | None, str | None] | None:
    if isinstance(v, bool):
        return float(v), None
    if isinstance(v, int | float):
        return float(v), None
    if isinstance(v, str):
        return None, v
    return None


class Index:
    """The SQLite index at ``path`` (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with self.db:  # an index of another layout: it is only a cache of the files, so remake it
                for table in ("runs", "start_keys", "bad_files"):
                    self.db.execute(f"DROP TABLE IF EXISTS {table}")
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- writing ------------------------------------------------------------------------------
    def add(self, entries: Iterable[tuple[Entry, float, int]]) -> None:
        """Index runs: ``(entry, file mtime, file size)`` each; a run with a known uid is replaced."""
        with self.db:
            for entry, mtime, size in entries:
                old = self.db.execute("SELECT id FROM runs WHERE uid = ?", (entry.uid,)).fetchone()
                if old is not None:
                    self.db.execute("DELETE FROM start_keys WHERE run = ?", old)
                    self.db.execute("DELETE FROM runs WHERE id = ?", old)
                cur = self.db.execute(
                    "INSERT INTO runs (uid, path, mtime, size, scan_id, plan_name, time, exit_status, num_events, "
                    "streams, start, stop) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (entry.uid, entry.path, mtime, size, entry.scan_id, entry.plan_name, entry.time,
                     entry.exit_status, entry.num_events, json.dumps(entry.streams), json.dumps(entry.start),
                     json.dumps(entry.stop)))
                run = cur.lastrowid
                self.db.executemany("INSERT INTO start_keys VALUES (?,?,?,?,?)",
                                    [(run, k, n, t, entry.time) for k, n, t in flatten(entry.start)])

    def forget_paths(self, paths: Iterable[str]) -> None:
        """Drop the runs (and bad-file records) of files that are gone or changed."""
        with self.db:
            for p in paths:
                for (run,) in self.db.execute("SELECT id FROM runs WHERE path = ?", (p,)).fetchall():
                    self.db.execute("DELETE FROM start_keys WHERE run = ?", (run,))
                self.db.execute("DELETE FROM runs WHERE path = ?", (p,))
                self.db.execute("DELETE FROM bad_files WHERE path = ?", (p,))

    def add_bad(self, path: str, mtime: float, size: int, error: str) -> None:
        """Remember a file that is not a readable run."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO bad_files VALUES (?,?,?,?)", (path, mtime, size, error))

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        with self.db:
            self.db.execute("DELETE FROM runs")
            self.db.execute("DELETE FROM start_keys")
            self.db.execute("DELETE FROM bad_files")

    # -- reading ------------------------------------------------------------------------------
    def known_files(self) -> dict[str, tuple[float, int]]:
        """``path → (mtime, size)`` of every file the index has seen (runs and bad files)."""
        rows = self.db.execute("SELECT path, mtime, size FROM runs UNION ALL SELECT path, mtime, size FROM bad_files")
        return {p: (m, s) for p, m, s in rows}

    def bad_files(self) -> list[tuple[str, str]]:
        """``(path, error)`` of the files that are not readable runs."""
        return list(self.db.execute("SELECT path, error FROM bad_files ORDER BY path"))

    def count(self) -> int:
        """The number of indexed runs."""
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def search(self, query: dict[str, Any] | None = None, *, since: float | None = None, until: float | None = None,
               uid: str | None = None, limit: int | None = None, offset: int = 0) -> list[Entry]:
        """Runs matching every condition, newest first.

        ``query`` maps a start-document key (``plan_name``, ``scan_id``, ``sample.name``, …) or
        ``exit_status``/``num_events`` to a value (equality) or to ``{"$in": [...]}`` or
        ``{"$gt"|"$gte"|"$lt"|"$lte": v}`` (several operators are ANDed). ``since``/``until``
        bound the start time (epoch seconds), ``uid`` is a uid prefix. A key no run has
        matches nothing.
        """
        where: list[str] = []  # conditions on the runs table itself
        params: list[Any] = []
        if since is not None:
            where.append("r.time >= ?")
            params.append(float(since))
        if until is not None:
            where.append("r.time < ?")
            params.append(float(until))
        if uid:
            where.append("r.uid >= ? AND r.uid < ?")
            params += [uid, uid + "\U0010ffff"]
        sources: list[tuple[str, list[Any], bool]] = []  # start-key conditions
        for key, cond in (query or {}).items():
            ops = cond if isinstance(cond, dict) and cond and all(str(k).startswith("$") for k in cond) \
                else {"$eq": cond}
            if key in COLUMN_KEYS:
                sql, args = self._column_condition(key, ops)
                where.append(sql)
                params += args
            else:
                sources.append(self._key_source(key, ops))
        page = ""
        page_args: list[Any] = []
        if limit is not None:
            page, page_args = " LIMIT ? OFFSET ?", [int(limit), int(offset)]
        cols = ", ".join(f"r.{c}" for c in COLUMNS)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        if not sources:
            sql = f"SELECT {cols} FROM runs r{cond} ORDER BY r.time DESC, r.id DESC{page}"
            return [_entry(row) for row in self.db.execute(sql, params + page_args)]
        # one start-key condition drives (an equality walks its index newest first and stops at the
        # limit); the others are checked per candidate run through the (run, key) index
        drive = next((i for i, (_, _, single) in enumerate(sources) if single), 0)
        d_sql, d_args, d_single = sources[drive]
        if not d_single and self._matches_at_least(d_sql, d_args, BROAD_MATCHES):
            # a broad range or `in`: walk the runs newest first and check every condition per run
            checks = [f"EXISTS (SELECT 1 FROM start_keys k INDEXED BY start_keys_run WHERE k.run = r.id "
                      f"AND {sql.replace('{t}', 'k')})" for sql, _, _ in sources]
            sql = (f"SELECT {cols} FROM runs r WHERE {' AND '.join([*checks, *where])} "
                   f"ORDER BY r.time DESC, r.id DESC{page}")
            all_args = [a for _, args, _ in sources for a in args]
            return [_entry(row) for row in self.db.execute(sql, all_args + params + page_args)]
        checks = [f"EXISTS (SELECT 1 FROM start_keys k INDEXED BY start_keys_run WHERE k.run = s.run "
                  f"AND {sql.replace('{t}', 'k')})"
                  for i, (sql, _, _) in enumerate(sources) if i != drive]
        check_args = [a for i, (_, args, _) in enumerate(sources) if i != drive for a in args]
        conditions = " AND ".join([d_sql.replace("{t}", "s"), *checks, *where])
        distinct = "" if d_single else "DISTINCT "
        join = " JOIN runs r ON r.id = s.run" if where else ""
        sql = (f"SELECT {cols} FROM (SELECT {distinct}s.run AS i, s.time AS t FROM start_keys s{join} "
               f"WHERE {conditions} ORDER BY t DESC, i DESC{page}) p JOIN runs r ON r.id = p.i "
               "ORDER BY p.t DESC, p.i DESC")
        return [_entry(row) for row in self.db.execute(sql, d_args + check_args + params + page_args)]

    def _matches_at_least(self, sql: str, args: list[Any], n: int) -> bool:
        """Whether the start-key condition ``sql`` matches at least ``n`` rows (counting stops there)."""
        count = self.db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM start_keys s WHERE "
                                f"{sql.replace('{t}', 's')} LIMIT ?)", [*args, n]).fetchone()[0]
        return bool(count >= n)

    @staticmethod
    def _key_source(key: str, ops: dict[str, Any]) -> tuple[str, list[Any], bool]:
        """SQL over a start_keys row ``{t}`` for one key's conditions, its arguments, and
        whether it is a single equality (so that its index is already in time order)."""
        parts: list[str] = ["{t}.key = ?"]
        args: list[Any] = [key]
        single = len(ops) == 1 and "$eq" in ops and isinstance(ops["$eq"], int | float | str)
        for op, value in ops.items():
            if op == "$eq":
                sql, a = _value_match([value])
            elif op == "$in":
                if not isinstance(value, list | tuple | set):
                    raise ValueError(f"search: $in for {key!r} needs a list, not {value!r}")
                sql, a = _value_match(list(value))
            elif op in RANGE_OPS:
                col = "txt" if isinstance(value, str) else "num"
                sql, a = f"{{t}}.{col} {RANGE_OPS[op]} ?", [value if isinstance(value, str) else float(value)]
            else:
                raise ValueError(f"search: unknown operator {op!r} for {key!r} (use $eq, $in, $gt, $gte, $lt, $lte)")
            parts.append(f"({sql})")
            args += a
        return " AND ".join(parts), args, single

    def _column_condition(self, column: str, ops: dict[str, Any]) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        for op, value in ops.items():
            if op == "$eq":
                parts.append(f"r.{column} = ?")
                args.append(value)
            elif op == "$in":
                values = list(value)
                parts.append(f"r.{column} IN ({','.join('?' * len(values))})" if values else "0")
                args += values
            elif op in RANGE_OPS:
                parts.append(f"r.{column} {RANGE_OPS[op]} ?")
                args.append(value)
            else:
                raise ValueError(f"search: unknown operator {op!r} for {column!r}")
        return " AND ".join(parts), args


def _value_match(values: Sequence[Any]) -> tuple[str, list[Any]]:
    nums = [float(v) for v in values if isinstance(v, int | float)]
    txts = [v for v in values if isinstance(v, str)]
    parts: list[str] = []
    if nums:
        parts.append(f"{{t}}.num IN ({','.join('?' * len(nums))})")
    if txts:
        parts.append(f"{{t}}.txt IN ({','.join('?' * len(txts))})")
    return (" OR ".join(parts) if parts else "0"), [*nums, *txts]


def _entry(row: Sequence[Any]) -> Entry:
    uid, path, scan_id, plan_name, time, exit_status, num_events, streams, start, stop = row
    return Entry(uid, path, int(scan_id or 0), plan_name or "", float(time or 0.0), exit_status or "",
                 int(num_events or 0), json.loads(streams), json.loads(start), json.loads(stop))
