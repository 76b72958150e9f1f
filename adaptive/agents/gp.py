"""A Gaussian-process surrogate with gpytorch: ARD Matérn-5/2, inputs in the unit cube, outputs standardised.

Hyperparameters are fitted by maximum a posteriori with L-BFGS-B (scipy) from a fixed start
or from a given one (the previous fit's, kept in the agent's state), in float64 on one thread,
so that the same data and start always give the same model. The lengthscale prior scales with
the dimension (log-normal, Hvarfner et al. 2024), which keeps a 6-D problem from being modelled
as noise; lengthscales are capped at 2 (unit cube) so that no input is taken as irrelevant.
Conditioning on extra points with fixed hyperparameters gives the "believer" fantasies used
for batches and pending points.
"""

from __future__ import annotations

import math
from typing import Any, cast

import gpytorch
import numpy as np
import torch
from scipy.optimize import minimize

from adaptive.protocol import Array

DTYPE = torch.float64
LENGTHSCALE_MAX = 2.0  # in the unit cube: no input is modelled as irrelevant
LS_MIN = 2.5e-2  # the shortest lengthscale (unit cube)


_ONE_THREAD = False


def one_thread() -> None:
    """One torch thread and one BLAS thread per process, so that parallel workers do not fight
    for the cores (an idle BLAS thread pool spinning on a busy machine made every small L-BFGS-B
    step cost milliseconds)."""
    global _ONE_THREAD
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    if not _ONE_THREAD:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        _ONE_THREAD = True


KERNELS = ("matern", "rbf")


def lengthscale_prior(dim: int) -> tuple[float, float]:
    """Location and scale of the log-normal lengthscale prior in ``dim`` dimensions (Hvarfner et al. 2024)."""
    return math.sqrt(2.0) + 0.5 * math.log(dim), math.sqrt(3.0)


