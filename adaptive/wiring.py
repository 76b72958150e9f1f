"""Wiring agents into experiments: per event (guarded), per run (campaigns), across runs (the catalog).

- **Per event** is ``acq.plans.ask_tell_scan``, the one mechanism; :class:`Guarded` wraps an
  agent for it so that an agent that raises ends the run cleanly (the data taken so far are
  kept, the run closes with success) and leaves a clear message in ``guard.error``, or, with
  ``on_error="raise"``, raises :class:`AgentError` naming the agent, the call and the point count.
- **Per run**: :func:`run_campaign` asks for the parameters of the next run, runs the plan that
  ``make_plan(params)`` builds, reduces the run's documents to a value, tells it (a failed run
  is told as failed, an aborted one as abandoned), checkpoints the agent, and repeats until
  the budget, the agent's end or ``converged``. Every suggestion and decision goes into the
  run's start metadata under ``adaptive``.
- **Across runs**: :func:`observations_from_catalog` turns stored runs into (x, y) pairs
  for an agent (e.g. clustering diffraction patterns across a sample library).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from adaptive.adjudication import Adjudicator
from adaptive.protocol import Agent, AgentError, Array

Documents = list[tuple[str, dict[str, Any]]]


class Guarded:
    """An agent made safe for per-event steering (``ask``/``tell`` as ``ask_tell_scan`` calls them)."""

    def __init__(self, agent: Agent, *, on_error: str = "stop", channels: Sequence[str] | None = None) -> None:
        if on_error not in ("stop", "raise"):
            raise ValueError(f"on_error must be 'stop' or 'raise', got {on_error!r}")
        self.agent = agent
        self.on_error = on_error
        self.channels = list(channels) if channels else None
        self.error: str | None = None
        self.latencies: list[float] = []

    def __repr__(self) -> str:
        return f"Guarded({self.agent.name})"

    def _fail(self, call: str, exc: Exception) -> None:
        msg = (f"agent {self.agent.name!r} raised in {call} after {len(self.agent.obs)} point(s): "
               f"{type(exc).__name__}: {exc}")
        self.error = msg
        if self.on_error == "raise":
            raise AgentError(msg) from exc

    def ask(self, n: int) -> Array:
        """The agent's points, or none (ending the run) once it has raised."""
        import time

        if self.error is not None:
            return np.zeros((0, self.agent.space.dim))
        t0 = time.perf_counter()
        try:
            pts = self.agent.ask(n)
        except Exception as exc:
            self._fail(f"ask({n})", exc)
            return np.zeros((0, self.agent.space.dim))
        self.latencies.append(time.perf_counter() - t0)
        return pts

    def dwell(self, x: ArrayLike) -> float:
        """The agent's count time for ``x`` (base times); 1 once it has raised or when it raises here."""
        if self.error is not None:
            return 1.0
        try:
            return float(self.agent.dwell(x))
        except Exception as exc:
            self._fail("dwell", exc)
            return 1.0

    def tell(self, x: ArrayLike, y: Any) -> None:
        """Tell the agent; values that are not finite are told as a failed point."""
        if self.error is not None:
            return
        try:
            values = np.asarray(y, dtype=float)
            if values.size and not np.all(np.isfinite(values)):
                self.agent.tell(x, None, status="failed")
            else:
                self.agent.tell(x, dict(zip(self.channels, values.ravel(), strict=True)) if self.channels else y)
        except Exception as exc:
            self._fail("tell", exc)


# -- per run ------------------------------------------------------------------------------

def event_table(docs: Iterable[tuple[str, dict[str, Any]]], stream: str = "primary") -> dict[str, list[Any]]:
    """The events of ``stream`` as columns: field → list of values (in order)."""
    streams: dict[str, str] = {}
    table: dict[str, list[Any]] = {}
    for name, doc in docs:
        if name == "descriptor":
            streams[doc["uid"]] = doc.get("name", "primary")
        elif name == "event" and streams.get(doc["descriptor"]) == stream:
            for k, v in doc["data"].items():
                table.setdefault(k, []).append(v)
        elif name == "event_page" and streams.get(doc["descriptor"]) == stream:
            for k, vs in doc["data"].items():
                table.setdefault(k, []).extend(vs)
    return table


def reduce_field(field: str, how: str | Callable[[Array], Any] = "max", stream: str = "primary"
                 ) -> Callable[[Documents], Any]:
    """A run reducer: the ``how`` (max, min, mean, sum, last or a function) of ``field`` over the run."""
    funcs: dict[str, Callable[[Array], Any]] = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum,
                                                  "last": lambda a: a[-1]}
    if isinstance(how, str) and how not in funcs:
        raise ValueError(f"how must be one of {sorted(funcs)} or a function, got {how!r}")
    fn = funcs[how] if isinstance(how, str) else how

    def reduce(docs: Documents) -> Any:
        table = event_table(docs, stream)
        if field not in table:
            raise KeyError(f"the run's {stream!r} stream has no field {field!r}; it has {sorted(table)}")
        return fn(np.asarray(table[field], dtype=float))

    return reduce


