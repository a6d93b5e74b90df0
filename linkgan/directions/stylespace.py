"""StyleSpace (Wu, Lischinski & Shechtman, CVPR 2021, "StyleSpace Analysis", Sec. 4.1 "locally-active channels"):
style channels whose gradient maps overlap one semantic part of the face in most images; one channel moved by
alpha times its standard deviation is an edit of that part.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .base import Directions, finite_difference_jacobian, sample_w, style_channels

MAP_SIDE = 32      # gradient maps and masks are compared at 32 x 32 (StyleSpace's pooling)


@torch.no_grad()
def style_stats(G, *, n: int = 2000, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) (D,) of the flat non-ToRGB style channels over n untruncated codes (StyleSpace's S_mean_std)."""
    styles = G.ws_to_styles(sample_w(G, n, seed=seed).to(G.w_avg.device))
    flat = torch.cat([styles[name] for name, _ in style_channels(G)], dim=1).float().cpu()
    return flat.mean(0), flat.std(0)


def _flat_render(G, styles: dict[str, torch.Tensor], side: int):
    """render(flat (K, D)) -> images average-pooled to side x side (K, 3, side, side): flat replaces the non-ToRGB
    styles of one face; its ToRGB styles stay."""
    layers = style_channels(G)
    sizes = [c for _, c in layers]

    def render(flat: torch.Tensor) -> torch.Tensor:
        s = {k: v.expand(len(flat), -1) for k, v in styles.items()}
        s.update({name: part for (name, _), part in zip(layers, flat.split(sizes, dim=1))})
        img = G.synthesize_styles(s, noise_mode="const")
        return F.adaptive_avg_pool2d(img, side) if img.shape[-1] > side else img
    return render


def gradient_maps(G, ws: torch.Tensor, *, std: torch.Tensor, step: float = 0.1, side: int = MAP_SIDE) -> torch.Tensor:
    """(D, side, side) mean over RGB of |d image / d s_c| for one code ws (1, num_ws, w_dim), the image
    average-pooled to side x side; forward differences of step * std_c."""
    styles = G.ws_to_styles(ws)
    flat = torch.cat([styles[name] for name, _ in style_channels(G)], dim=1)[0]
    jac = finite_difference_jacobian(_flat_render(G, styles, side), flat, steps=step * std.clamp_min(1e-6))
    return jac.abs().mean(1)


def part_masks(labels: torch.Tensor, num_labels: int, side: int = MAP_SIDE) -> torch.Tensor:
    """(num_labels, side, side) bool masks of one label map (H, W), downsampled by majority vote per block."""
    onehot = F.one_hot(labels.long(), num_labels).permute(2, 0, 1).float().unsqueeze(0)
    votes = F.adaptive_avg_pool2d(onehot, side)[0] if labels.shape[-1] > side else onehot[0]
    return F.one_hot(votes.argmax(0), num_labels).permute(2, 0, 1).bool()


def top_regions(maps: torch.Tensor, masks: torch.Tensor, *, discount: float = 2.0) -> torch.Tensor:
    """StyleSpace's OverlapScore for one image: per channel (maps (D, S, S)) the region (masks (R, S, S)) with the
    largest n / o^discount, where each map is binarised at its (1 - p) quantile (p: the region's area fraction, so
    map and region cover the same area), n = the overlap and o = the region's size. -1 where no region exists."""
    flat = maps.flatten(1).float()                                          # (D, P)
    best = torch.full((len(maps),), -1.0)
    top = torch.full((len(maps),), -1, dtype=torch.long)
    for r, m in enumerate(masks.flatten(1)):
        o = int(m.sum())
        if o == 0:
            continue
        thr = torch.quantile(flat, 1 - o / m.numel(), dim=1, keepdim=True)
        n = ((flat > thr) & m).sum(1).float()
        score = n / o ** discount
        better = score > best
        best, top = torch.where(better, score, best), torch.where(better, r, top)
    return top


@torch.no_grad()
def stylespace(G, segmenter, *, num_images: int = 16, psi: float = 0.7, seed: int = 0, per_part: int = 3,
               parts: Sequence[str] | None = None, threshold1: float = 0.5, threshold2: float = 0.25,
               discount: float = 2.0, step: float = 0.1, stats_samples: int = 2000) -> Directions:
    """Locally-active channels: over `num_images` faces (truncation psi; the paper uses 1000), each channel's
    top region per face (top_regions); a channel belongs to part r when r is its top region in more than
    `threshold1` of the faces where r exists and beats the runner-up part's rate by more than `threshold2`; the
    `per_part` channels of highest rate per part (parts: names of the segmenter's labels, None: all) become the
    directions. One unit of strength = the channel's std over `stats_samples` codes (the paper's alpha units);
    scores = the rate."""
    labels = list(segmenter.config.labels)
    parts = list(parts or labels)
    unknown = [p for p in parts if p not in labels]
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; the segmenter's parts: {labels}")
    _, std = style_stats(G, n=stats_samples)
    std = std.to(G.w_avg.device)
    layers = style_channels(G)
    where = [(name, c) for name, size in layers for c in range(size)]       # flat index -> (layer, channel)
    g = torch.Generator().manual_seed(seed)
    ws = G.broadcast(G.map(torch.randn(num_images, G.config.z_dim, generator=g).to(G.w_avg.device), psi=psi))
    top_count = torch.zeros(len(where), len(labels))
    exists = torch.zeros(len(labels))
    for code in ws:
        code = code.unsqueeze(0)
        maps = gradient_maps(G, code, std=std, step=step)
        side = maps.shape[-1]
        masks = part_masks(segmenter.predict(G.synthesize(code, noise_mode="const"))[0].cpu(), len(labels), side)
        present = masks.flatten(1).any(1)
        exists += present.float()
        top = top_regions(maps.cpu(), masks, discount=discount)
        ok = top >= 0
        top_count[ok.nonzero()[:, 0], top[ok]] += 1
    rate = top_count / exists.clamp_min(1)                                  # (D, R)
    ranked = rate.sort(dim=1, descending=True)
    first, second, best = ranked.values[:, 0], ranked.values[:, 1], ranked.indices[:, 0]
    chosen = (first > threshold1) & (first - second > threshold2)
    channels, scores, names, counts = [], [], [], {}
    for part in parts:
        r = labels.index(part)
        idx = (chosen & (best == r)).nonzero()[:, 0]
        counts[part] = len(idx)
        idx = idx[rate[idx, r].argsort(descending=True)][:per_part]
        for i in idx.tolist():
            channels.append(where[i])
            scores.append(float(rate[i, r]))
            names.append(part)
    if not channels:
        raise ValueError(f"no locally-active channel found for {parts} over {num_images} faces")
    flat_std = std.cpu()
    offsets = {name: sum(c for _, c in layers[:i]) for i, (name, _) in enumerate(layers)}
    scales = torch.tensor([float(flat_std[offsets[n] + c]) for n, c in channels])
    return Directions(method="stylespace", vectors=torch.zeros(len(channels), 0), scales=scales,
                      scores=torch.tensor(scores), channels=channels, names=names,
                      meta={"num_images": num_images, "psi": psi, "seed": seed, "threshold1": threshold1,
                            "threshold2": threshold2, "discount": discount, "step": step,
                            "channels_per_part": counts, "parts": parts, "made_for": list(names)})