class _ExactGP(gpytorch.models.ExactGP):  # type: ignore[misc]
    def __init__(self, x: torch.Tensor, y: torch.Tensor, likelihood: Any, dim: int, kernel: str = "matern",
                 ls_max: float = LENGTHSCALE_MAX) -> None:
        super().__init__(x, y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        loc, scale = lengthscale_prior(dim)
        kern = gpytorch.kernels.RBFKernel if kernel == "rbf" else gpytorch.kernels.MaternKernel
        kw = {} if kernel == "rbf" else {"nu": 2.5}
        self.covar_module = kern(
            **kw, ard_num_dims=dim,
            lengthscale_prior=gpytorch.priors.LogNormalPrior(loc, scale),
            lengthscale_constraint=gpytorch.constraints.Interval(LS_MIN, ls_max))

    def forward(self, x: torch.Tensor) -> Any:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class GP:
    """A fitted GP on points ``x`` (n, d) in [0, 1]^d and values ``y`` (n,).

    ``noise`` fixes the observation noise variance (in standardised units) instead of fitting it;
    ``sigma`` gives per-point standard deviations (raw units), added to the fitted noise;
    ``kernel`` is "matern" (ARD Matérn-5/2) or "rbf" (ARD squared exponential). ``start`` warm-starts
    the fit from an earlier fit's :meth:`raw_vector`; ``ftol`` (L-BFGS-B's relative loss change
    at which to stop; scipy's default when None) lets a warm fit stop early; ``ls_max`` caps the
    lengthscales (unit cube). ``fit_starts`` > 1 fits again from the prior's mode and from random
    lengthscales (drawn with ``rng``) and keeps the highest posterior; ``loss`` is the fit's negative
    log posterior per point.
    """

    def __init__(self, x: Array, y: Array, *, noise: float | None = None, sigma: Array | None = None,
                 hypers: dict[str, Any] | None = None, start: list[float] | None = None,
                 kernel: str = "matern", ftol: float | None = None, ls_max: float = LENGTHSCALE_MAX,
                 fit_starts: int = 1, rng: np.random.Generator | None = None) -> None:
        one_thread()
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
        self.kernel = kernel
        self.ls_max = float(ls_max)
        if len(x) < 1:
            raise ValueError("a GP needs at least one measured point")
        self.dim = x.shape[1]
        self.y_mean = float(np.mean(y))
        self.y_std = float(np.std(y)) if len(y) > 1 and np.std(y) > 0 else 1.0
        self.x = torch.as_tensor(x, dtype=DTYPE)
        self.y = torch.as_tensor((y - self.y_mean) / self.y_std, dtype=DTYPE)
        self.fixed_noise = noise
        if sigma is not None:
            extra = torch.as_tensor((np.asarray(sigma, dtype=float) / self.y_std) ** 2, dtype=DTYPE)
            self.likelihood: Any = gpytorch.likelihoods.FixedNoiseGaussianLikelihood(
                noise=extra.clamp_min(1e-6), learn_additional_noise=noise is None)
        else:
            self.likelihood = gpytorch.likelihoods.GaussianLikelihood(
                noise_prior=gpytorch.priors.LogNormalPrior(-4.0, 1.0),
                noise_constraint=gpytorch.constraints.GreaterThan(1e-6))
            if noise is not None:
                self.likelihood.noise = max(noise, 1e-6)
                self.likelihood.raw_noise.requires_grad_(False)
        self.model = _ExactGP(self.x, self.y, self.likelihood, self.dim, kernel, self.ls_max).to(DTYPE)
        self.likelihood.to(DTYPE)
        if hypers is None:
            self._init_hypers()
            prior_mode = np.asarray(self.raw_vector())
            if start is not None and len(start) == len(prior_mode):
                self._assign(np.asarray(start, dtype=float))  # warm start from an earlier fit
            self.loss = self._fit(ftol=ftol)
            if fit_starts > 1:  # more starts: the prior's mode (if warm-started) and random lengthscales
                self.loss = self._more_starts(fit_starts - 1, prior_mode, start is not None, self.loss,
                                              rng if rng is not None else np.random.default_rng(len(self.x)))
        else:
            self.set_hypers(hypers)
        self.model.eval()
        self.likelihood.eval()

    # -- hyperparameters -----------------------------------------------------------------
    def _init_hypers(self) -> None:
        loc = lengthscale_prior(self.dim)[0]
        start = min(math.exp(loc - 3.0), 0.9 * self.ls_max)  # inside the cap, however low it is
        self._base_kernel().lengthscale = start * torch.ones(self.dim, dtype=DTYPE)
        self.model.mean_module.constant.data.fill_(0.0)
        if self.fixed_noise is None and isinstance(self.likelihood, gpytorch.likelihoods.GaussianLikelihood):
            self.likelihood.noise = 1e-3

    def _base_kernel(self) -> Any:
        k = self.model.covar_module
        return k.base_kernel if hasattr(k, "base_kernel") else k

    def _prior_var(self) -> torch.Tensor:
        k = self.model.covar_module
        return k.outputscale.detach() if hasattr(k, "outputscale") else torch.ones((), dtype=DTYPE)

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _assign(self, vec: np.ndarray[Any, Any]) -> None:
        i = 0
        for p in self._params():
            k = p.numel()
            p.data.copy_(torch.as_tensor(vec[i:i + k], dtype=DTYPE).reshape(p.shape))
            i += k

    def raw_vector(self) -> list[float]:
        """The fitted raw hyperparameters, flat (a warm start for the next fit)."""
        return [float(v) for v in torch.cat([p.detach().reshape(-1) for p in self._params()])]

    def _more_starts(self, n: int, prior_mode: np.ndarray[Any, Any], warm: bool, loss: float,
                     rng: np.random.Generator) -> float:
        """Fit again from ``n`` more starts and keep the highest posterior: from the prior's mode
        first when the first fit was warm-started, then with lengthscales log-uniform under the cap."""
        best, best_vec = loss, np.asarray(self.raw_vector())
        ls = self._base_kernel()
        low, high = math.log(2 * LS_MIN), math.log(0.9 * self.ls_max)
        for i in range(n):
            self._assign(prior_mode)
            if i or not warm:
                ls.lengthscale = torch.as_tensor(np.exp(rng.uniform(low, high, self.dim)), dtype=DTYPE)
            value = self._fit()
            if value < best:
                best, best_vec = value, np.asarray(self.raw_vector())
        self._assign(best_vec)
        return best

    def _fit(self, maxiter: int = 100, ftol: float | None = None) -> float:
        """Maximise the posterior from the current hyperparameters; returns the final loss."""
        params = self._params()
        sizes = [p.numel() for p in params]
        assign = self._assign

        def neg_log_posterior() -> torch.Tensor:
            n = len(self.x)
            xs = self.x / self._base_kernel().lengthscale.reshape(-1)
            k = kernel_matrix(xs, xs, self.kernel) * self._prior_var()
            noise = self.likelihood.noise_covar.noise.reshape(-1)
            k = k + torch.diag(noise.expand(n) if noise.numel() == 1 else noise)
            chol = torch.linalg.cholesky(k + 1e-9 * torch.eye(n, dtype=DTYPE))
            resid = (self.y - self.model.mean_module.constant).unsqueeze(-1)
            alpha = torch.cholesky_solve(resid, chol)
            nll = 0.5 * (resid * alpha).sum() + torch.log(torch.diagonal(chol)).sum()
            for _, module, prior, closure, _ in self.model.named_priors():
                nll = nll - prior.log_prob(closure(module)).sum()
            for _, module, prior, closure, _ in self.likelihood.named_priors():
                nll = nll - prior.log_prob(closure(module)).sum()
            return cast(torch.Tensor, nll / n)

        def loss_and_grad(vec: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
            assign(vec)
            for p in params:
                p.grad = None
            try:
                loss = neg_log_posterior()
            except Exception:  # not positive definite: steer the optimiser away
                return 1e10, np.zeros(sum(sizes))
            loss.backward()  # type: ignore[no-untyped-call]
            grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            value = float(loss.item())
            if not math.isfinite(value):
                return 1e10, np.zeros(sum(sizes))
            return value, grad.detach().numpy().astype(float)

        x0 = torch.cat([p.detach().reshape(-1) for p in params]).numpy().astype(float)
        bounds = [(-10.0, 10.0)] * len(x0)
        try:
            res = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": maxiter} | ({} if ftol is None else {"ftol": ftol}))
            assign(res.x)
            return float(res.fun)
        except Exception:  # a numerically hopeless fit keeps the prior-mode start
            assign(x0)
            return math.inf

    def hypers(self) -> dict[str, Any]:
        """The fitted hyperparameters (to build a believer model on more data)."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()} | {
            f"likelihood.{k}": v.detach().clone() for k, v in self.likelihood.state_dict().items()}

    def set_hypers(self, hypers: dict[str, Any]) -> None:
        """Use given hyperparameters (from :meth:`hypers`)."""
        model_part = {k: v for k, v in hypers.items() if not k.startswith("likelihood.")}
        self.model.load_state_dict(model_part, strict=False)
        if isinstance(self.likelihood, gpytorch.likelihoods.GaussianLikelihood):
            lik = {k[len("likelihood."):]: v for k, v in hypers.items() if k.startswith("likelihood.")}
            self.likelihood.load_state_dict(lik, strict=False)

    def lengthscales(self) -> list[float]:
        """The ARD lengthscales in unit-cube coordinates."""
        return [float(v) for v in self._base_kernel().lengthscale.detach().reshape(-1)]

    def condition(self, x_new: Array, y_new: Array) -> GP:
        """The same hyperparameters on the data plus ``(x_new, y_new)`` (raw units): a believer model."""
        x = np.concatenate([self.x.numpy(), x_new])
        y = np.concatenate([self.y.numpy() * self.y_std + self.y_mean, y_new])
        gp = GP.__new__(GP)
        gp.dim, gp.y_mean, gp.y_std, gp.fixed_noise = self.dim, self.y_mean, self.y_std, self.fixed_noise
        gp.kernel, gp.ls_max = self.kernel, self.ls_max
        gp.x = torch.as_tensor(x, dtype=DTYPE)
        gp.y = torch.as_tensor((y - self.y_mean) / self.y_std, dtype=DTYPE)
        if isinstance(self.likelihood, gpytorch.likelihoods.FixedNoiseGaussianLikelihood):
            base = self.likelihood.noise_covar.noise.detach()
            noise = torch.cat([base, base.min().expand(len(x_new))])
            gp.likelihood = gpytorch.likelihoods.FixedNoiseGaussianLikelihood(noise=noise).to(DTYPE)
            gp.model = _ExactGP(gp.x, gp.y, gp.likelihood, self.dim, self.kernel, self.ls_max).to(DTYPE)
            gp.model.load_state_dict(self.model.state_dict(), strict=False)
        else:
            gp.likelihood = gpytorch.likelihoods.GaussianLikelihood(
                noise_constraint=gpytorch.constraints.GreaterThan(1e-6)).to(DTYPE)
            gp.likelihood.noise = self.likelihood.noise.detach()
            gp.model = _ExactGP(gp.x, gp.y, gp.likelihood, self.dim, self.kernel, self.ls_max).to(DTYPE)
            gp.model.load_state_dict(self.model.state_dict(), strict=False)
        gp.model.eval()
        gp.likelihood.eval()
        return gp

    def believe(self, x: Array) -> GP:
        """This model conditioned on ``x`` at its own predicted mean (a kriging believer)."""
        return self.condition(x, self.predict(x)[0])

    # -- prediction ----------------------------------------------------------------------
    def _cache(self) -> tuple[torch.Tensor, torch.Tensor]:
        cached: tuple[torch.Tensor, torch.Tensor] | None = getattr(self, "_chol", None)
        if cached is None:
            with torch.no_grad():
                k = self.model.covar_module(self.x).to_dense()
                noise = self.likelihood.noise_covar.noise.detach().reshape(-1)
                k = k + torch.diag(noise.expand(len(self.x)) if noise.numel() == 1 else noise)
                chol = torch.linalg.cholesky(k + 1e-9 * torch.eye(len(self.x), dtype=DTYPE))
                resid = (self.y - self.model.mean_module.constant.detach()).unsqueeze(-1)
                alpha = torch.cholesky_solve(resid, chol).squeeze(-1)
            cached = (chol, alpha)
            self._chol = cached
        return cached

    def _cross(self, x: torch.Tensor) -> torch.Tensor:
        """The kernel's covariance between ``x`` and the data (matches ``covar_module(x, self.x)``)."""
        scaled: tuple[torch.Tensor, torch.Tensor] | None = getattr(self, "_scaled", None)
        if scaled is None:
            ls = self._base_kernel().lengthscale.detach().reshape(-1)
            scaled = (ls, self.x / ls)
            self._scaled = scaled
        ls, xs = scaled
        return kernel_matrix(x / ls, xs, self.kernel) * self._prior_var()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of the latent function, in standardised units (differentiable in ``x``)."""
        chol, alpha = self._cache()
        kx = self._cross(x)
        mean = self.model.mean_module.constant.detach() + kx @ alpha
        v = torch.linalg.solve_triangular(chol, kx.T, upper=False)
        var = (self._prior_var() - (v * v).sum(0)).clamp_min(1e-12)
        return mean, var.sqrt()

    def predict(self, x: Array) -> tuple[Array, Array]:
        """Mean and standard deviation at ``x`` (unit cube), in raw units."""
        out_m, out_s = [], []
        with torch.no_grad():
            for chunk in np.array_split(x, max(1, len(x) // 4096 + 1)):
                if not len(chunk):
                    continue
                m, s = self.posterior(torch.as_tensor(chunk, dtype=DTYPE))
                out_m.append(m.numpy() * self.y_std + self.y_mean)
                out_s.append(s.numpy() * self.y_std)
        return np.concatenate(out_m), np.concatenate(out_s)

    def best_standardised(self) -> float:
        """The largest standardised value observed."""
        return float(self.y.max())


def kernel_matrix(a: torch.Tensor, b: torch.Tensor, kernel: str) -> torch.Tensor:
    """Matérn-5/2 or RBF covariance of points already divided by their lengthscales, in plain torch
    (gpytorch's lazy tensors cost more than the arithmetic at these sizes); differentiable."""
    sq = ((a * a).sum(-1, keepdim=True) - 2.0 * a @ b.T + (b * b).sum(-1)).clamp_min(0.0)
    if kernel == "rbf":
        return torch.exp(-0.5 * sq)
    r = math.sqrt(5.0) * (sq + 1e-30).sqrt()
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


TRANSFORMS = ("standardise", "power", "copula")


def warp_outputs(y: Array, transform: str) -> Array:
    """Monotone output warping before the GP: "standardise" (none beyond the GP's own
    standardisation), "power" (Box-Cox for positive values, Yeo-Johnson otherwise, fitted by
    maximum likelihood, as HEBO does) or "copula" (ranks to standard-normal quantiles)."""
    y = np.asarray(y, dtype=float)
    if transform == "standardise" or len(y) < 3 or np.ptp(y) == 0:
        return y
    if transform == "copula":
        from scipy.stats import norm, rankdata

        return np.asarray(norm.ppf((rankdata(y) - 0.5) / len(y)), dtype=float)
    from sklearn.preprocessing import PowerTransformer

    z = y / np.std(y)
    method = "box-cox" if z.min() > 0 else "yeo-johnson"
    return np.asarray(PowerTransformer(method=method).fit_transform(z[:, None])[:, 0], dtype=float)


def log_ei(mean: torch.Tensor, std: torch.Tensor, best: float) -> torch.Tensor:
    """log expected improvement over ``best`` (maximisation), stable far into the tail."""
    z = (mean - best) / std
    # log(z Φ(z) + φ(z)), with the asymptotic form for very negative z
    big = z > -5.0
    zb = torch.where(big, z, torch.zeros_like(z))
    val_big = torch.log((zb * torch.special.ndtr(zb) + torch.exp(_log_phi(zb))).clamp_min(1e-300))
    zs = torch.where(big, -5.0 * torch.ones_like(z), z)
    val_small = _log_phi(zs) - 2.0 * torch.log(-zs) + torch.log1p(-3.0 / zs**2)
    return torch.where(big, val_big, val_small) + torch.log(std)


def _log_phi(z: torch.Tensor) -> torch.Tensor:
    """log of the standard normal density."""
    return -0.5 * z**2 - 0.5 * math.log(2 * math.pi)


def ucb(mean: torch.Tensor, std: torch.Tensor, beta: float) -> torch.Tensor:
    """Upper confidence bound μ + √β σ."""
    return mean + math.sqrt(beta) * std


def max_value_entropy(mean: torch.Tensor, std: torch.Tensor, y_star: torch.Tensor) -> torch.Tensor:
    """Max-value entropy search (Wang & Jegelka 2017), noise-free: the expected reduction of the entropy
    of f(x) from knowing that the maximum is each of ``y_star`` (k samples), averaged over them."""
    g = (y_star.reshape(1, -1) - mean.reshape(-1, 1)) / std.reshape(-1, 1)
    log_cdf = torch.special.log_ndtr(g)
    ratio = torch.exp(_log_phi(g) - log_cdf)  # φ(γ)/Φ(γ), finite far into the lower tail
    return cast(torch.Tensor, (0.5 * g * ratio - log_cdf).mean(-1))


def gumbel_max_values(mean: Array, std: Array, best: float, k: int, rng: np.random.Generator) -> Array:
    """``k`` samples of the function's maximum from a Gumbel fit to Pr(max ≤ z) = Π Φ((z − μ_i)/σ_i) over
    points (``mean``, ``std``) that cover the domain (Wang & Jegelka 2017); none below ``best``."""
    from scipy.special import log_ndtr

    def log_cdf(z: float) -> float:
        return float(np.sum(log_ndtr((z - mean) / std)))

    lo_all = max(best, float(np.max(mean)))
    hi_all = float(np.max(mean + 6.0 * std)) + 1e-9
    if hi_all <= lo_all + 1e-9 or log_cdf(lo_all) > math.log(0.75):  # the maximum is nearly known
        return np.full(k, lo_all + 1e-6)

    def quantile(p: float) -> float:
        lo, hi = lo_all, hi_all
        if log_cdf(lo) >= math.log(p):
            return lo
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if log_cdf(mid) < math.log(p) else (lo, mid)
        return 0.5 * (lo + hi)

    q25, q50, q75 = quantile(0.25), quantile(0.5), quantile(0.75)
    beta = max((q75 - q25) / (math.log(math.log(4.0)) - math.log(math.log(4.0 / 3.0))), 1e-9)
    loc = q50 + beta * math.log(math.log(2.0))
    u = (np.arange(k) + rng.random()) / k  # stratified uniforms
    samples = loc - beta * np.log(-np.log(u))
    return np.maximum(samples, best + 1e-6)


class PathSample:
    """One posterior sample path of a fitted :class:`GP` (standardised units), differentiable in x: random
    Fourier features for the prior, updated by the exact posterior (Wilson et al. 2020, "pathwise")."""

    def __init__(self, gp: GP, rng: np.random.Generator, features: int = 1024) -> None:
        d = gp.dim
        ls = gp._base_kernel().lengthscale.detach().reshape(-1).numpy()
        z = rng.standard_normal((features, d))
        if gp.kernel == "matern":  # Matérn-ν spectral density: a Student-t with 2ν = 5 degrees of freedom
            z = z * np.sqrt(5.0 / rng.chisquare(5.0, size=(features, 1)))
        self.omega = torch.as_tensor(z / ls, dtype=DTYPE)
        self.phase = torch.as_tensor(rng.uniform(0.0, 2.0 * math.pi, features), dtype=DTYPE)
        self.scale = math.sqrt(2.0 * float(gp._prior_var()) / features)
        self.w = torch.as_tensor(rng.standard_normal(features), dtype=DTYPE)
        self.gp = gp
        chol, _ = gp._cache()
        noise = gp.likelihood.noise_covar.noise.detach().reshape(-1)
        eps = torch.as_tensor(rng.standard_normal(len(gp.x)), dtype=DTYPE) * noise.sqrt()
        self.const = gp.model.mean_module.constant.detach()
        resid = gp.y - self.const - self._prior(gp.x) - eps
        self.v = torch.cholesky_solve(resid.unsqueeze(-1), chol).squeeze(-1)

    def _prior(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.cos(x @ self.omega.T + self.phase) @ self.w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The sample's values at ``x`` (n, d)."""
        return cast(torch.Tensor, self.const + self._prior(x) + self.gp._cross(x) @ self.v)
