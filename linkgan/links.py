"""LinkGAN links (Zhu et al. 2023, "LinkGAN: Linking GAN Latents to Pixels", Sec. 3.2): axes of W tied to
image regions, the regularizer that builds the link during training, the test-time resample edit, and the
paper's masked-MSE metrics (Sec. 4, Tables 2-3).

A link is (axes of W, region). Regions: a fixed box in normalised coordinates, a half image, any fixed mask,
or a semantic label of a segmenter run on the generated image. Links are disjoint in axes and regions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

Segmenter = Callable[[torch.Tensor], torch.Tensor]   # images (B,3,H,W) in [-1,1] -> labels (B,H,W) int


@dataclass(frozen=True)
class Link:
    name: str
    axes: tuple[int, int]                 # [start, stop) of W's channels (the paper: the first 64 of 512)
    box: tuple[float, float, float, float] | None = None   # fixed region (x0, y0, x1, y1) in [0, 1]
    half: str | None = None               # fixed region: "top", "bottom", "left" or "right"
    label: int | None = None              # semantic region: this label of the segmenter's output
    mask: torch.Tensor | None = field(default=None, compare=False)  # any fixed (H, W) bool mask

    @property
    def kind(self) -> str:
        return "semantic" if self.label is not None else "fixed"

    def axis_mask(self, w_dim: int) -> torch.Tensor:
        m = torch.zeros(w_dim, dtype=torch.bool)
        m[self.axes[0]:self.axes[1]] = True
        return m

    def fixed_mask(self, resolution: int) -> torch.Tensor:
        """(H, W) float {0, 1} region mask of a fixed link."""
        r = resolution
        if self.mask is not None:
            return self.mask.float()
        m = torch.zeros(r, r)
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            m[round(y0 * r):round(y1 * r), round(x0 * r):round(x1 * r)] = 1.0
        elif self.half is not None:
            h = r // 2
            sl = {"top": (slice(0, h), slice(None)), "bottom": (slice(h, r), slice(None)),
                  "left": (slice(None), slice(0, h)), "right": (slice(None), slice(h, r))}[self.half]
            m[sl] = 1.0
        return m


def links_from_specs(specs: Sequence[dict]) -> list[Link]:
    """Links from JSON specs: {"name", "axes": [a, b], and one of "box": [x0, y0, x1, y1], "half", "label"}."""
    out = []
    for spec in specs:
        spec = dict(spec)
        try:
            out.append(Link(name=spec.pop("name"), axes=tuple(spec.pop("axes")),
                            box=tuple(spec.pop("box")) if "box" in spec else None,
                            half=spec.pop("half", None), label=spec.pop("label", None)))
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad link spec {spec}: needs name, axes [a, b] and a region ({e})") from e
        if spec:
            raise ValueError(f"unknown link spec keys {sorted(spec)}")
    return out


def generator_links(G) -> dict[str, Link]:
    """The links a trained generator was made with (stored in its config.json), by name."""
    links = links_from_specs(getattr(G, "metadata", {}).get("links", []))
    validate_links(links, w_dim=G.config.w_dim, resolution=G.config.resolution)
    return {l.name: l for l in links}


def validate_links(links: Sequence[Link], *, w_dim: int, resolution: int) -> None:
    """Reject malformed, overlapping (axes or fixed regions) and empty links with a clear message."""
    names = [l.name for l in links]
    if len(set(names)) != len(names):
        raise ValueError(f"link names must be unique, got {names}")
    for l in links:
        a0, a1 = l.axes
        if not (0 <= a0 < a1 <= w_dim):
            raise ValueError(f"link {l.name!r}: axes [{a0}, {a1}) out of range for w_dim={w_dim}")
        kinds = sum(x is not None for x in (l.box, l.half, l.label, l.mask))
        if kinds != 1:
            raise ValueError(f"link {l.name!r}: give exactly one region (box, half, label or mask), got {kinds}")
        if l.box is not None:
            x0, y0, x1, y1 = l.box
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError(f"link {l.name!r}: box {l.box} must satisfy 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
        if l.half is not None and l.half not in ("top", "bottom", "left", "right"):
            raise ValueError(f"link {l.name!r}: half must be top/bottom/left/right, got {l.half!r}")
        if l.mask is not None and tuple(l.mask.shape) != (resolution, resolution):
            raise ValueError(f"link {l.name!r}: mask shape {tuple(l.mask.shape)} != ({resolution}, {resolution})")
        if l.label is None and l.fixed_mask(resolution).sum() == 0:
            raise ValueError(f"link {l.name!r}: its region is empty at {resolution} px")
    for i, a in enumerate(links):
        for b in links[i + 1:]:
            if a.axes[0] < b.axes[1] and b.axes[0] < a.axes[1]:
                raise ValueError(f"links {a.name!r} and {b.name!r} share axes {a.axes} / {b.axes}")
            if a.label is None and b.label is None:
                if (a.fixed_mask(resolution) * b.fixed_mask(resolution)).sum() > 0:
                    raise ValueError(f"links {a.name!r} and {b.name!r} have overlapping regions")
            elif a.label is not None and a.label == b.label:
                raise ValueError(f"links {a.name!r} and {b.name!r} use the same semantic label {a.label}")


def region_masks(links: Sequence[Link], images: torch.Tensor, segmenter: Segmenter | None = None) -> torch.Tensor:
    """(B, L, H, W) float masks of every link for these images; semantic ones from the segmenter."""
    b, _, h, w = images.shape
    out = images.new_zeros(b, len(links), h, w)
    labels = None
    for i, l in enumerate(links):
        if l.label is None:
            out[:, i] = l.fixed_mask(h).to(images)
        else:
            if segmenter is None:
                raise ValueError(f"link {l.name!r} is semantic: a segmenter is required")
            if labels is None:
                with torch.no_grad():
                    labels = segmenter(images.detach())
            out[:, i] = (labels == l.label).to(images)
    return out


def perturb(w: torch.Tensor, axis_mask: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """w + alpha * N(0, I) on the chosen axes only (alpha a scalar or a per-axis (1, w_dim) tensor)."""
    return w + alpha * torch.randn_like(w) * axis_mask.to(w)


def masked_mse(diff_sq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of squared differences (B,3,H,W) over the pixels of mask (B,H,W), per sample -> (B,)."""
    m = mask.unsqueeze(1).expand_as(diff_sq)
    return (diff_sq * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def link_regularizer(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, links: Sequence[Link], *,
                     alpha: float | torch.Tensor, lambda_in: float, lambda_out: float, segmenter: Segmenter | None = None,
                     x: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float], list[torch.Tensor]]:
    """LinkGAN's regularizer on a batch of w (B, w_dim):
        L_in  = || M * (G(w with unlinked axes moved) - G(w)) ||^2   (the region ignores the other axes)
        L_out = || (1-M) * (G(w with linked axes moved) - G(w)) ||^2 (the rest ignores the linked axes)
    as means over the masked pixels (a project choice: keeps lambdas comparable across region sizes).
    Returns (loss, stats, perturbed images) — the perturbed images are also shown to D as fakes."""
    x = synthesize(w) if x is None else x
    masks = region_masks(links, x, segmenter)                          # (B, L, H, W)
    loss = x.new_zeros(())
    stats: dict[str, float] = {}
    perturbed = []
    for i, l in enumerate(links):
        axes = l.axis_mask(w.shape[1]).to(w.device)
        x1 = synthesize(perturb(w, axes, alpha))                      # linked axes moved
        x2 = synthesize(perturb(w, ~axes, alpha))                     # unlinked axes moved
        m = masks[:, i]
        l_in = masked_mse((x2 - x).square(), m).mean()
        l_out = masked_mse((x1 - x).square(), 1 - m).mean()
        loss = loss + lambda_in * l_in + lambda_out * l_out
        stats[f"{l.name}.L_in"], stats[f"{l.name}.L_out"] = float(l_in.detach()), float(l_out.detach())
        perturbed += [x1, x2]
    return loss, stats, perturbed


