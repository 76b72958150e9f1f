"""The agent protocol: ``tell(x, y)``, ``ask(n)``, ``report()``, ``save(path)`` / ``load(path)``;
``dwell(x)``, the count time an agent asks for at a point it suggested (1: the task's base time).

An agent knows nothing of the engine or of Channel Access: it is told points and values
and asked for points. Every agent here derives from :class:`Agent`, which keeps the
observations (several channels, optional uncertainty, points told as failed or abandoned),
the points asked but not yet told (pending), the search box and its forbidden regions, and
a seed. Random numbers are keyed by (seed, number of asks), so an agent restored from its
checkpoint asks exactly the points that one which never stopped would ask.

An agent that has a model of what it measures may also offer :class:`Predictor`'s
``predict(points) -> values`` (scikit-learn's name): its reconstruction, e.g. a GP's posterior
mean, in the objective's units. It is optional; the harness judges a map by it when present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
STATUSES = ("ok", "failed", "abandoned")


@runtime_checkable
class Predictor(Protocol):
    """An optional capability: the agent's model of the objective channel, its reconstruction.

    ``predict(points)`` takes points (n, d) in the box and returns (n,) values in the objective's
    units (for a GP, its posterior mean). It must not change what the agent asks next.
    """

    def predict(self, points: ArrayLike) -> Array:
        """The model's values at ``points`` (n, d), shape (n,)."""
        ...


class AgentError(RuntimeError):
    """An agent raised while asked or told; the message names the agent and the call."""


