"""StyleCLIP latent mapper (Patashnik et al. 2021, Sec. 5; docs/methods.md, "Latent mapper"): one small network
per prompt that maps a W+ code to a residual, `ws + strength * M(ws)`, trained with CLIP + 0.8 * L2(M(ws)) + 0.1 * ID.

M has three MLPs for the coarse / medium / fine rows of W+ (StyleGAN2-1024: rows 0-3, 4-7, 8-17, scaled to num_ws),
each PixelNorm + 4 equalised linear layers (lr multiplier 0.01, leaky ReLU 0.2); a group can be switched off.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..clip import CLIPAdapter, clip_loss
from ..config import replace_settings
from ..hub import ModelHubMixin, config_to_dict
from ..layers import EqualLinear
from .identity import resolve_identity

GROUPS = ("coarse", "medium", "fine")


def mapper_groups(num_ws: int, split: tuple[int, int] | None = None) -> dict[str, range]:
    """W+ rows of each group: StyleGAN2-1024's split (0-3, 4-7, 8-17 of 18) scaled to num_ws, each >= 1 row.
    split=(a, b): fixed boundaries instead (rows 0:a, a:b, b:num_ws, clipped to num_ws; groups may be empty), as
    the official StyleCLIP LevelsMapper slices [:4], [4:8], [8:] whatever the generator's num_ws."""
    if split is not None:
        a, b = (min(int(v), num_ws) for v in split)
        if not 0 <= a <= b or num_ws < 1:
            raise ValueError(f"split must be 0 <= a <= b, got {tuple(split)}")
        return {"coarse": range(0, a), "medium": range(a, b), "fine": range(b, num_ws)}
    if num_ws < 3:
        raise ValueError(f"need num_ws >= 3 for three groups, got {num_ws}")
    a = min(max(1, round(num_ws * 4 / 18)), num_ws - 2)
    b = min(max(a + 1, round(num_ws * 8 / 18)), num_ws - 1)
    return {"coarse": range(0, a), "medium": range(a, b), "fine": range(b, num_ws)}


@dataclass
class MapperConfig:
    num_ws: int = 10                              # rows of W+ of the generator it edits
    w_dim: int = 256                              # width of W
    groups: tuple[str, ...] = GROUPS              # groups that are on; rows of a group that is off are never changed
    n_layers: int = 4                             # equalised linear layers per group (paper: 4)
    lr_mul: float = 0.01                          # their learning-rate multiplier (paper: 0.01)
    prompt: str = ""                              # the text it was trained for (metadata)
    split: tuple[int, int] | None = None          # fixed group boundaries (see mapper_groups); None: scaled split
    norm_axis: str = "channels"                   # PixelNorm over w_dim ("channels"), or over the group's W+ rows
                                                  # ("rows": official StyleCLIP, whose PixelNorm uses dim=1)

    def __post_init__(self):
        self.groups = tuple(self.groups)
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown or not self.groups:
            raise ValueError(f"groups must be a non-empty subset of {GROUPS}, got {self.groups}")
        if self.split is not None:
            self.split = tuple(int(v) for v in self.split)
            if len(self.split) != 2:
                raise ValueError(f"split must be two row boundaries, got {self.split}")
        if self.norm_axis not in ("channels", "rows"):
            raise ValueError(f"norm_axis must be 'channels' or 'rows', got {self.norm_axis!r}")
        mapper_groups(self.num_ws, self.split)


class PixelNorm(nn.Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=self.dim, keepdim=True) + 1e-8)


class LatentMapper(nn.Module, ModelHubMixin):
    """ws (B, num_ws, w_dim) -> residual (B, num_ws, w_dim); `edit(ws, strength)` = ws + strength * M(ws)."""

    config_class = MapperConfig

    def __init__(self, config: MapperConfig | None = None):
        super().__init__()
        self.config = cfg = config or MapperConfig()
        self.rows = mapper_groups(cfg.num_ws, cfg.split)
        norm_dim = -1 if cfg.norm_axis == "channels" else 1
        self.mlps = nn.ModuleDict({
            g: nn.Sequential(PixelNorm(norm_dim), *[EqualLinear(cfg.w_dim, cfg.w_dim, lr_mul=cfg.lr_mul, activate=True)
                                            for _ in range(cfg.n_layers)])
            for g in cfg.groups})

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        want = (self.config.num_ws, self.config.w_dim)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != want:
            raise ValueError(f"ws must have shape (B, {want[0]}, {want[1]}), got {tuple(ws.shape)}")
        parts = []
        for g in GROUPS:
            rows = ws[:, self.rows[g].start:self.rows[g].stop]                   # (B, rows, w_dim)
            parts.append(self.mlps[g](rows) if g in self.mlps else torch.zeros_like(rows))
        return torch.cat(parts, dim=1)

    def edit(self, ws: torch.Tensor, strength: float = 0.1) -> torch.Tensor:
        """ws + strength * M(ws) (official strength 0.1); strength 0 returns ws unchanged."""
        if strength == 0:
            return ws
        return ws + strength * self(ws)


