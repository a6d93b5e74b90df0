"""StyleCLIP latent mapper (Patashnik et al. 2021, Sec. 5; docs/methods.md, "Latent mapper"): one small network
per prompt that maps a W+ code to a residual, `ws + strength * M(ws)`, trained with CLIP + 0.8 * L2(M(ws)) + 0.1 * ID.

M has three MLPs for the coarse / medium / fine rows of W+ (StyleGAN2-1024: rows 0-3, 4-7, 8-17, scaled to num_ws),
each PixelNorm + 4 equalised linear layers (lr multiplier 0.01, leaky ReLU 0.2); a group can be switched off.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..clip import CLIPAdapter, clip_loss
from ..hub import ModelHubMixin
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


def train_mapper(G, clip: CLIPAdapter, prompt: str, *, steps: int = 2000, batch_size: int = 4, lr: float = 0.5,
                 psi: float = 0.7, strength: float = 0.1, clip_weight: float = 1.0, l2_weight: float = 0.8,
                 id_weight: float = 0.1, identity="clip", groups: tuple[str, ...] = GROUPS, seed: int = 0,
                 noise_mode: str = "const", out: str | Path | None = None, save_every: int = 500,
                 save_dtype: torch.dtype | None = None, progress: Callable[[int, int, dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> LatentMapper:
    """Train a LatentMapper for `prompt` on sampled latents (w = G.map(z, psi) broadcast to W+; the paper uses
    inverted photos). Loss per batch: clip_weight * D_CLIP(G(ws'), t) + l2_weight * mean((ws' - ws)^2)
    + id_weight * L_ID, with ws' = ws + strength * M(ws) (official: Adam lr 0.5 on lr_mul 0.01 layers, strength 0.1,
    50k steps at batch 2). `out`: save_pretrained there every `save_every` steps and at the end (atomic), with the
    weights cast to `save_dtype` (e.g. torch.float16 halves the file; None keeps float32).
    progress(step, steps, losses) after each step; should_stop() ends training early (the mapper so far is kept)."""
    device = G.w_avg.device
    target = clip.text_embedding(prompt)
    ident = resolve_identity(identity, clip) if id_weight > 0 else None
    torch.manual_seed(seed)
    mapper = LatentMapper(MapperConfig(num_ws=G.num_ws, w_dim=G.config.w_dim, groups=tuple(groups),
                                       prompt=prompt)).to(device).train()
    opt = torch.optim.Adam(mapper.parameters(), lr=lr)
    g = torch.Generator(device="cpu").manual_seed(seed)
    t0, step = time.perf_counter(), 0
    meta = {"train": dict(steps=steps, batch_size=batch_size, lr=lr, psi=psi, strength=strength, clip=clip.name,
                          clip_weight=clip_weight, l2_weight=l2_weight, id_weight=id_weight, seed=seed,
                          identity=getattr(ident, "name", None))}
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            step -= 1
            break
        with torch.no_grad():
            z = torch.randn(batch_size, G.config.z_dim, generator=g).to(device)
            ws = G.broadcast(G.map(z, psi=psi))
            ref = ident.reference(G.synthesize(ws, noise_mode=noise_mode)) if ident is not None else None
        ws_edit = ws + strength * mapper(ws)
        img = G.synthesize(ws_edit, noise_mode=noise_mode)
        l_clip = clip_loss(clip, img, target).mean()
        l_l2 = (ws_edit - ws).square().mean()
        l_id = ident(img, ref).mean() if ident is not None else torch.zeros(())
        loss = clip_weight * l_clip + l2_weight * l_l2 + id_weight * l_id
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step, steps, {"clip": l_clip.item(), "l2": l_l2.item(), "id": l_id.item(), "loss": loss.item()})
        if out is not None and (step % save_every == 0):
            _save(mapper, out, meta, step, time.perf_counter() - t0, save_dtype)
    mapper.eval()
    if out is not None:
        _save(mapper, out, meta, step, time.perf_counter() - t0, save_dtype)
    return mapper


def _save(mapper: LatentMapper, out, meta: dict, step: int, wall_s: float, dtype: torch.dtype | None = None) -> None:
    was = mapper.training
    mapper.save_pretrained(out, extra={**json.loads(json.dumps(meta)), "steps_done": step, "wall_s": round(wall_s, 1)},
                           dtype=dtype)
    mapper.train(was)
