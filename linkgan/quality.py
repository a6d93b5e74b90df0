"""Image quality without Inception: a Fréchet distance in the feature space of the shipped toy-faces segmenter.

FID needs Inception-v3 ImageNet weights, which cannot be had offline here. The toy-faces segmenter is trained
on exactly this domain and ships with the project, so its encoder is a feature space that sees what matters
(parts, their shapes and colours). Features: the global mean of each encoder level plus the deepest level
average-pooled to 2 x 2 (FEATURE_SPACE names it). Like FID, the number is only comparable within one feature
space: the linked generator and the baseline are always measured in the same one.
"""
from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

FEATURE_SPACE = "toyfaces64-segmenter encoder (level means + deepest level 2x2), 592-d"
SEGMENTER = "toyfaces64-segmenter"


@torch.no_grad()
def segmenter_features(seg, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, D) float64 features from the segmenter's encoder."""
    seg.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(next(seg.parameters()).device).contiguous(memory_format=torch.channels_last)
        feats = []
        for lvl, enc in enumerate(seg.encoders):
            if lvl > 0:
                x = F.max_pool2d(x, 2)
            x = enc(x)
            feats.append(x.mean(dim=(2, 3)))
        feats.append(F.adaptive_avg_pool2d(x, 2).flatten(1))
        out.append(torch.cat(feats, 1).double().cpu())
    return torch.cat(out)


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two feature sets (N, D)."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():          # dead feature channels make the covariances singular
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(covmean).all():   # regularise, as the FID reference code does
            eps = np.eye(len(s_a)) * 1e-6
            covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def feature_blocks(seg) -> dict[str, slice]:
    """The columns of segmenter_features by origin: "level<i>" (that encoder level's channel means) and "deep_2x2"
    (the deepest level pooled 2 x 2: coarse layout)."""
    out, off = {}, 0
    for i, c in enumerate(seg.config.channels):
        out[f"level{i}"] = slice(off, off + c)
        off += c
    out["deep_2x2"] = slice(off, off + 4 * seg.config.channels[-1])
    return out


def fd_breakdown(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, blocks: dict[str, slice]) -> dict:
    """Where a Fréchet distance comes from: its mean term ||mu_a - mu_b||^2 (the rest is the covariance term) and
    the FD of each block of features on its own (see feature_blocks)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return {"mean_term": round(float(((a.mean(0) - b.mean(0)) ** 2).sum()), 4),
            "blocks": {k: round(frechet_distance(a[:, sl], b[:, sl]), 4) for k, sl in blocks.items()}}


@torch.no_grad()
def generated_images(G, n: int, *, seed: int = 0, batch_size: int = 100, psi: float = 1.0) -> torch.Tensor:
    """n images of G from seeds seed..seed+n-1, untruncated, with random noise from a fixed RNG state."""
    out, device = [], G.w_avg.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(0, n, batch_size):
            seeds = range(seed + i, seed + min(n, i + batch_size))
            out.append(G.synthesize(G.map(G.z_from_seeds(seeds, device=device), psi=psi), noise_mode="random").cpu())
    return torch.cat(out)


def procedural_images(seeds: Iterable[int], size: int) -> torch.Tensor:
    from .data import image_to_tensor, toy_face
    return torch.stack([image_to_tensor(toy_face(s, size=size).image) for s in seeds])
