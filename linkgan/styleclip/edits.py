"""StyleCLIP's three text edits as the project runs them (Patashnik et al. 2021, Secs. 4-6; docs/text-editing.md):
one function per method (`edit_global`, `edit_mapper`, `edit_optimize`), the tuned presets of a generator's global
directions, and ONE table of defaults (`TEXT_EDIT_DEFAULTS`). The command line, the app's Studio and the benchmarks
all call these, so an edit made anywhere with the same settings gives the same image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from ..styles import edit_channels, flatten_styles, render_with_offset
from .global_directions import GlobalDirections, GlobalEdit, edit_neutral_text
from .optimize import OptimizeResult, optimize_latent
from .zoo import EDIT_REGIONS, load_global_settings, region_content


@dataclass(frozen=True)
class TextEditDefaults:
    """What an edit uses for a setting it is not given. The measurements behind them: docs/text-editing.md."""
    # global directions in S (Sec. 6)
    neutral: str = "a face"          # the face as it is; "a | b | c" lists alternatives (CLIP picks per face)
    alpha: float = 4.0               # strength (the paper's demos use about 4; the app's slider reaches +-MAX_ALPHA)
    beta: float = 0.4                # relevance threshold; the toy CLIP's relevances reach about 0.6
    min_channels: int = 20           # automatic beta: lowered until at least this many channels move (0: beta alone)
    # latent mapper (Sec. 5)
    mapper_strength: float = 0.1     # ws + strength * M(ws): the strength mappers are trained at
    # latent optimisation in W+ (Sec. 4), anywhere in the image
    optimize_steps: int = 60         # the paper's 300 are not needed on 64 px faces: it plateaus earlier
    optimize_lr: float = 0.1         # the paper's
    optimize_l2: float = 0.002       # the paper's 0.008 barely moved toy faces in 30-60 steps
    optimize_id: float = 0.0         # the paper's: no identity term
    optimize_patience: float = 0.25  # stop early once the loss has not improved for this share of the steps (>= 10)
    # latent optimisation kept inside a region: the region-content term (RegionContent) in place of the latent L2
    region_steps: int = 100
    region_lr: float = 0.2
    region_l2: float = 0.0           # the L2 held faces at their colour (purple hair: success 0.31 with, 1.0 without)
    region_weight: float = 50.0      # weight of the pixel change outside the region


TEXT_EDIT_DEFAULTS = TextEditDefaults()
MAX_ALPHA = 20.0     # the paper's GUI has -10..10; the zoo's tuned edits use up to 20 (blue eyes, 3 channels)
_D = TEXT_EDIT_DEFAULTS


# --- global directions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalPreset:
    """A global-direction edit tuned for one prompt of a generator's zoo (global_prompts.json,
    training/tune_directions.py): the arguments of edit_global."""
    target: str
    neutral: str
    alpha: float
    beta: float              # the relevance of the last tuned channel
    min_channels: int        # the tuned number of channels (0: beta alone)


def tuned_presets(generator: str | os.PathLike, path: str | os.PathLike | None = None) -> dict[str, GlobalPreset]:
    """{name: GlobalPreset} of the generator's tuned global-direction settings (or those at `path`), in file order.
    FileNotFoundError when it has none, ValueError for a file that is not one."""
    settings = load_global_settings(generator, path)
    presets = {}
    try:
        for name, p in settings["prompts"].items():
            presets[str(name)] = GlobalPreset(
                target=str(p["target"]), neutral=str(p.get("neutral") or settings.get("neutral") or _D.neutral),
                alpha=float(p["alpha"]), beta=float(p["beta"]), min_channels=int(p.get("channels") or 0))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path or generator}: {e}") from None
    return presets


def find_preset(presets: dict[str, GlobalPreset], name_or_target: str) -> GlobalPreset | None:
    """The preset called `name_or_target`, or the one whose target text it is; None when there is none."""
    return presets.get(name_or_target) or _preset_of(presets, name_or_target)


def _preset_of(presets: dict[str, GlobalPreset], target: str) -> GlobalPreset | None:
    return next((p for p in presets.values() if p.target == target), None)


def global_settings(target: str, presets: dict[str, GlobalPreset] | None = None, *, neutral: str | None = None,
                    alpha: float | None = None, beta: float | None = None,
                    min_channels: int | None = None) -> dict:
    """The settings of a global edit towards `target`: each one given wins; the others come from the tuned preset
    whose target text is `target` when `presets` has one, else from TEXT_EDIT_DEFAULTS. -> edit_global's keywords
    {"target", "neutral", "alpha", "beta", "min_channels"}."""
    base = _preset_of(presets or {}, target) or _D
    given = {"neutral": neutral, "alpha": alpha, "beta": beta, "min_channels": min_channels}
    return {"target": target, **{k: getattr(base, k) if v is None else v for k, v in given.items()}}


@dataclass
class GlobalTextEdit:
    offset: torch.Tensor                 # (B, N) the edit's style offset, flat over the edit channels (linkgan.styles)
    neutrals: list[str]                  # the neutral text each face was edited from (CLIP's pick among alternatives)
    edits: dict[str, GlobalEdit]         # per neutral text: the channels it moved and the beta it used

    def edit_of(self, index: int = 0) -> GlobalEdit | None:
        """The GlobalEdit of face `index`; None when CLIP read that face as the target already (left as it is)."""
        return self.edits.get(self.neutrals[index])


@torch.no_grad()
def edit_global(G, clip, dirs: GlobalDirections, ws: torch.Tensor, target: str, *, neutral: str = _D.neutral,
                alpha: float = _D.alpha, beta: float = _D.beta, min_channels: int = _D.min_channels,
                s_offset: torch.Tensor | None = None) -> GlobalTextEdit:
    """StyleCLIP global direction neutral -> target of W+ codes ws (B, num_ws, w_dim) whose styles already carry
    s_offset ((N,) or (B, N); None: none): s' = s + alpha * delta_s on the channels whose relevance reaches beta
    (lowered until min_channels move; 0: beta alone). A neutral "a | b | c" lists alternatives: each face is edited
    from the one CLIP reads in it as it is. The result's offset adds to s_offset; render with
    linkgan.styles.render_with_offset(G, ws, s_offset + offset). ValueError for a neutral equal to the target."""
    zeros = {name: ws.new_zeros(len(ws), c) for name, c in edit_channels(G)}
    delta, edits, neutrals = edit_neutral_text(dirs, clip, zeros, neutral, target, alpha, beta, min_channels or None,
                                               render=lambda _: render_with_offset(G, ws, s_offset))
    return GlobalTextEdit(offset=flatten_styles(G, delta), neutrals=neutrals, edits=edits)


# --- latent mapper ------------------------------------------------------------------------------------------------
@torch.no_grad()
def edit_mapper(mapper, ws: torch.Tensor, strength: float | None = None) -> torch.Tensor:
    """ws + strength * M(ws) (Sec. 5): the W+ codes (B, num_ws, w_dim) a trained LatentMapper makes of ws;
    strength None: TEXT_EDIT_DEFAULTS.mapper_strength."""
    return mapper.edit(ws, _D.mapper_strength if strength is None else strength)


# --- latent optimisation ------------------------------------------------------------------------------------------
def optimize_settings(region: str | None = None) -> dict:
    """{"steps", "lr", "l2", "id_weight"} of an optimisation anywhere (region None: the paper's loss with the
    project's L2) or kept inside `region` (a key of EDIT_REGIONS: the region-content term in place of the L2)."""
    if region is None:
        return {"steps": _D.optimize_steps, "lr": _D.optimize_lr, "l2": _D.optimize_l2, "id_weight": _D.optimize_id}
    if region not in EDIT_REGIONS:
        raise ValueError(f"unknown region {region!r}: choose one of {', '.join(EDIT_REGIONS)}")
    return {"steps": _D.region_steps, "lr": _D.region_lr, "l2": _D.region_l2, "id_weight": _D.region_weight}


def edit_optimize(G, clip, ws: torch.Tensor, target: str | torch.Tensor, *, region: str | None = None,
                  segmenter=None, steps: int | None = None, lr: float | None = None, l2: float | None = None,
                  id_weight: float | None = None, patience: int | None | str = "auto",
                  progress: Callable[[int, int, dict], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> OptimizeResult:
    """StyleCLIP latent optimisation (Sec. 4) of W+ codes ws towards `target` (a text or its CLIP embedding), with
    optimize_settings(region) for every setting not given. With a region, the identity term is the pixel change
    outside it, read by `segmenter` (None: the shipped part segmenter); without, CLIP-image distance (weight 0 by
    default). patience "auto": stop once the loss has not improved for TEXT_EDIT_DEFAULTS.optimize_patience of the
    steps (at least 10); None runs every step (a batch stops on its mean loss, so batches of faces use None)."""
    settings = optimize_settings(region)
    given = {"steps": steps, "lr": lr, "l2": l2, "id_weight": id_weight}
    settings.update({k: v for k, v in given.items() if v is not None})
    if patience == "auto":
        patience = max(10, int(settings["steps"] * _D.optimize_patience))
    identity = "clip" if region is None else region_content(region, segmenter, device=G.w_avg.device)
    return optimize_latent(G, clip, ws, target, identity=identity, patience=patience, progress=progress,
                           should_stop=should_stop, **settings)

