"""An XDI 1.0 checker for tests: what a file breaks of the spec's header and data rules.

Rules (XAS Data Interchange Format, version 1.0, and its dictionary of metadata):
version line ``# XDI/<major>.<minor>`` first, optional application words without white space;
every header line a comment; fields ``# Namespace.tag: value`` (namespace starts with a letter,
then letters, digits, ``_`` or ``-``; tag letters, digits, ``_`` or ``-``); the field-end
line (``# ///…``) before comments; the header-end line (``#---…``) required; then the
column-label line, one word per column, matching the ``Column.N`` values; ``Column.1`` the
abscissa with its units (energy in eV/keV, or an angle); ``Element.symbol`` and
``Element.edge`` required (an edge symbol K, L1…); ``Mono.d_spacing`` a float (required for
an angle abscissa); ``Scan.start_time``/``end_time`` ISO 8601; data lines not comments, each
the same number of numeric fields, finite where the dictionary asks for floats.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path

VERSION = re.compile(r"^#\s*XDI/(\d+)\.(\d+)(\.\d+)?(\s+\S+)*\s*$")
FIELD = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+):\s*(.*?)\s*$")
FIELD_END = re.compile(r"^#\s*/{3,}\s*$")
HEADER_END = re.compile(r"^#\s*-{3,}\s*$")
EDGES = {"K", "L", "L1", "L2", "L3", "M", "M1", "M2", "M3", "M4", "M5", "N", "N1", "N2", "N3", "N4", "N5", "N6",
         "N7", "O", "O1", "O2", "O3", "O4", "O5", "O6", "O7", "P", "P1", "P2", "P3"}
ABSCISSA_UNITS = {"energy": {"eV", "keV"}, "angle": {"degrees", "radians", "steps"}, "pixel": {""}}


def problems(path: str | Path) -> list[str]:
    """Every rule of XDI 1.0 that the file at ``path`` breaks (empty: it conforms)."""
    lines = Path(path).read_text().splitlines()
    out: list[str] = []
    if not lines or not VERSION.match(lines[0]):
        return [f"line 1 is not a version line '# XDI/1.0 …': {lines[0] if lines else ''!r}"]
    fields: dict[str, str] = {}
    i, seen_field_end, header_end = 1, False, None
    while i < len(lines):
        line = lines[i]
        if not line.startswith("#"):
            out.append(f"line {i + 1}: a header line must begin with '#': {line!r}")
            break
        if HEADER_END.match(line):
            header_end = i
            break
        if FIELD_END.match(line):
            seen_field_end = True
        elif not seen_field_end:
            m = FIELD.match(line)
            if m is None:
                out.append(f"line {i + 1}: not a 'Namespace.tag: value' field before the field-end line: {line!r}")
            else:
                fields[f"{m[1].lower()}.{m[2].lower()}"] = m[3]
        i += 1
    if header_end is None:
        return [*out, "no header-end line '#----'"]
    if header_end + 1 >= len(lines) or not lines[header_end + 1].startswith("#"):
        return [*out, "no column-label line after the header-end line"]
    labels = lines[header_end + 1].lstrip("#").split()
    data = [ln for ln in lines[header_end + 2:] if ln.strip()]
    columns = sorted((int(k.split(".")[1]), v) for k, v in fields.items() if re.fullmatch(r"column\.\d+", k))
    if not columns or columns[0][0] != 1:
        out.append("Column.1 (the abscissa) is missing")
    else:
        words = columns[0][1].split()
        if len(words) != 2 or words[0] not in ABSCISSA_UNITS or words[1] not in ABSCISSA_UNITS[words[0]]:
            out.append(f"Column.1 must name the abscissa and its units (e.g. 'energy eV'), got {columns[0][1]!r}")
    for n, value in columns:
        if n > len(labels) or not value.split() or value.split()[0] != labels[n - 1]:
            out.append(f"Column.{n} ({value!r}) does not match column label {n} of {labels}")
    for key, name in (("element.symbol", "Element.symbol"), ("element.edge", "Element.edge")):
        if not fields.get(key):
            out.append(f"required field {name} is missing")
    if fields.get("element.edge") and fields["element.edge"] not in EDGES:
        out.append(f"Element.edge {fields['element.edge']!r} is not an edge symbol")
    if columns and columns[0][1].startswith("angle") and "mono.d_spacing" not in fields:
        out.append("Mono.d_spacing is required with an angle abscissa")
    if "mono.d_spacing" in fields:
        try:
            if not math.isfinite(float(fields["mono.d_spacing"])):
                raise ValueError
        except ValueError:
            out.append(f"Mono.d_spacing must be a finite float, got {fields['mono.d_spacing']!r}")
    for key in ("scan.start_time", "scan.end_time"):
        if key in fields:
            try:
                datetime.fromisoformat(fields[key])
            except ValueError:
                out.append(f"{key} is not ISO 8601: {fields[key]!r}")
    if not data:
        out.append("no data lines")
    for j, row in enumerate(data):
        if row.lstrip().startswith("#"):
            out.append(f"data line {j + 1} begins with a comment token")
            continue
        values = row.split()
        if len(values) != len(labels):
            out.append(f"data line {j + 1} has {len(values)} fields for {len(labels)} labels")
        try:
            [float(v) for v in values]
        except ValueError:
            out.append(f"data line {j + 1} holds a field that is not a number: {row!r}")
    return out