@dataclass
class MapperOptimConfig:
    steps: int = 2000                     # optimiser steps (paper: 50k at batch 2)
    batch_size: int = 4                   # sampled latents per step
    lr: float = 0.5                       # Adam lr on the lr-multiplier-0.01 layers (paper: 0.5)
    psi: float = 0.7                      # truncation of the sampled latents (the paper trains on inverted photos)
    strength: float = 0.1                 # ws' = ws + strength * M(ws) while training (paper: 0.1)
    groups: tuple[str, ...] = GROUPS      # the groups that are on (MapperConfig.groups)
    seed: int = 0                         # torch seed of the initial weights and of the sampled latents
    noise_mode: str = "const"             # the generator's noise while training


@dataclass
class MapperLossConfig:
    """loss = clip_weight * D_CLIP(G(ws'), t) + l2_weight * mean((ws' - ws)^2) + id_weight * L_ID
    (paper: 1, 0.8, 0.1)."""
    clip_weight: float = 1.0
    l2_weight: float = 0.8
    id_weight: float = 0.1                # the identity term is train_mapper's `identity` (0: none)


@dataclass
class MapperRunConfig:
    out: str | Path | None = None         # save_pretrained here every save_every steps and at the end (atomic)
    save_every: int = 500
    fp16: bool = False                    # save the weights as float16 (half the file; training stays float32)


@dataclass
class MapperTrainConfig:
    optim: MapperOptimConfig = field(default_factory=MapperOptimConfig)
    loss: MapperLossConfig = field(default_factory=MapperLossConfig)
    run: MapperRunConfig = field(default_factory=MapperRunConfig)

    def to_dict(self) -> dict:
        return {k: config_to_dict(getattr(self, k)) for k in ("optim", "loss", "run")}

    def replace(self, **settings) -> "MapperTrainConfig":
        """A copy with settings changed by name, e.g. replace(steps=500, id_weight=0)."""
        return replace_settings(self, **settings)


def train_mapper(G, clip: CLIPAdapter, prompt: str, config: MapperTrainConfig | None = None, *, identity="clip",
                 progress: Callable[[int, int, dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, **settings) -> LatentMapper:
    """Train a LatentMapper for `prompt` on sampled latents (w = G.map(z, psi) broadcast to W+), with `config`
    (default MapperTrainConfig(): the paper's settings but for the number of steps) and any of its settings changed
    by name in `settings` (steps=..., id_weight=..., out=...). identity: the identity term, "clip" (CLIP-image
    distance), a FeatureIdentity or RegionContent. progress(step, steps, losses) after each step; should_stop() ends
    training early (the mapper so far is kept and saved)."""
    cfg = (config or MapperTrainConfig()).replace(**settings)
    o, w, run = cfg.optim, cfg.loss, cfg.run
    device = G.w_avg.device
    target = clip.text_embedding(prompt)
    ident = resolve_identity(identity, clip) if w.id_weight > 0 else None
    torch.manual_seed(o.seed)
    mapper = LatentMapper(MapperConfig(num_ws=G.num_ws, w_dim=G.config.w_dim, groups=tuple(o.groups),
                                       prompt=prompt)).to(device).train()
    opt = torch.optim.Adam(mapper.parameters(), lr=o.lr)
    g = torch.Generator(device="cpu").manual_seed(o.seed)
    t0, step = time.perf_counter(), 0
    meta = {"train": dict(steps=o.steps, batch_size=o.batch_size, lr=o.lr, psi=o.psi, strength=o.strength,
                          clip=clip.name, clip_weight=w.clip_weight, l2_weight=w.l2_weight, id_weight=w.id_weight,
                          seed=o.seed, identity=getattr(ident, "name", None))}
    save_dtype = torch.float16 if run.fp16 else None
    for step in range(1, o.steps + 1):
        if should_stop is not None and should_stop():
            step -= 1
            break
        with torch.no_grad():
            z = torch.randn(o.batch_size, G.config.z_dim, generator=g).to(device)
            ws = G.broadcast(G.map(z, psi=o.psi))
            ref = ident.reference(G.synthesize(ws, noise_mode=o.noise_mode)) if ident is not None else None
        ws_edit = ws + o.strength * mapper(ws)
        img = G.synthesize(ws_edit, noise_mode=o.noise_mode)
        l_clip = clip_loss(clip, img, target).mean()
        l_l2 = (ws_edit - ws).square().mean()
        l_id = ident(img, ref).mean() if ident is not None else torch.zeros(())
        loss = w.clip_weight * l_clip + w.l2_weight * l_l2 + w.id_weight * l_id
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step, o.steps, {"clip": l_clip.item(), "l2": l_l2.item(), "id": l_id.item(), "loss": loss.item()})
        if run.out is not None and (step % run.save_every == 0):
            _save(mapper, run.out, meta, step, time.perf_counter() - t0, save_dtype)
    mapper.eval()
    if run.out is not None:
        _save(mapper, run.out, meta, step, time.perf_counter() - t0, save_dtype)
    return mapper


def _save(mapper: LatentMapper, out, meta: dict, step: int, wall_s: float, dtype: torch.dtype | None = None) -> None:
    was = mapper.training
    mapper.save_pretrained(out, extra={**json.loads(json.dumps(meta)), "steps_done": step, "wall_s": round(wall_s, 1)},
                           dtype=dtype)
    mapper.train(was)
