"""External data (camera frames in HDF5 files) named by resource/datum or stream_resource/stream_datum.

The run file records the resource documents (with their paths) and the datum documents;
the data themselves stay in their HDF5 files and are read only when a value is computed:
``lazy_column`` gives a dask array whose chunks open the file on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dask.array as _dask_array
import numpy as np
from dask.delayed import delayed

da: Any = _dask_array  # dask's array API is untyped

DEFAULT_DATASET = "/entry/data/data"
HDF5_SPECS = {"AD_HDF5", "AD_HDF5_SWMR", "AD_HDF5_SWMR_STREAM", "HDF5"}
HDF5_MIMETYPES = {"application/x-hdf5", "application/x-hdf5-swmr"}


def resource_path(resource: dict[str, Any]) -> Path:
    """The file a resource (or stream_resource) names."""
    if "uri" in resource:
        return Path(urlparse(resource["uri"]).path)
    root = resource.get("root", "") or ""
    return Path(root) / resource["resource_path"] if root else Path(resource["resource_path"])


def _read(path: Path, dataset: str, start: int, stop: int) -> np.ndarray:
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"external data file {path} (referenced by the run) does not exist")
    with h5py.File(path, "r", swmr=True) as f:
        return np.asarray(f[dataset][start:stop])


def _probe(path: Path, dataset: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"external data file {path} (referenced by the run) does not exist")
    with h5py.File(path, "r", swmr=True) as f:
        ds = f[dataset]
        return tuple(ds.shape[1:]), np.dtype(ds.dtype)


def _slices_from_datums(resources: dict[str, dict[str, Any]], datums: dict[str, dict[str, Any]],
                        datum_ids: list[str]) -> list[tuple[Path, str, int, int, bool]]:
    out = []
    for did in datum_ids:
        datum = datums.get(did)
        if datum is None:
            raise KeyError(f"datum {did!r} is not in the run")
        res = resources[datum["resource"]]
        if res.get("spec") not in HDF5_SPECS:
            raise ValueError(f"no handler for resource spec {res.get('spec')!r} (known: {sorted(HDF5_SPECS)})")
        kw = res.get("resource_kwargs", {})
        fpp = int(kw.get("frame_per_point", 1))
        point = int(datum.get("datum_kwargs", {}).get("point_number", 0))
        out.append((resource_path(res), str(kw.get("dataset", DEFAULT_DATASET)), point * fpp, (point + 1) * fpp,
                    fpp == 1))
    return out


def lazy_from_datums(resources: dict[str, dict[str, Any]], datums: dict[str, dict[str, Any]],
                     datum_ids: list[str]) -> Any:
    """A dask array with one block per datum (frames read from HDF5 only when computed)."""
    slices = _slices_from_datums(resources, datums, datum_ids)
    if not slices:
        return da.zeros((0,))
    shape, dtype = _probe(slices[0][0], slices[0][1])
    blocks = []
    for path, dataset, start, stop, squeeze in slices:
        frames = da.from_delayed(delayed(_read)(path, dataset, start, stop), (stop - start, *shape), dtype)
        blocks.append(frames[0] if squeeze else frames)
    return da.stack(blocks)


def lazy_from_stream_datums(stream_resources: dict[str, dict[str, Any]], stream_datums: list[dict[str, Any]],
                            seq_nums: list[int]) -> Any:
    """A dask array of one data key of a stream, rows matching ``seq_nums`` (None if not all covered)."""
    pieces: dict[int, tuple[Path, str, int]] = {}
    for sd in stream_datums:
        res = stream_resources[sd["stream_resource"]]
        if res.get("mimetype") not in HDF5_MIMETYPES:
            raise ValueError(f"no handler for mimetype {res.get('mimetype')!r} (known: {sorted(HDF5_MIMETYPES)})")
        dataset = str(res.get("parameters", {}).get("dataset", DEFAULT_DATASET))
        first, last = sd["seq_nums"]["start"], sd["seq_nums"]["stop"]
        index = sd["indices"]["start"]
        for s in range(first, last):
            pieces[s] = (resource_path(res), dataset, index + (s - first))
    if not seq_nums or any(s not in pieces for s in seq_nums):
        return None
    shape, dtype = _probe(pieces[seq_nums[0]][0], pieces[seq_nums[0]][1])
    rows = [da.from_delayed(delayed(_read)(p, d, i, i + 1), (1, *shape), dtype)[0]
            for p, d, i in (pieces[s] for s in seq_nums)]
    return da.stack(rows)
