"""Per-prompt settings of a global-direction edit (StyleCLIP Sec. 6 leaves alpha and beta to the user's sliders):
a grid over alpha and the number of channels kept (beta = the relevance of the last one), each cell scored by a
judge of the edited images, the best cell kept. Used by training/tune_directions.py for the default zoo.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .global_directions import GlobalDirections

Judge = Callable[[torch.Tensor, torch.Tensor], dict]   # (before, after) images -> {"success", "preservation", ...}


@torch.no_grad()
def global_edit(G, dirs: GlobalDirections, clip, ws: torch.Tensor, target: str, alpha: float, beta: float,
                min_channels: int | None = None, *, neutral: str = "a face") -> torch.Tensor:
    """Images (B, 3, H, W) of the W+ codes ws (B, num_ws, w_dim) after the global-direction edit neutral -> target."""
    styles = dirs.edit(G.ws_to_styles(ws), clip.text_direction(neutral, target), alpha, beta, min_channels).styles
    return G.synthesize_styles(styles, noise_mode="const")


def cell_value(cell: dict) -> float:
    """What the grid maximises: success x preservation (a missing value, e.g. no eligible face, counts as 0)."""
    return (cell.get("success") or 0.0) * (cell.get("preservation") or 0.0)


@torch.no_grad()
def tune_global(G, dirs: GlobalDirections, clip, ws: torch.Tensor, target: str, judge: Judge, *,
                alphas: Sequence[float], channels: Sequence[int], neutral: str = "a face",
                progress: Callable[[], None] | None = None) -> dict:
    """Scores the edit neutral -> target of ws for every (alpha, k) in alphas x channels, where beta is the k-th
    largest |relevance| (so that k channels move; ties may add a few). Returns {"best": cell, "grid": [cells]},
    a cell being {"alpha", "channels" (k asked), "num_channels" (moved), "beta", **judge(before, after)}; the best
    has the largest success x preservation (the first such cell in grid order on ties)."""
    if not alphas or not channels or min(channels) < 1:
        raise ValueError(f"tune_global needs alphas and channel counts >= 1, got {list(alphas)} / {list(channels)}")
    delta_t = clip.text_direction(neutral, target)
    mag = dirs.relevance(delta_t).abs()
    ranked = mag.sort(descending=True).values
    styles = G.ws_to_styles(ws)
    before = G.synthesize_styles(styles, noise_mode="const")
    grid = []
    for k in channels:
        beta = float(ranked[min(k, len(ranked)) - 1])
        for alpha in alphas:
            e = dirs.edit(styles, delta_t, alpha, beta)
            after = G.synthesize_styles(e.styles, noise_mode="const")
            grid.append({"alpha": float(alpha), "channels": int(k), "num_channels": e.num_channels,
                         "beta": beta, **judge(before, after)})
            if progress is not None:
                progress()
    best = max(grid, key=cell_value)
    return {"best": best, "grid": grid}
