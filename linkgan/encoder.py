"""An e4e-style encoder (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation", Sec. 3-4):
image -> w0 + per-layer offsets, a W+ code kept near W by progressive unlocking of the offsets, an offset (delta)
penalty and a latent discriminator; docs/methods.md, "Inversion". Trained by `train_encoder` (a thin script:
training/train_encoder.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .hub import ModelHubMixin


@dataclass
class EncoderConfig:
    resolution: int = 64          # input size = the generator's resolution
    w_dim: int = 256              # the generator's w_dim
    num_ws: int = 10              # the generator's num_ws (rows of W+)
    channel_base: int = 2048      # channels at resolution r: min(channel_max, channel_base // r) (as the generator)
    channel_max: int = 128
    delta_init: float = 0.1       # scale of the offset head's initial weights (0: offsets start exactly at zero)

    def __post_init__(self):
        log2 = math.log2(self.resolution) if isinstance(self.resolution, int) and self.resolution > 0 else 0.5
        if not (log2.is_integer() and 4 <= log2 <= 10):
            raise ValueError(f"resolution must be a power of two in [16, 1024], got {self.resolution}")
        if self.num_ws < 1 or self.w_dim < 1:
            raise ValueError(f"num_ws and w_dim must be positive, got {self.num_ws}, {self.w_dim}")

    def channels(self, res: int) -> int:
        return min(self.channel_max, self.channel_base // res)

    @classmethod
    def for_generator(cls, G, **kw) -> "EncoderConfig":
        return cls(resolution=G.config.resolution, w_dim=G.config.w_dim, num_ws=G.num_ws, **kw)


class Encoder(nn.Module, ModelHubMixin):
    """x (B, 3, R, R) in [-1, 1] -> ws (B, num_ws, w_dim) = w_avg + w0 + [0, d_1, ..., d_{n_unlocked}, 0, ...].

    A small CNN halves the resolution down to 4x4; the global mean of every level plus the flattened 4x4 map feed
    two linear heads: w0 (B, w_dim) and the offsets d_1..d_{num_ws-1}. Only the first `n_unlocked` offsets are
    used (e4e's progressive training: 0 = pure W, every row equal; num_ws - 1 = all unlocked). `w_avg` is the
    generator's, copied in by `set_w_avg` before training and saved with the weights.
    """

    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = cfg = config or EncoderConfig()
        r = cfg.resolution
        self.stem = nn.Conv2d(3, cfg.channels(r), 3, padding=1)
        blocks, feat = [], cfg.channels(r)
        while r > 4:
            c_in, c_out = cfg.channels(r), cfg.channels(r // 2)
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1), nn.LeakyReLU(0.2),
                                        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)))
            feat += c_out
            r //= 2
        self.blocks = nn.ModuleList(blocks)
        feat += cfg.channels(4) * 16                                  # + the flattened 4x4 map
        self.to_w0 = nn.Linear(feat, cfg.w_dim)
        self.to_deltas = nn.Linear(feat, max(cfg.num_ws - 1, 1) * cfg.w_dim)
        with torch.no_grad():
            self.to_deltas.weight.mul_(cfg.delta_init)
            self.to_deltas.bias.zero_()
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.register_buffer("n_unlocked", torch.tensor(0, dtype=torch.long))   # saved: what training reached

    def set_w_avg(self, w_avg: torch.Tensor) -> "Encoder":
        self.w_avg.copy_(w_avg.detach().reshape(-1))
        return self

    def set_unlocked(self, n: int) -> None:
        self.n_unlocked.fill_(max(0, min(int(n), self.config.num_ws - 1)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r = self.config.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, r, r):
            raise ValueError(f"images must have shape (B, 3, {r}, {r}), got {tuple(x.shape)}")
        h = F.leaky_relu(self.stem(x), 0.2)
        pooled = [h.mean(dim=(2, 3))]
        for block in self.blocks:
            h = block(h)
            pooled.append(h.mean(dim=(2, 3)))
        return torch.cat(pooled + [h.flatten(1)], dim=1)              # (B, feat)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> w0 (B, w_dim) relative to w_avg, deltas (B, num_ws - 1, w_dim), locked rows already zeroed."""
        h = self.features(x)
        w0 = self.to_w0(h)
        n_rows = self.config.num_ws - 1
        deltas = self.to_deltas(h)[:, :n_rows * self.config.w_dim].view(-1, n_rows, self.config.w_dim)
        unlocked = (torch.arange(n_rows, device=x.device) < self.n_unlocked).to(deltas.dtype)
        return w0, deltas * unlocked.view(1, -1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w0, deltas = self.encode(x)
        rows = torch.cat([torch.zeros_like(w0).unsqueeze(1), deltas], dim=1)    # (B, num_ws, w_dim)
        return self.w_avg + w0.unsqueeze(1) + rows


class LatentDiscriminator(nn.Module):
    """e4e's latent discriminator: an MLP on single w vectors (B, w_dim) -> (B,) logits (real = mapped z)."""

    def __init__(self, w_dim: int, hidden: int = 256, layers: int = 4):
        super().__init__()
        dims = [w_dim] + [hidden] * (layers - 1)
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*mods, nn.Linear(dims[-1], 1))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.net(w).squeeze(-1)


@dataclass
class LossWeights:
    l2: float = 1.0               # e4e: image L2 x1
    lpips: float = 0.8            # e4e: LPIPS x0.8
    delta: float = 2e-4           # e4e: offset penalty sum_i ||d_i||_2 x2e-4
    latent_d: float = 0.1         # e4e: latent discriminator x0.1 (0 or no discriminator: off)
    w_l2: float = 0.1             # ours: ||ws - ws_true||^2 on the generator's own samples, whose codes are known


def encoder_losses(encoder: Encoder, G, x: torch.Tensor, *, ws_true: torch.Tensor | None = None, lpips=None,
                   latent_d: LatentDiscriminator | None = None, weights: LossWeights | None = None,
                   noise_mode: str = "const") -> tuple[torch.Tensor, dict[str, float]]:
    """The encoder's training loss on images x (B, 3, R, R): -> (scalar loss, {term: value}).

    ws_true (n, num_ws, w_dim): known codes of the first n images of x (generator samples), or None.
    The latent discriminator term is the non-saturating softplus(-D(w)) on every used row (w0 and unlocked rows).
    """
    wt = weights or LossWeights()
    w0, deltas = encoder.encode(x)
    ws = encoder.w_avg + w0.unsqueeze(1) + torch.cat([torch.zeros_like(w0).unsqueeze(1), deltas], dim=1)
    rec = G.synthesize(ws, noise_mode=noise_mode)
    terms = {"l2": F.mse_loss(rec, x)}
    if lpips is not None and wt.lpips:
        terms["lpips"] = lpips(rec, x).mean()
    terms["delta"] = deltas.norm(dim=2).sum(dim=1).mean()
    if ws_true is not None and len(ws_true) and wt.w_l2:
        terms["w_l2"] = (ws[:len(ws_true)] - ws_true).square().mean()
    if latent_d is not None and wt.latent_d:
        rows = ws[:, : int(encoder.n_unlocked) + 1]                   # the rows that can differ
        terms["latent_d"] = F.softplus(-latent_d(rows.reshape(-1, rows.shape[-1]))).mean()
    total = sum(getattr(wt, k) * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def latent_d_loss(latent_d: LatentDiscriminator, w_real: torch.Tensor, w_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating discriminator loss: softplus(-D(real)) + softplus(D(fake)), w (N, w_dim)."""
    return F.softplus(-latent_d(w_real)).mean() + F.softplus(latent_d(w_fake.detach())).mean()
