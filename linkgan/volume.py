"""Volume rendering for the tri-plane generator (EG3D, Chan et al. 2022, Sec. 4.1; NeRF's quadrature; docs/3d.md,
"Volume rendering"): stratified depths, alpha compositing at interval mid-points, importance depths by inverse CDF.

Shapes: B batches of R rays with N samples each; depths are distances along unit-length rays.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def density_activation(raw: torch.Tensor) -> torch.Tensor:
    """The decoder's raw density -> sigma >= 0: softplus(raw - 1), EG3D's (an empty field at initialisation)."""
    return F.softplus(raw - 1.0)


def stratified_depths(near: float, far: float, n: int, shape: tuple[int, ...], *, jitter: bool,
                      device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """n depths per ray (shape + (n,)): n evenly spaced bins from `near` (bin width (far - near) / (n - 1), as in
    EG3D), one sample per bin at a uniform random place (jitter=True) or at the bin's centre (jitter=False)."""
    if n < 2:
        raise ValueError(f"need at least 2 samples per ray, got {n}")
    delta = (far - near) / (n - 1)
    start = torch.linspace(near, far, n, device=device).expand(*shape, n)
    if not jitter:
        return start + 0.5 * delta
    return start + torch.rand(*shape, n, device=device, generator=generator) * delta


@dataclass
class Composite:
    features: torch.Tensor      # (B, R, F) weighted sum of the interval features
    depth: torch.Tensor         # (B, R) expected depth given a hit: sum(w t) / sum(w), clamped to the sample range
    opacity: torch.Tensor       # (B, R) sum of the weights = 1 - transmittance through the whole ray
    weights: torch.Tensor       # (B, R, N - 1) weight of each interval (between consecutive samples)


def composite(sigma: torch.Tensor, features: torch.Tensor, depths: torch.Tensor) -> Composite:
    """Alpha-composite N sorted samples per ray: sigma (B, R, N) >= 0, features (B, R, N, F), depths (B, R, N).
    Each interval between consecutive samples takes the mean of its end points' density and features (mid-point
    quadrature, EG3D's ray marcher): alpha_i = 1 - exp(-sigma_i delta_i), w_i = alpha_i prod_{j<i} (1 - alpha_j)."""
    deltas = depths[..., 1:] - depths[..., :-1]                                      # (B, R, N-1)
    sigma_mid = 0.5 * (sigma[..., 1:] + sigma[..., :-1])
    feat_mid = 0.5 * (features[..., 1:, :] + features[..., :-1, :])
    t_mid = 0.5 * (depths[..., 1:] + depths[..., :-1])
    tau = sigma_mid * deltas                                                          # optical depth of each interval
    alpha = -torch.expm1(-tau)                                     # 1 - exp(-tau), accurate for small tau
    # transmittance up to interval i: exp(-sum_{j<i} tau_j) (a cumulative sum: no products of many factors near 1)
    trans = torch.exp(-(torch.cumsum(tau, dim=-1) - tau))
    weights = alpha * trans
    opacity = weights.sum(-1)
    depth = (weights * t_mid).sum(-1) / opacity.clamp_min(1e-8)
    depth = torch.where(opacity > 1e-8, depth, torch.full_like(depth, float("inf")))
    depth = torch.minimum(torch.maximum(depth, depths[..., 0]), depths[..., -1])       # EG3D's clamp
    return Composite(features=(weights[..., None] * feat_mid).sum(-2), depth=depth, opacity=opacity, weights=weights)


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, n: int, *, jitter: bool,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """n more depths per ray (B, R, n), drawn where the coarse pass found weight: depths (B, R, N) of the coarse
    samples, weights (B, R, N - 1) of the intervals between them. The weights are smoothed as in EG3D (a max over
    neighbours, then a mean, then + 0.01 so that no interval is ruled out) and the intervals sampled by inverse CDF;
    jitter=False takes evenly spaced quantiles (deterministic)."""
    B, R, N = depths.shape
    w = weights.reshape(B * R, 1, N - 1)
    w = F.max_pool1d(F.pad(w, (1, 1), mode="replicate"), 2, 1)                      # (BR, 1, N)
    w = F.avg_pool1d(w, 2, 1).reshape(B, R, N - 1) + 0.01                            # (B, R, N-1)
    return sample_pdf(depths, w, n, jitter=jitter, generator=generator)


def sample_pdf(edges: torch.Tensor, weights: torch.Tensor, n: int, *, jitter: bool,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples (..., n) from the piecewise-constant density with bins [edges_i, edges_i+1] (edges (..., M + 1))
    and non-negative bin weights (..., M), by inverting its CDF."""
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], dim=-1)  # (..., M + 1)
    cdf[..., -1] = 1.0
    if jitter:
        u = torch.rand(*cdf.shape[:-1], n, device=cdf.device, generator=generator)
    else:
        u = ((torch.arange(n, device=cdf.device, dtype=cdf.dtype) + 0.5) / n).expand(*cdf.shape[:-1], n)
    u = u.contiguous()
    hi = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)            # (..., n) upper edge index
    lo = hi - 1
    c_lo, c_hi = cdf.gather(-1, lo), cdf.gather(-1, hi)
    e_lo, e_hi = edges.gather(-1, lo), edges.gather(-1, hi)
    frac = ((u - c_lo) / (c_hi - c_lo).clamp_min(1e-8)).clamp(0, 1)
    return e_lo + frac * (e_hi - e_lo)


def merge_samples(depths_a: torch.Tensor, values_a: list[torch.Tensor], depths_b: torch.Tensor,
                  values_b: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Two sets of samples along the same rays -> one set sorted by depth. depths (B, R, N_a) and (B, R, N_b); each
    value (B, R, N, ...) is reordered with its depths."""
    depths = torch.cat([depths_a, depths_b], dim=-1)
    depths, order = depths.sort(dim=-1)
    merged = []
    for a, b in zip(values_a, values_b):
        v = torch.cat([a, b], dim=2)
        idx = order.reshape(*order.shape, *([1] * (v.ndim - 3))).expand(*order.shape, *v.shape[3:])
        merged.append(v.gather(2, idx))
    return depths, merged
