"""XDI (XAFS Data Interchange, version 1.0): one ``<scan_id>-<uid8>.xdi`` per XAFS run.

A run is an XAFS run when its primary stream has an energy axis: a data key with units eV
or keV, or one named ``*energy*`` (a motor of the start document first). The energy is the
first column, then every other scalar number of the primary stream. ``element``/``edge``
(or ``element_symbol``/``element_edge``), ``d_spacing`` and ``e0`` in the start document fill the
XDI header fields; ``xdi_labels`` (data key → label) names columns with the labels of the XDI
dictionary (``i0``, ``itrans``, ``ifluor``, …). Header lines follow XDI 1.0: ``Namespace.tag: value``
fields, the field-end line ``# ///``, no comments written by software, the header-end line
``#----``, then the column labels (one word each, as named by the ``Column.N`` fields).
"""

from __future__ import annotations

import time as _time
from pathlib import Path
from typing import Any

XDI_VERSION = "XDI/1.0 beamtwin/0.1"
ENERGY_UNITS = {"ev": "eV", "kev": "keV"}


def energy_key(start: dict[str, Any], data_keys: dict[str, dict[str, Any]]) -> str | None:
    """The data key that is the energy axis of an XAFS run, or None."""
    def is_energy(k: str) -> bool:
        units = str(data_keys[k].get("units") or "").lower()
        return units in ENERGY_UNITS or "energy" in k.lower()

    motors = [m for m in start.get("motors", []) if m in data_keys]
    for key in [*motors, *data_keys]:
        if is_energy(key) and not data_keys[key].get("shape"):
            return str(key)
    return None


class Xdi:
    """Write the primary stream of an XAFS run as an XDI file in ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self._start: dict[str, Any] = {}
        self._descriptor: dict[str, Any] | None = None
        self._columns: list[str] = []
        self._rows: list[list[Any]] = []
        self._paths: list[Path] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._start, self._descriptor, self._rows = doc, None, []
        elif name == "descriptor" and doc.get("name", "primary") == "primary" and self._descriptor is None:
            self._use(doc)
        elif name == "event" and self._descriptor and doc["descriptor"] == self._descriptor["uid"]:
            self._rows.append([doc["data"].get(k) for k in self._columns])
        elif name == "event_page" and self._descriptor and doc["descriptor"] == self._descriptor["uid"]:
            for i in range(len(doc["seq_num"])):
                self._rows.append([doc["data"][k][i] for k in self._columns])
        elif name == "stop":
            self._write(doc)

    def _use(self, desc: dict[str, Any]) -> None:
        keys = desc["data_keys"]
        energy = energy_key(self._start, keys)
        if energy is None:
            raise ValueError(f"run {self._start.get('scan_id')} ({self._start.get('uid', '')[:8]}) is not an XAFS "
                             "run: its primary stream has no energy axis (a data key with units eV or keV, "
                             "or named *energy*)")
        others = [k for k, dk in keys.items() if k != energy and not dk.get("shape") and not dk.get("external")
                  and dk.get("dtype", "number") in ("number", "integer")]
        self._descriptor = desc
        self._columns = [energy, *others]

    def _write(self, stop: dict[str, Any] | None) -> None:
        if self._descriptor is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        start, keys = self._start, self._descriptor["data_keys"]
        path = self.out_dir / f"{int(start.get('scan_id', 0) or 0):06d}-{start['uid'][:8]}.xdi"
        lines = [f"# {XDI_VERSION}"]
        given = start.get("xdi_labels")
        given = given if isinstance(given, dict) else {}
        labels = [str(given.get(k, k)).replace(" ", "_") for k in self._columns]
        for i, (k, label) in enumerate(zip(self._columns, labels, strict=True), 1):
            units = keys[k].get("units")
            lines.append(f"# Column.{i}: {label}" + (f" {units}" if units else ""))
        element = start.get("element", start.get("element_symbol"))
        edge = start.get("edge", start.get("element_edge"))
        if element:
            lines.append(f"# Element.symbol: {element}")
        if edge:
            lines.append(f"# Element.edge: {edge}")
        if start.get("d_spacing"):
            lines.append(f"# Mono.d_spacing: {start['d_spacing']}")
        if isinstance(start.get("e0"), int | float):
            lines.append(f"# Scan.edge_energy: {float(start['e0']):.3f}")
        if start.get("beamline"):
            lines.append(f"# Beamline.name: {start['beamline']}")
        lines.append("# Scan.start_time: " + _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(start.get("time", 0))))
        if stop:
            lines.append("# Scan.end_time: " + _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(stop["time"])))
        lines.append(f"# Beamtwin.uid: {start['uid']}")
        lines.append(f"# Beamtwin.scan_id: {start.get('scan_id')}")
        lines.append(f"# Beamtwin.plan_name: {start.get('plan_name', '')}")
        lines.append(f"# Beamtwin.exit_status: {stop['exit_status'] if stop else 'incomplete'}")
        lines.append("# ///")
        lines.append("#----")
        lines.append("# " + " ".join(labels))
        for row in self._rows:
            lines.append(" ".join("nan" if v is None else repr(float(v)) for v in row))
        path.write_text("\n".join(lines) + "\n")
        self._paths.append(path)
        self._descriptor = None

    def close(self) -> list[Path]:
        """Finish (an unfinished run is written as it stands); return the files written."""
        if self._descriptor is not None:
            self._write(None)
        return list(self._paths)
