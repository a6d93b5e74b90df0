"""SeFa (Shen & Zhou, CVPR 2021, "Closed-Form Factorization of Latent Semantics in GANs", Sec. 3.2): directions
from the generator's weights alone, the eigenvectors of A^T A for the style affines A of the chosen W+ rows.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .base import Directions, parse_rows, projection_scales


def sefa_weights(G, rows: Sequence[int]) -> torch.Tensor:
    """(w_dim, sum C) the effective style-affine weights of the chosen W+ rows, one column per style channel,
    each column unit-norm (SeFa's factorize_weight). A row's modulated conv; the last row's own layer is the final
    ToRGB, the other ToRGBs are left out as in SeFa."""
    last = G.num_ws - 1
    mats = [conv.affine.weight * conv.affine.scale for name, conv, row in G.synthesis.style_layers()
            if row in rows and (not name.endswith("torgb") or row == last)]
    weight = torch.cat(mats).T.detach().double()                           # (w_dim, sum C)
    return weight / weight.norm(dim=0, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def sefa(G, *, rows: Sequence[int] | None = None, num_directions: int | None = None,
         scale_samples: int = 5000) -> Directions:
    """Eigenvectors of A^T A = W W^T (W: sefa_weights of `rows`, None = all, SeFa's '-L all'), sorted by
    descending eigenvalue (the official code calls an unsorted eig); the same rows are factorised and edited.
    scores = eigenvalues. One unit of strength = the std of <w, n_k> over `scale_samples` sampled w (0: 1, SeFa's
    absolute step)."""
    rows = parse_rows(rows, G.num_ws)
    weight = sefa_weights(G, rows)
    vals, vecs = torch.linalg.eigh(weight @ weight.T)                      # ascending
    vals, vecs = vals.flip(0), vecs.flip(1)
    k = num_directions or len(vals)
    if not 1 <= k <= len(vals):
        raise ValueError(f"num_directions must be in [1, {len(vals)}], got {k}")
    vectors = vecs[:, :k].T.float().contiguous()
    return Directions(method="sefa", vectors=vectors, scales=projection_scales(G, vectors, n=scale_samples),
                      scores=vals[:k].float(), rows=[rows] * k,
                      meta={"rows": list(rows), "scale_samples": scale_samples})