def _rowwise(w: torch.Tensor, w_new: torch.Tensor) -> torch.Tensor:
    """w_new (B, w_dim) shaped to broadcast against w: (B, w_dim), or W+ (B, num_ws, w_dim) where every row's axes
    move. Raises a clear error for anything else."""
    if w.ndim not in (2, 3) or w_new.ndim != 2 or w_new.shape[0] != w.shape[0] or w_new.shape[1] != w.shape[-1]:
        raise ValueError(f"resample takes w (B, w_dim) or W+ codes (B, num_ws, w_dim) and w_new (B, w_dim) of the "
                         f"same B and w_dim; got {tuple(w.shape)} and {tuple(w_new.shape)}")
    return (w_new if w.ndim == 2 else w_new.unsqueeze(1)).to(w.dtype)


def resample(w: torch.Tensor, w_new: torch.Tensor, links: Sequence[Link], t: float = 1.0) -> torch.Tensor:
    """Test-time edit (project choice, METHODS §1): move the linked axes of w towards those of a freshly
    mapped w_new by t in [0, 1]; several links at once. w: (B, w_dim), or a W+ code (B, num_ws, w_dim) whose
    linked axes move in every row (an inverted photo); w_new: (B, w_dim)."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    target = _rowwise(w, w_new)
    out = w.clone()
    for l in links:
        a0, a1 = l.axes
        out[..., a0:a1] = torch.lerp(w[..., a0:a1], target[..., a0:a1], t)
    return out


@torch.no_grad()
def resample_strip(G, links: Sequence[Link], *, seed: int, new_seed: int, ts: Sequence[float], psi: float = 0.7,
                   w: torch.Tensor | None = None, noise_mode: str = "const") -> torch.Tensor:
    """Images (len(ts), 3, H, W) of the seed's face (or of a given code w: (1, w_dim), or W+ (1, num_ws, w_dim),
    e.g. an inverted photo) with the links' axes moved towards those of new_seed's w by each t."""
    if w is None:
        w = G.map(G.z_from_seeds([seed]), psi=psi)
    w_new = G.map(G.z_from_seeds([new_seed]), psi=psi)
    ws = torch.cat([resample(w, w_new, links, float(t)) for t in ts])
    return G.synthesize(ws, noise_mode=noise_mode)


@torch.no_grad()
def editing_precision(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, w_new: torch.Tensor,
                      link: Link, *, segmenter: Segmenter | None = None) -> dict[str, float]:
    """LinkGAN Table 2 protocol: resample the linked axes; mse_in / mse_out (x1e-3) inside / outside the region
    (the region of the original image). w: W codes (B, w_dim) or W+ codes (B, num_ws, w_dim)."""
    x = synthesize(w)
    y = synthesize(resample(w, w_new, [link]))
    m = region_masks([link], x, segmenter)[:, 0]
    d = (y - x).square()
    return {"mse_in": 1e3 * float(masked_mse(d, m).mean()), "mse_out": 1e3 * float(masked_mse(d, 1 - m).mean())}


@torch.no_grad()
def leakage(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, w_new: torch.Tensor, link: Link, *,
            segmenter: Segmenter | None = None) -> dict[str, float]:
    """LinkGAN Table 3 protocol (both lower is better, x1e-3): leak_in = change inside the region when the
    unlinked axes are resampled; leak_out = change outside when the linked axes are resampled. w: W codes
    (B, w_dim) or W+ codes (B, num_ws, w_dim), whose axes move in every row; w_new: (B, w_dim)."""
    x = synthesize(w)
    axes = link.axis_mask(w.shape[-1]).to(w.device)
    target = _rowwise(w, w_new)
    y_unlinked = synthesize(torch.where(axes, w, target))
    y_linked = synthesize(torch.where(axes, target, w))
    m = region_masks([link], x, segmenter)[:, 0]
    return {"leak_in": 1e3 * float(masked_mse((y_unlinked - x).square(), m).mean()),
            "leak_out": 1e3 * float(masked_mse((y_linked - x).square(), 1 - m).mean())}


@torch.no_grad()
def link_metrics(G, links: Sequence[Link], *, seeds: Sequence[int], psi: float = 1.0,
                 segmenter: Segmenter | None = None, batch_size: int = 50) -> dict[str, dict[str, float]]:
    """Editing precision and leakage (x1e-3) of every link of G, over the faces of `seeds`, each resampled
    towards the face of seed + 10^9 (const noise: only the latent moves). Adds ratio = mse_out / mse_in."""
    seeds = list(seeds)
    out: dict[str, dict[str, float]] = {}
    synth = lambda w_: G.synthesize(G.broadcast(w_), noise_mode="const")  # noqa: E731
    for link in links:
        parts = []
        for i in range(0, len(seeds), batch_size):
            chunk = seeds[i:i + batch_size]
            device = G.w_avg.device
            w = G.map(G.z_from_seeds(chunk, device=device), psi=psi)
            w_new = G.map(G.z_from_seeds([s + 10**9 for s in chunk], device=device), psi=psi)
            m = {**editing_precision(synth, w, w_new, link, segmenter=segmenter),
                 **leakage(synth, w, w_new, link, segmenter=segmenter)}
            parts.append((len(chunk), m))
        n = sum(k for k, _ in parts)
        avg = {key: sum(k * m[key] for k, m in parts) / n for key in parts[0][1]}
        avg["ratio"] = avg["mse_out"] / max(avg["mse_in"], 1e-12)
        out[link.name] = {k: round(v, 4) for k, v in avg.items()}
    return out
