"""Cross-run phase mapping: cluster measured patterns (scikit-learn), measure where labels are uncertain.

Told ``x`` = a sample position (or any coordinates of a run) and ``y`` = a pattern (a
diffraction pattern, a spectrum: many channels). The patterns are normalised and
decomposed (NMF weights, or the patterns themselves), then clustered (k-means or a Gaussian
mixture) into ``n_clusters`` phases. ``ask`` chooses among ``candidates`` (e.g. the positions
of a sample library) the unmeasured ones whose phase is least certain: where the nearest
measured neighbours disagree, or where no measured point is near.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.mixture import GaussianMixture

from adaptive.protocol import Agent, Array


class ClusterAgent(Agent):
    """Phase labels by clustering; next measurements where the labels are uncertain."""

    name: ClassVar[str] = "cluster"

    def __init__(self, bounds: ArrayLike, *, candidates: ArrayLike, n_clusters: int = 3, method: str = "kmeans",
                 n_components: int | None = None, n_init: int = 4, neighbours: int = 6, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        if method not in ("kmeans", "gmm", "nmf"):
            raise ValueError(f"method must be 'kmeans', 'gmm' or 'nmf', got {method!r}")
        cand = np.atleast_2d(np.asarray(candidates, dtype=float))
        if cand.shape[1] != self.space.dim or not len(cand):
            raise ValueError(f"candidates must be (n, {self.space.dim}) positions, got shape {cand.shape}")
        if not self.space.allowed(cand).all():
            raise ValueError("every candidate must lie in the bounds and outside the forbidden regions")
        if n_clusters < 2:
            raise ValueError(f"n_clusters must be at least 2, got {n_clusters}")
        self.candidates = cand
        self.n_clusters = int(n_clusters)
        self.method = method
        self.n_components = int(n_components or n_clusters)
        self.n_init = int(n_init)
        self.neighbours = int(neighbours)

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "candidates": self.candidates.tolist(), "n_clusters": self.n_clusters,
                "method": self.method, "n_components": self.n_components, "n_init": self.n_init,
                "neighbours": self.neighbours}

    # -- clustering ----------------------------------------------------------------------
    def features(self) -> Array:
        """The measured patterns, normalised to unit area (and NMF weights for method 'nmf')."""
        patterns = self.obs.Ymatrix()
        if not patterns.size:
            return patterns
        patterns = np.clip(patterns, 0.0, None)
        norm = patterns / np.maximum(patterns.sum(axis=1, keepdims=True), 1e-12)
        if self.method == "nmf":
            k = min(self.n_components, len(norm))
            w = NMF(n_components=k, init="nndsvda", random_state=self.seed, max_iter=500).fit_transform(norm)
            return np.asarray(w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12), dtype=float)
        return np.asarray(norm, dtype=float)

    def labels(self) -> NDArray[np.int_]:
        """Phase labels of the measured points (order of telling, failed ones excluded)."""
        feats = self.features()
        if len(feats) < self.n_clusters:
            return np.arange(len(feats))
        if self.method == "gmm":
            gmm = GaussianMixture(self.n_clusters, covariance_type="diag", random_state=self.seed, n_init=3)
            return np.asarray(gmm.fit_predict(feats))
        return np.asarray(KMeans(self.n_clusters, n_init=self.n_init, random_state=self.seed).fit_predict(feats))

    def predict_labels(self, points: ArrayLike) -> NDArray[np.int_]:
        """Phase labels at ``points``: the majority among the nearest measured neighbours."""
        labels = self.labels()
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        if not len(labels):
            return np.zeros(len(pts), dtype=int)
        votes = self._votes(pts, labels)
        return np.asarray(np.argmax(votes, axis=1))

    def _votes(self, pts: Array, labels: NDArray[np.int_]) -> Array:
        measured = self.space.to_unit(self.obs.X())
        tree = cKDTree(measured)
        k = min(self.neighbours, len(measured))
        dist, idx = tree.query(self.space.to_unit(pts), k=k)
        dist, idx = np.atleast_2d(dist.reshape(len(pts), -1)), np.atleast_2d(idx.reshape(len(pts), -1))
        weights = 1.0 / np.maximum(dist, 1e-9) ** 2
        votes = np.zeros((len(pts), int(labels.max()) + 1))
        for j in range(k):
            np.add.at(votes, (np.arange(len(pts)), labels[idx[:, j]]), weights[:, j])
        return votes

    def report(self) -> dict[str, Any]:
        """Counts plus the labels of the measured points."""
        return {**super().report(), "labels": self.labels().tolist()}

    # -- suggestions ---------------------------------------------------------------------
    def _suggest(self, n: int) -> Array:
        taken = np.concatenate([self.obs.X(ok_only=False), self.pending_points()])
        free = np.ones(len(self.candidates), dtype=bool)
        if len(taken):
            d, _ = cKDTree(taken).query(self.candidates)
            free = d > 1e-9
        idx_free = np.flatnonzero(free)
        if not len(idx_free):
            return np.zeros((0, self.space.dim))
        cand_u = self.space.to_unit(self.candidates[idx_free])
        taken_u = self.space.to_unit(taken) if len(taken) else np.zeros((0, self.space.dim))
        if len(self.obs.X()) < max(2 * self.n_clusters, 8):  # space-filling start: farthest points first
            return self.candidates[idx_free[_farthest(cand_u, taken_u, n, self.rng())]]
        votes = self._votes(self.candidates[idx_free], self.labels())
        p = votes / votes.sum(axis=1, keepdims=True)
        entropy = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
        dist, _ = cKDTree(taken_u).query(cand_u)
        score = entropy + dist / max(float(dist.max()), 1e-12)
        chosen: list[int] = []
        for _ in range(min(n, len(idx_free))):
            i = int(np.argmax(score))
            chosen.append(i)
            score = score - np.exp(-(np.linalg.norm(cand_u - cand_u[i], axis=1) / 0.05) ** 2) * (score.max() + 1)
        return self.candidates[idx_free[chosen]]


def _farthest(cand: Array, taken: Array, n: int, rng: np.random.Generator) -> list[int]:
    """Indices of ``n`` candidates chosen greedily farthest from ``taken`` and each other."""
    if len(taken):
        dmin = cKDTree(taken).query(cand)[0]
    else:
        dmin = np.full(len(cand), np.inf)
        dmin[rng.integers(len(cand))] = 1e9
    out: list[int] = []
    for _ in range(min(n, len(cand))):
        i = int(np.argmax(dmin))
        out.append(i)
        dmin = np.minimum(dmin, np.linalg.norm(cand - cand[i], axis=1))
        dmin[i] = -1.0
    return out
