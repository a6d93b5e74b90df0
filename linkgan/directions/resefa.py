"""ReSeFa-style region directions (Zhu et al., ICML 2022, "Region-Based Semantic Factorization in GANs", Sec. 3):
from the Jacobian J of the image with respect to w, the directions that maximise the generalised Rayleigh quotient
n^T A n / n^T B n, A = J_in^T J_in / n_in (pixels inside a region), B = J_out^T J_out / n_out (outside).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .base import Directions, finite_difference_jacobian, parse_rows, projection_scales, sample_w

MAX_SIDE = 256     # ReSeFa resizes larger images to 256 before the Jacobian (a 1024 px Jacobian would not fit)


def generalized_eigh(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve a n = lambda b n (a symmetric, b symmetric positive definite): (eigenvalues descending (D,),
    unit-norm eigenvectors as columns (D, D)), through b's Cholesky factor."""
    chol = torch.linalg.cholesky(b)
    inv_a = torch.linalg.solve_triangular(chol, a, upper=False)                    # L^-1 a
    c = torch.linalg.solve_triangular(chol, inv_a.T, upper=False)                  # L^-1 a L^-T (symmetric)
    vals, y = torch.linalg.eigh((c + c.T) / 2)
    vecs = torch.linalg.solve_triangular(chol.T, y, upper=True)                    # n = L^-T y
    vals, vecs = vals.flip(0), vecs.flip(1)
    return vals, vecs / vecs.norm(dim=0, keepdim=True)


@torch.no_grad()
def region_jacobian_moments(G, ws: torch.Tensor, mask: torch.Tensor, *, rows: Sequence[int] | None = None,
                            step: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) (w_dim, w_dim), averaged over the codes ws (B, num_ws, w_dim): the second moments of the Jacobian
    rows (image summed over RGB, as ReSeFa) inside / outside mask ((H, W) or (B, H, W), nonzero = inside), with
    respect to one w_dim offset added to `rows` (None: all rows, ReSeFa's w broadcast to every layer).
    Forward differences of `step` times each axis' std of sampled w. Images over MAX_SIDE pixels are resized to it
    (nearest), the mask with them, as ReSeFa does."""
    rows = list(parse_rows(rows, G.num_ws))
    mask = mask.bool().expand(len(ws), *mask.shape[-2:]) if mask.ndim == 2 else mask.bool()
    if mask.shape[0] != len(ws):
        raise ValueError(f"mask must be (H, W) or ({len(ws)}, H, W), got {tuple(mask.shape)}")
    side = min(MAX_SIDE, G.config.resolution)
    if mask.shape[-1] != side:
        mask = F.interpolate(mask[:, None].float(), size=(side, side), mode="nearest")[:, 0].bool()
    steps = step * sample_w(G, 1000, seed=2).std(0)
    a_sum = b_sum = 0.0
    for code, m in zip(ws, mask):
        def render(delta: torch.Tensor) -> torch.Tensor:
            x = code.unsqueeze(0).repeat(len(delta), 1, 1)
            x[:, rows] += delta.unsqueeze(1)
            img = G.synthesize(x, noise_mode="const").sum(1, keepdim=True)         # (K, 1, H, W)
            if img.shape[-1] != side:
                img = F.interpolate(img, size=(side, side), mode="nearest")
            return img.flatten(1)                                                # (K, H*W)
        jac = finite_difference_jacobian(render, torch.zeros(G.config.w_dim, device=ws.device),
                                         steps=steps.to(ws.device)).double()   # (w_dim, H*W)
        inside = m.flatten()
        if not inside.any() or inside.all():
            raise ValueError("the region must cover some pixels of every image, and not all of them")
        j_in, j_out = jac[:, inside], jac[:, ~inside]
        a_sum = a_sum + j_in @ j_in.T / j_in.shape[1]
        b_sum = b_sum + j_out @ j_out.T / j_out.shape[1]
    return a_sum / len(ws), b_sum / len(ws)


@torch.no_grad()
def resefa(G, ws: torch.Tensor, mask: torch.Tensor, *, rows: Sequence[int] | None = None, num_directions: int = 10,
           full_rank: float = 0.0, region: str = "", step: float = 1e-2, scale_samples: int = 5000) -> Directions:
    """The `num_directions` leading generalised eigenvectors of (A, B) (region_jacobian_moments) for the region
    `mask`, each added to `rows` (None: all). ReSeFa solves per image (pass one code); several codes average A and B
    first: one direction set for every face (a project choice, for the zoo and the app's sliders). full_rank: tau
    of ReSeFa's B + tau * tr(B) * I (off by default, as there). scores = the eigenvalues: the ratio of the mean
    squared change per pixel inside to outside, to first order."""
    rows = parse_rows(rows, G.num_ws)
    a, b = region_jacobian_moments(G, ws, mask, rows=rows, step=step)
    if full_rank:
        b = b + full_rank * torch.trace(b) * torch.eye(len(b), dtype=b.dtype)
    try:
        vals, vecs = generalized_eigh(a, b)
    except RuntimeError as e:     # torch.linalg.LinAlgError: b not positive definite
        raise ValueError(f"the outside moments are singular ({e}); pass full_rank=1e-3 as ReSeFa's --full_rank")
    k = num_directions
    if not 1 <= k <= len(vals):
        raise ValueError(f"num_directions must be in [1, {len(vals)}], got {k}")
    vectors = vecs[:, :k].T.float().contiguous()
    return Directions(method="resefa", vectors=vectors, scales=projection_scales(G, vectors, n=scale_samples),
                      scores=vals[:k].float(), rows=[rows] * k,
                      meta={"region": region, "images": len(ws), "rows": list(rows), "full_rank": full_rank,
                            "step": step})