@dataclass
class Campaign:
    """What a per-run campaign did: one entry per run, and why it stopped."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    stopped_because: str = ""

    def values(self) -> list[Any]:
        """The reduced values of the runs that succeeded."""
        return [r["value"] for r in self.runs if r["status"] == "ok"]


def run_campaign(RE: Any, agent: Agent, make_plan: Callable[[Array], Any], reduce: Callable[[Documents], Any], *,
                 max_runs: int, converged: Callable[[Agent], bool] | None = None,
                 checkpoint: str | Path | None = None, md: dict[str, Any] | None = None) -> Campaign:
    """Run up to ``max_runs`` runs, each with the parameters the agent asks for (see the module docstring).

    With ``checkpoint``, the agent is saved after every run and, if the file exists when the
    campaign starts, resumed from it, so a stopped campaign continues where it was.
    """
    if not isinstance(max_runs, int) or max_runs < 1:
        raise ValueError(f"max_runs must be a positive integer, got {max_runs!r}")
    if checkpoint is not None and Path(checkpoint).exists():
        agent.load(checkpoint)
    campaign = Campaign()
    for _ in range(max_runs):
        if converged is not None and converged(agent):
            campaign.stopped_because = "converged"
            break
        points = agent.ask(1)
        if not len(points):
            campaign.stopped_because = "the agent has nothing more to ask"
            break
        params = points[0]
        decision = agent.record() if isinstance(agent, Adjudicator) else {"agent": agent.name,
                                                                          "decision": [params.tolist()]}
        run_md = {"adaptive": {"agent": agent.name, "ask": agent.n_asks, "params": params.tolist(), **decision},
                  **(md or {})}
        docs: Documents = []
        token = RE.subscribe(lambda n, d, docs=docs: docs.append((n, d)))
        entry: dict[str, Any] = {"params": params.tolist()}
        try:
            uids = RE(make_plan(params), **run_md)
            entry["uids"] = list(uids)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            RE.unsubscribe(token)
        stops = [d for n, d in docs if n == "stop"]
        exit_status = stops[-1]["exit_status"] if stops else ("fail" if "error" in entry else "success")
        if exit_status == "success" and "error" not in entry:
            try:
                entry["value"] = reduce(docs)
                entry["status"] = "ok"
            except Exception as exc:  # the run happened but its result cannot be used
                entry["error"] = f"reduce: {type(exc).__name__}: {exc}"
                entry["status"] = "failed"
        else:
            entry["status"] = "abandoned" if exit_status == "abort" else "failed"
        if entry["status"] == "ok":
            agent.tell(params, entry["value"])
        else:
            agent.tell(params, None, status=entry["status"])
        campaign.runs.append(entry)
        if checkpoint is not None:
            agent.save(checkpoint)
    else:
        campaign.stopped_because = f"budget of {max_runs} runs"
    return campaign


# -- across runs --------------------------------------------------------------------------

def observations_from_catalog(catalog: Any, x_fields: Sequence[str], y_field: str | Sequence[str], *,
                              where: Callable[[dict[str, Any]], bool] | None = None, stream: str = "primary",
                              reduce: str = "mean") -> tuple[Array, list[Any], list[str]]:
    """(x, y, uids) from every stored run in ``catalog`` that ``where(start)`` accepts.

    ``x`` are the run's ``x_fields`` (start-metadata keys, or stream fields averaged over the
    run); ``y`` is ``y_field`` from the stream: one field reduced over events ("mean", "sum",
    "last") or kept whole ("series": e.g. a diffraction pattern scanned point by point), or
    several fields as a vector (a pattern). Runs that did not succeed are skipped.
    """
    xs: list[list[float]] = []
    ys: list[Any] = []
    uids: list[str] = []
    funcs: dict[str, Callable[[Array], Any]] = {"mean": np.mean, "sum": np.sum, "last": lambda a: a[-1],
                                                "series": lambda a: a}
    if reduce not in funcs:
        raise ValueError(f"reduce must be one of {sorted(funcs)}, got {reduce!r}")
    for run in catalog.runs():
        start, stop = run.metadata["start"], run.metadata["stop"]
        if stop.get("exit_status") != "success" or (where is not None and not where(start)):
            continue
        ds = run.stream(stream)
        x = [float(start[f]) if f in start else float(np.mean(ds[f].values)) for f in x_fields]
        if isinstance(y_field, str):
            values = np.asarray(ds[y_field].values, dtype=float)
            y: Any = values.reshape(len(values), -1).mean(axis=0) if values.ndim > 1 else funcs[reduce](values)
        else:
            y = np.array([funcs[reduce](np.asarray(ds[f].values, dtype=float)) for f in y_field])
        xs.append(x)
        ys.append(y)
        uids.append(run.uid)
    return np.asarray(xs, dtype=float).reshape(-1, len(x_fields)), ys, uids
