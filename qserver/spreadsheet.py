"""Batches from spreadsheets: one plan a row, from CSV or Excel (.xlsx).

Columns: ``plan`` (required), optionally ``args`` (a JSON list) and ``kwargs`` (a JSON
object); every other column is a keyword argument by its header, its cell read as JSON
when it parses (``["det"]``, ``5``, ``-1.5``) and as text otherwise (``motor``). Empty
cells are left out. For plans that take their motors as ``*args`` (Bluesky's ``scan(detectors,
*args, num)``), the columns ``motor``, ``start``, ``stop`` (then ``motor2``, ``start2``,
``stop2`` …) become those positional arguments, after the plan's leading ones.
"""

from __future__ import annotations

import csv
import inspect
import itertools
import json
from pathlib import Path
from typing import Any


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            return json.loads(text)
        except ValueError:
            return text
    return value


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        if not rows:
            return []
        header = [str(h).strip() if h is not None else "" for h in rows[0]]
        return [dict(zip(header, r, strict=False)) for r in rows[1:]]
    if path.suffix.lower() in (".csv", ".txt"):
        with path.open(newline="") as f:
            return [dict(r) for r in csv.DictReader(f)]
    raise ValueError(f"{path}: a batch is a .csv or .xlsx file")


def _motor_groups(name: str, kwargs: dict[str, Any]) -> list[Any]:
    """Positional ``[leading…, motor, start, stop, motor2, …]`` for a plan with ``*args``.

    Takes the columns it uses out of ``kwargs``; returns ``[]`` where the plan has no
    ``*args`` or the row names no ``motor``.
    """
    from qserver.validate import plan_catalogue

    fn = plan_catalogue().get(name)
    if fn is None or "motor" not in kwargs:
        return []
    params = list(inspect.signature(fn).parameters.values())
    if not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return []
    leading = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    if any(p not in kwargs for p in leading):
        return []
    args = [kwargs.pop(p) for p in leading]
    for i in itertools.count(1):
        suffix = "" if i == 1 else str(i)
        group = [f"motor{suffix}", f"start{suffix}", f"stop{suffix}"]
        if group[0] not in kwargs:
            break
        args.extend(kwargs.pop(k, None) for k in group)
    return args


def read_items(path: str | Path) -> list[dict[str, Any]]:
    """The items of a spreadsheet; ``ValueError`` naming the row and column of a bad cell."""
    path = Path(path)
    items = []
    for n, row in enumerate(_rows(path), start=2):
        row = {str(k).strip(): v for k, v in row.items() if k and v not in (None, "")}
        if not row:
            continue
        if "plan" not in row:
            raise ValueError(f"{path.name} row {n}: no 'plan' cell (columns: {sorted(row)})")
        args = _cell(row.pop("args", "[]"))
        kwargs = _cell(row.pop("kwargs", "{}"))
        if not isinstance(args, list):
            raise ValueError(f"{path.name} row {n}: 'args' must be a JSON list, got {args!r}")
        if not isinstance(kwargs, dict):
            raise ValueError(f"{path.name} row {n}: 'kwargs' must be a JSON object, got {kwargs!r}")
        name = str(row.pop("plan")).strip()
        kwargs.update({k: _cell(v) for k, v in row.items()})
        if not args:
            args = _motor_groups(name, kwargs)
        items.append({"name": name, "args": args, "kwargs": kwargs})
    if not items:
        raise ValueError(f"{path.name}: no rows with a plan")
    return items