def as_bounds(bounds: ArrayLike) -> Array:
    """``bounds`` as a (d, 2) float array of [low, high] rows, checked."""
    b = np.atleast_2d(np.asarray(bounds, dtype=float))
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise ValueError(f"bounds must be a list of [low, high] pairs, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"bounds must be finite, got {b.tolist()}")
    bad = np.flatnonzero(b[:, 1] <= b[:, 0])
    if bad.size:
        raise ValueError(f"bounds: dimension(s) {bad.tolist()} have high <= low ({b[bad].tolist()})")
    return b


class Space:
    """A box with optional forbidden boxes inside it; points in unit coordinates map to it."""

    def __init__(self, bounds: ArrayLike, forbidden: Sequence[ArrayLike] = ()) -> None:
        self.bounds = as_bounds(bounds)
        self.forbidden = [as_bounds(f) for f in forbidden]
        for f in self.forbidden:
            if f.shape != self.bounds.shape:
                raise ValueError(f"a forbidden region must have the bounds' shape {self.bounds.shape}, got {f.shape}")

    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return int(self.bounds.shape[0])

    @property
    def span(self) -> Array:
        """High minus low, per dimension."""
        return self.bounds[:, 1] - self.bounds[:, 0]

    def to_unit(self, x: ArrayLike) -> Array:
        """Points in the box → points in [0, 1]^d."""
        return (np.atleast_2d(np.asarray(x, dtype=float)) - self.bounds[:, 0]) / self.span

    def from_unit(self, u: ArrayLike) -> Array:
        """Points in [0, 1]^d → points in the box."""
        return self.bounds[:, 0] + np.atleast_2d(np.asarray(u, dtype=float)) * self.span

    def allowed(self, x: ArrayLike) -> NDArray[np.bool_]:
        """Which of the points ``x`` (n, d) lie in the box and outside every forbidden region."""
        pts = np.atleast_2d(np.asarray(x, dtype=float))
        ok = np.all((pts >= self.bounds[:, 0]) & (pts <= self.bounds[:, 1]), axis=1)
        for f in self.forbidden:
            ok &= ~np.all((pts > f[:, 0]) & (pts < f[:, 1]), axis=1)
        return np.asarray(ok, dtype=bool)

    def config(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"bounds": self.bounds.tolist(), "forbidden": [f.tolist() for f in self.forbidden]}


class Observations:
    """What an agent has been told: points, values per channel, uncertainties, status."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.x: list[list[float]] = []
        self.y: list[list[float]] = []
        self.sigma: list[list[float] | None] = []
        self.status: list[str] = []
        self.channels: list[str] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def add(self, x: Array, y: list[float], sigma: list[float] | None, status: str) -> None:
        """Append one observation (already checked)."""
        self.x.append([float(v) for v in x])
        self.y.append(y)
        self.sigma.append(sigma)
        self.status.append(status)

    def ok_mask(self) -> NDArray[np.bool_]:
        """Which observations were measured (status ok)."""
        return np.array([s == "ok" for s in self.status], dtype=bool)

    def X(self, ok_only: bool = True) -> Array:
        """The points, (n, d)."""
        arr = np.asarray(self.x, dtype=float).reshape(-1, self.dim)
        return arr[self.ok_mask()] if ok_only else arr

    def Y(self, channel: int = 0) -> Array:
        """The values of one channel at the measured points, (n,)."""
        if not self.y:
            return np.zeros(0)
        mask = self.ok_mask()
        return np.array([row[channel] for row, m in zip(self.y, mask, strict=True) if m], dtype=float)

    def Ymatrix(self) -> Array:
        """Every channel at the measured points, (n, c)."""
        rows = [row for row, m in zip(self.y, self.ok_mask(), strict=True) if m]
        return np.asarray(rows, dtype=float) if rows else np.zeros((0, 0))

    def state(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"x": self.x, "y": self.y, "sigma": self.sigma, "status": self.status, "channels": self.channels}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state`."""
        self.x = [list(map(float, r)) for r in state["x"]]
        self.y = [list(map(float, r)) for r in state["y"]]
        self.sigma = [None if s is None else list(map(float, s)) for s in state["sigma"]]
        self.status = list(state["status"])
        self.channels = None if state["channels"] is None else list(state["channels"])


def _values(y: Any, channels: list[str] | None) -> tuple[list[float], list[str] | None]:
    """``y`` (scalar, sequence or {channel: value}) as a flat list, with channel names if any."""
    if isinstance(y, Mapping):
        names = list(y) if channels is None else channels
        missing = [c for c in names if c not in y]
        if missing:
            raise ValueError(f"tell: y lacks channel(s) {missing}; this agent was told {names} before")
        return [float(np.asarray(y[c], dtype=float)) for c in names], names
    arr = np.atleast_1d(np.asarray(y, dtype=float)).ravel()
    return [float(v) for v in arr], channels


class Agent:
    """Base class of every agent: bookkeeping, checks, seeding and checkpoints.

    Subclasses implement :meth:`_suggest` (``n`` points in the box, given the observations
    and the pending points) and may extend :meth:`report`. ``objective`` picks the channel
    (index or name) that optimising agents use; ``minimize`` flips its sign.
    """

    name: ClassVar[str] = "agent"

    def __init__(self, bounds: ArrayLike, *, seed: int = 0, forbidden: Sequence[ArrayLike] = (),
                 objective: int | str = 0, minimize: bool = False) -> None:
        self.space = Space(bounds, forbidden)
        self.seed = int(seed)
        self.objective = objective
        self.minimize = bool(minimize)
        self.obs = Observations(self.space.dim)
        self.pending: list[list[float]] = []
        self.n_asks = 0

    # -- configuration and state ---------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready); subclasses add theirs."""
        return {**self.space.config(), "seed": self.seed, "objective": self.objective, "minimize": self.minimize}

    def state(self) -> dict[str, Any]:
        """Everything learned since construction (JSON-ready)."""
        return {"obs": self.obs.state(), "pending": self.pending, "n_asks": self.n_asks}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        self.obs.restore(state["obs"])
        self.pending = [list(map(float, p)) for p in state["pending"]]
        self.n_asks = int(state["n_asks"])

    def save(self, path: str | Path) -> None:
        """Write a checkpoint (JSON, atomic rename) from which :meth:`load` resumes exactly."""
        path = Path(path)
        payload = {"agent": self.name, "config": self.config(), "state": self.state()}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, path)

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint written by an agent of the same kind and configuration."""
        payload = json.loads(Path(path).read_text())
        if payload.get("agent") != self.name:
            raise ValueError(f"{path}: a checkpoint of agent {payload.get('agent')!r}, not {self.name!r}")
        mine = json.loads(json.dumps(self.config()))
        if payload["config"] != mine:
            diff = sorted(k for k in set(mine) | set(payload["config"]) if mine.get(k) != payload["config"].get(k))
            raise ValueError(f"{path}: the checkpoint's configuration differs from this agent's in {diff}")
        self.restore(payload["state"])

    # -- the protocol --------------------------------------------------------------------
    def rng(self, salt: int = 0) -> np.random.Generator:
        """A generator keyed by (seed, number of asks, salt): the same after a restore."""
        return np.random.default_rng([self.seed, self.n_asks, salt])

    def tell(self, x: ArrayLike, y: Any, *, sigma: Any = None, status: str = "ok") -> None:
        """Report ``y`` measured at ``x``: a number, several channels (sequence or dict), with
        optional uncertainty ``sigma`` (same shape); ``status`` "failed" or "abandoned" marks a
        point that yielded no value (``y`` is then ignored and may be None)."""
        if status not in STATUSES:
            raise ValueError(f"tell: status must be one of {STATUSES}, got {status!r}")
        point = np.asarray(x, dtype=float).ravel()
        if point.shape != (self.space.dim,):
            raise ValueError(f"tell: x must have {self.space.dim} coordinate(s), got shape {point.shape}")
        if status == "ok":
            values, names = _values(y, self.obs.channels)
            if self.obs.y and len(values) != len(self.obs.y[0]):
                raise ValueError(f"tell: y has {len(values)} channel(s), earlier values had {len(self.obs.y[0])}")
            if not np.all(np.isfinite(values)):
                raise ValueError(f"tell: y must be finite (tell a point without a value as status='failed'), got {y!r}")
            self.obs.channels = names
            sig = None if sigma is None else _values(sigma, names)[0]
            if sig is not None and len(sig) != len(values):
                raise ValueError(f"tell: sigma has {len(sig)} value(s) for {len(values)} channel(s)")
        else:
            values = [float("nan")] * (len(self.obs.y[0]) if self.obs.y else 1)
            sig = None
        self.obs.add(point, values, sig, status)
        self._drop_pending(point)

    def tell_many(self, xs: ArrayLike, ys: Sequence[Any]) -> None:
        """Tell several measured points at once."""
        pts = np.atleast_2d(np.asarray(xs, dtype=float))
        if len(pts) != len(ys):
            raise ValueError(f"tell_many: {len(pts)} points but {len(ys)} values")
        for p, v in zip(pts, ys, strict=True):
            self.tell(p, v)

    def ask(self, n: int = 1) -> Array:
        """The next ``n`` points to measure, shape (n, d) — fewer (maybe none) when the agent is done."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"ask: n must be a positive integer, got {n!r}")
        pts = np.atleast_2d(np.asarray(self._suggest(int(n)), dtype=float)).reshape(-1, self.space.dim)
        pts = np.clip(pts, self.space.bounds[:, 0], self.space.bounds[:, 1])
        bad = ~self.space.allowed(pts)
        if bad.any():
            raise AgentError(f"{self.name} suggested point(s) in a forbidden region: {pts[bad].tolist()}")
        self.n_asks += 1
        self.pending.extend(p.tolist() for p in pts)
        return np.asarray(pts, dtype=float)

    def dwell(self, x: ArrayLike) -> float:
        """How long to count at ``x`` (a point this agent suggested), in units of the task's base count
        time: 1 here; agents that allocate counting time (e.g. the slope agent's ``dwell_budget``) say more."""
        return 1.0

    def report(self) -> dict[str, Any]:
        """A summary: counts and the best measured point so far (for the objective channel)."""
        out: dict[str, Any] = {"agent": self.name, "n_told": len(self.obs), "n_ok": int(self.obs.ok_mask().sum()),
                               "n_failed": self.obs.status.count("failed"),
                               "n_abandoned": self.obs.status.count("abandoned"), "n_pending": len(self.pending),
                               "n_asks": self.n_asks}
        y = self.objective_values()
        if y.size:
            i = int(np.argmin(y) if self.minimize else np.argmax(y))
            out["best_x"] = self.obs.X()[i].tolist()
            out["best_y"] = float(y[i])
        return out

    # -- helpers for subclasses ----------------------------------------------------------
    def channel_index(self) -> int:
        """The index of the objective channel."""
        if isinstance(self.objective, str):
            if self.obs.channels is None or self.objective not in self.obs.channels:
                raise ValueError(f"objective channel {self.objective!r} is not among the told channels "
                                 f"{self.obs.channels}")
            return self.obs.channels.index(self.objective)
        return int(self.objective)

    def objective_values(self) -> Array:
        """The objective channel at the measured points (raw, not sign-flipped)."""
        if not int(self.obs.ok_mask().sum()):
            return np.zeros(0)
        return self.obs.Y(self.channel_index())

    def failed_points(self) -> Array:
        """Points told as failed or abandoned, (m, d)."""
        arr = self.obs.X(ok_only=False)
        return arr[~self.obs.ok_mask()] if len(arr) else arr

    def pending_points(self) -> Array:
        """Points asked for and not yet told, (m, d)."""
        return np.asarray(self.pending, dtype=float).reshape(-1, self.space.dim)

    def _drop_pending(self, point: Array) -> None:
        for i, p in enumerate(self.pending):
            if np.allclose(p, point, rtol=0, atol=1e-9 * float(np.max(self.space.span))):
                del self.pending[i]
                return

    def _suggest(self, n: int) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement _suggest(n)")
