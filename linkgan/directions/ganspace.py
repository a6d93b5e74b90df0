"""GANSpace (Härkönen et al. 2020, "GANSpace: Discovering Interpretable GAN Controls", Sec. 2-3): principal
components of sampled W codes, each applied to a range of W+ rows (the paper's E(v_i, j-k) edits).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .base import Directions, parse_rows, sample_w


@torch.no_grad()
def ganspace(G, *, num_samples: int = 100_000, num_components: int = 80, rows: Sequence[int] | None = None,
             seed: int = 0) -> Directions:
    """PCA of `num_samples` untruncated w (the samples are the latents: no regression, as in GANSpace for
    StyleGAN's W). The exact PCA of the sample covariance (GANSpace's default estimator is incremental PCA of the
    same samples). Components come ordered by variance; scores = explained-variance ratio; one unit of strength =
    the component's standard deviation (GANSpace's lat_stdev, sigma units). rows: the W+ rows every component moves
    (None: all; the paper picks a range per edit, e.g. 0-5 for pose, 8+ for colour)."""
    rows = parse_rows(rows, G.num_ws)
    w_dim = G.config.w_dim
    if not 1 <= num_components <= w_dim:
        raise ValueError(f"num_components must be in [1, {w_dim}], got {num_components}")
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    w = sample_w(G, num_samples, seed=seed).double()                       # (N, w_dim)
    mean = w.mean(0)
    cov = (w - mean).T @ (w - mean) / (len(w) - 1)                        # (w_dim, w_dim)
    var, vecs = torch.linalg.eigh(cov)                                     # ascending
    var, vecs = var.flip(0).clamp_min(0), vecs.flip(1)
    k = num_components
    return Directions(method="ganspace", vectors=vecs[:, :k].T.float().contiguous(), scales=var[:k].sqrt().float(),
                      scores=(var[:k] / var.sum()).float(), rows=[rows] * k,
                      meta={"num_samples": num_samples, "seed": seed, "rows": list(rows), "psi": 1.0,
                            "mean": mean.float().tolist(), "estimator": "exact PCA (eigh of the sample covariance)"})
