"""Per-prompt settings of a global-direction edit (StyleCLIP Sec. 6 leaves alpha and beta to the user's sliders):
a grid over alpha and the number of channels kept (beta = the relevance of the last one), each cell scored by a
judge of the edited images, the best cell kept. Used by training/tune_directions.py for the default zoo.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..styles import render_with_offset
from .edits import edit_global
from .global_directions import GlobalDirections, edit_from_neutrals, neutral_choices, pick_neutrals

Judge = Callable[[torch.Tensor, torch.Tensor], dict]   # (before, after) images -> {"success", "preservation", ...}
BARS = {"success": 0.8, "preservation": 0.9}           # what counts as a good edit (docs/text-editing.md)


@torch.no_grad()
def global_edit(G, dirs: GlobalDirections, clip, ws: torch.Tensor, target: str, alpha: float, beta: float,
                min_channels: int | None = None, *, neutral: str = "a face") -> torch.Tensor:
    """Images (B, 3, H, W) of the W+ codes ws (B, num_ws, w_dim) after the global-direction edit neutral -> target
    (linkgan.styleclip.edits.edit_global, positional for the tuning grid's cells)."""
    edit = edit_global(G, clip, dirs, ws, target, neutral=neutral, alpha=alpha, beta=beta,
                       min_channels=min_channels or 0)
    return render_with_offset(G, ws, edit.offset)


def cell_value(cell: dict) -> float:
    """What the grid maximises: success x preservation (a missing value, e.g. no eligible face, counts as 0)."""
    return (cell.get("success") or 0.0) * (cell.get("preservation") or 0.0)


def passes(cell: dict) -> bool:
    """Whether a cell meets both BARS."""
    return all((cell.get(k) or 0.0) >= v for k, v in BARS.items())


def best_cell(grid: list[dict]) -> dict:
    """The cell with the largest success x preservation among those that meet BARS, or among all when none does
    (the first such cell in grid order on ties)."""
    ok = [c for c in grid if passes(c)]
    return max(ok or grid, key=cell_value)


@torch.no_grad()
def tune_global(G, dirs: GlobalDirections, clip, ws: torch.Tensor, target: str, judge: Judge, *,
                alphas: Sequence[float], channels: Sequence[int], neutrals: Sequence[str] = ("a face",),
                progress: Callable[[], None] | None = None) -> dict:
    """Scores the edit neutral -> target of ws for every neutral in `neutrals` (a text, or alternatives separated by
    '|' that CLIP picks from per face) x alphas x channels, where k channels move (beta: the k-th largest
    |relevance|, per neutral text; ties may add a few). Returns {"best": best_cell(grid), "grid": [cells]}, a cell
    being {"neutral", "alpha", "channels" (k asked), "num_channels" (moved), "beta", **judge(before, after)}; beta is
    1.0 (above every relevance, so that min_channels = k picks the channels) where faces read different neutrals."""
    if not alphas or not channels or min(channels) < 1 or not neutrals:
        raise ValueError(f"tune_global needs neutral texts, alphas and channel counts >= 1, got {list(neutrals)} / "
                         f"{list(alphas)} / {list(channels)}")
    styles = G.ws_to_styles(ws)
    before = G.synthesize_styles(styles, noise_mode="const")
    grid = []
    for neutral in neutrals:
        picked = pick_neutrals(clip, before, neutral)
        single = len(neutral_choices(neutral)) == 1
        ranked = dirs.relevance(clip.text_direction(neutral, target)).abs().sort(descending=True).values if single \
            else None
        for k in channels:
            beta = float(ranked[min(k, len(ranked)) - 1]) if single else 1.0
            for alpha in alphas:
                edited, edits = edit_from_neutrals(dirs, clip, styles, picked, target, alpha, beta, k)
                after = G.synthesize_styles(edited, noise_mode="const")
                moved = max((e.num_channels for e in edits.values()), default=0)
                grid.append({"neutral": neutral, "alpha": float(alpha), "channels": int(k), "num_channels": moved,
                             "beta": beta, **judge(before, after)})
                if progress is not None:
                    progress()
    return {"best": best_cell(grid), "grid": grid}
