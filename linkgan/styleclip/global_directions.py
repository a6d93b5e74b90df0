"""StyleCLIP global directions (Patashnik et al. 2021, Sec. 6; docs/methods.md, "Global directions"): text edits in
style space S.

One-off per generator: style statistics (`compute_style_stats`) and the CLIP relevance of every style channel of
the modulated convs, ToRGB excluded (`channel_relevance` -> fs3 [num_channels, clip_dim]). Then any edit is a
matrix-vector product: R = fs3 @ delta_t, channels with |R| < beta zeroed, R / max|R| * std, s' = s + alpha * delta_s.

The neutral text may list alternatives ("a face with blond hair | a face with red hair | ..."): each image is then
edited from the alternative CLIP reads in it (`pick_neutrals`, `edit_from_neutrals`), so that one target is reached
from different starting points along different text directions. The paper's neutral text describes the source; with
one text for every face, a single style offset has to serve faces that start from different hair colours.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..clip import CLIPAdapter
from ..styles import edit_channels, flatten_styles


@dataclass
class StyleStats:
    """Mean and standard deviation of every style channel (ToRGB included) over sampled w."""
    mean: dict[str, torch.Tensor]       # layer name -> (C,)
    std: dict[str, torch.Tensor]        # layer name -> (C,)
    n: int = 0                          # samples they were measured on
    psi: float = 1.0                    # truncation of the sampled w


@torch.no_grad()
def compute_style_stats(G, n: int = 100_000, psi: float = 0.7, batch: int = 1000, *, seed: int = 0,
                        progress: Callable[[int, int], None] | None = None) -> StyleStats:
    """Style statistics over n sampled w (official: 100k, truncation 0.7), accumulated in float64 in batches."""
    device = G.w_avg.device
    g = torch.Generator(device="cpu").manual_seed(seed)
    s1: dict[str, torch.Tensor] = {}
    s2: dict[str, torch.Tensor] = {}
    done = 0
    while done < n:
        b = min(batch, n - done)
        z = torch.randn(b, G.config.z_dim, generator=g).to(device)
        styles = G.ws_to_styles(G.map(z, psi=psi))
        for k, v in styles.items():
            v = v.double()
            s1[k] = s1.get(k, 0) + v.sum(0)
            s2[k] = s2.get(k, 0) + v.square().sum(0)
        done += b
        if progress is not None:
            progress(done, n)
    mean = {k: (s1[k] / n).float() for k in s1}
    std = {k: (s2[k] / n - (s1[k] / n).square()).clamp_min(0).sqrt().float() for k in s1}
    return StyleStats(mean=mean, std=std, n=n, psi=psi)


def channel_relevance(G, clip: CLIPAdapter, stats: StyleStats, n_images: int = 100, *, psi: float = 0.7,
                      magnitude: float = 5.0, batch: int = 64, seed: int = 0, noise_mode: str = "const",
                      resume: str | os.PathLike | None = None, save_every: int = 1,
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> torch.Tensor | None:
    """fs3 [num_channels, clip_dim]: for each of n_images sampled faces and each edit channel c, render with s_c at
    mean_c - magnitude * std_c and at mean_c + magnitude * std_c, take the difference of the normalised CLIP image
    embeddings; average over images and normalise (official: 100 images, magnitude 5).

    batch: perturbed renders per forward pass (each channel needs two). resume: a .safetensors file for the running
    sum; written atomically every `save_every` images and read back on a restart, so an interrupted run continues
    where it stopped. progress(images done, n_images); should_stop() returns None (the partial sum stays on disk).
    """
    from safetensors.torch import load_file, save_file

    channels = edit_channels(G)
    total = sum(c for _, c in channels)
    device = G.w_avg.device
    acc = torch.zeros(total, clip.embed_dim, dtype=torch.float64)
    start, spent, t0 = 0, 0.0, time.perf_counter()     # spent: seconds of earlier (stopped) runs
    if resume is not None and Path(resume).is_file():
        state = load_file(str(resume))
        if tuple(state["sum"].shape) != tuple(acc.shape):
            raise ValueError(f"{resume} holds a sum of shape {tuple(state['sum'].shape)}, expected {tuple(acc.shape)}")
        acc, start = state["sum"], int(state["images_done"])
        spent = float(state["wall_s"]) if "wall_s" in state else 0.0
    g = torch.Generator(device="cpu").manual_seed(seed)
    z_all = torch.randn(n_images, G.config.z_dim, generator=g)       # image i is the same on every (re)start
    # (layer, channel) of every flat index, and its mean and std
    index = [(name, c) for name, n in channels for c in range(n)]
    mean_flat, std_flat = flatten_styles(G, stats.mean), flatten_styles(G, stats.std)
    for i in range(start, n_images):
        if should_stop is not None and should_stop():
            return None
        with torch.no_grad():
            base = G.ws_to_styles(G.map(z_all[i:i + 1].to(device), psi=psi))   # {name: (1, C)}
            diffs = []
            for lo in range(0, total, max(1, batch // 2)):
                idx = list(range(lo, min(total, lo + max(1, batch // 2))))
                k = len(idx)
                styles = {name: v.repeat(2 * k, 1) for name, v in base.items()}     # rows: k minus, then k plus
                for j, flat in enumerate(idx):
                    name, c = index[flat]
                    styles[name][j, c] = mean_flat[flat] - magnitude * std_flat[flat]
                    styles[name][k + j, c] = mean_flat[flat] + magnitude * std_flat[flat]
                emb = clip.encode_image(G.synthesize_styles(styles, noise_mode=noise_mode))   # (2k, D) unit
                diffs.append((emb[k:] - emb[:k]).double().cpu())
            acc += torch.cat(diffs)
        if resume is not None and ((i + 1) % save_every == 0 or i + 1 == n_images):
            _atomic_save_file({"sum": acc.contiguous(), "images_done": torch.tensor(i + 1),
                               "wall_s": torch.tensor(spent + time.perf_counter() - t0, dtype=torch.float64)},
                              Path(resume), save_file)
        if progress is not None:
            progress(i + 1, n_images)
    return F.normalize((acc / n_images).float(), dim=-1)


def _atomic_save_file(tensors: dict, path: Path, save_file, metadata: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


NEUTRAL_SEP = "|"


def neutral_choices(neutral: str) -> list[str]:
    """The neutral texts in `neutral`: one text, or alternatives separated by '|' (CLIP picks one per image)."""
    choices = [t.strip() for t in str(neutral).split(NEUTRAL_SEP)]
    if not all(choices):
        raise ValueError(f"empty neutral text in {neutral!r}: describe the face as it is, e.g. 'a face', or list "
                         f"alternatives separated by '{NEUTRAL_SEP}'")
    return choices


@torch.no_grad()
def pick_neutrals(clip: CLIPAdapter, images: torch.Tensor, neutral: str) -> list[str]:
    """For each image (B, 3, H, W) in [-1, 1], the alternative of `neutral` (see neutral_choices) whose
    prompt-ensembled text embedding is closest to the image's CLIP embedding; the text itself when it has none."""
    choices = neutral_choices(neutral)
    if len(choices) == 1:
        return choices * len(images)
    texts = torch.stack([clip.text_embedding(c) for c in choices])             # (K, D) unit
    best = (clip.encode_image(images).to(texts) @ texts.T).argmax(1)          # (B,)
    return [choices[i] for i in best.tolist()]


@torch.no_grad()
def edit_from_neutrals(dirs: "GlobalDirections", clip: CLIPAdapter, styles: dict[str, torch.Tensor],
                       neutrals: list[str], target: str, alpha: float, beta: float,
                       min_channels: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, "GlobalEdit"]]:
    """dirs.edit of a batch of styles ((B, C) per layer), image i along (target - neutrals[i]) (from pick_neutrals).
    An image whose neutral is the target text itself is left as it is (delta_t would be 0: nothing to move towards).
    Returns (edited styles, {neutral: its GlobalEdit})."""
    if len(neutrals) != len(next(iter(styles.values()))):
        raise ValueError(f"{len(neutrals)} neutral texts for a batch of {len(next(iter(styles.values())))}")
    out = {k: v.clone() for k, v in styles.items()}
    edits = {}
    for text in dict.fromkeys(neutrals):
        if text.strip() == target.strip():
            continue
        rows = torch.tensor([i for i, n in enumerate(neutrals) if n == text])
        e = dirs.edit({k: v[rows] for k, v in styles.items()}, clip.text_direction(text, target), alpha, beta,
                      min_channels)
        for k in out:
            out[k][rows] = e.styles[k]
        edits[text] = e
    return out, edits


@torch.no_grad()
def edit_neutral_text(dirs: "GlobalDirections", clip: CLIPAdapter, styles: dict[str, torch.Tensor], neutral: str,
                      target: str, alpha: float, beta: float, min_channels: int | None = None, *,
                      render: Callable[[dict[str, torch.Tensor]], torch.Tensor]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, "GlobalEdit"], list[str]]:
    """The global-direction edit neutral -> target of a batch of styles. One neutral text must differ from the
    target (ValueError); alternatives ("a | b | c") are picked per image on render(styles) (pick_neutrals), and an
    image read as the target is left as it is. Returns (edited styles, {neutral: its GlobalEdit}, neutral per image)."""
    choices = neutral_choices(neutral)
    if len(choices) == 1:
        clip.text_direction(choices[0], target)              # raises when the two texts are the same
        neutrals = choices * len(next(iter(styles.values())))
    else:
        neutrals = pick_neutrals(clip, render(styles), neutral)
    edited, edits = edit_from_neutrals(dirs, clip, styles, neutrals, target, alpha, beta, min_channels)
    return edited, edits, neutrals


@dataclass
class GlobalEdit:
    styles: dict[str, torch.Tensor]     # edited styles (ToRGB untouched)
    num_channels: int                   # channels the edit touches
    channels: list[tuple[str, int]]     # (layer, channel) of each, by decreasing |R|
    beta: float                         # the threshold actually used (raised or lowered by min_channels)
    per_layer: dict[str, int] = field(default_factory=dict)   # touched channels per layer


class GlobalDirections:
    """fs3 + style statistics of one generator (and the CLIP that measured them): instant text edits in S."""

    def __init__(self, fs3: torch.Tensor, stats: StyleStats, channels: list[tuple[str, int]], meta: dict | None = None):
        total = sum(c for _, c in channels)
        if fs3.ndim != 2 or fs3.shape[0] != total:
            raise ValueError(f"fs3 must have shape ({total}, clip_dim), got {tuple(fs3.shape)}")
        self.fs3 = fs3.float()              # (num_channels, clip_dim), rows unit length
        self.stats = stats
        self.channels = list(channels)      # (layer, channels) in flat order
        self.meta = dict(meta or {})        # generator / clip names, n_images, ...
        self._index = [(name, c) for name, n in self.channels for c in range(n)]

    @property
    def std_flat(self) -> torch.Tensor:
        return torch.cat([self.stats.std[name] for name, _ in self.channels])

    def relevance(self, delta_t: torch.Tensor) -> torch.Tensor:
        """R = fs3 @ delta_t: (num_channels,)."""
        if delta_t.shape != (self.fs3.shape[1],):
            raise ValueError(f"delta_t must have shape ({self.fs3.shape[1]},) (this CLIP's width), "
                             f"got {tuple(delta_t.shape)}")
        return self.fs3 @ delta_t.float().cpu()

    def edit(self, styles: dict[str, torch.Tensor], delta_t: torch.Tensor, alpha: float, beta: float,
             min_channels: int | None = None) -> GlobalEdit:
        """s' = s + alpha * delta_s with delta_s = (R masked by |R| >= beta) / max|R| * std (the project's defaults of
        alpha, beta and min_channels: linkgan.styleclip.edits.TEXT_EDIT_DEFAULTS). min_channels: lower beta
        to the min_channels-th largest |R| when fewer channels pass (their GUI keeps > 20). A beta above every |R|
        (and no min_channels) changes nothing."""
        r = self.relevance(delta_t)
        mag = r.abs()
        if min_channels is not None and min_channels > 0 and int((mag >= beta).sum()) < min_channels:
            beta = float(mag.topk(min(min_channels, len(mag))).values[-1])
        keep = mag >= beta
        n = int(keep.sum())
        out = {k: v.clone() for k, v in styles.items()}
        if n == 0:
            return GlobalEdit(styles=out, num_channels=0, channels=[], beta=beta)
        r = torch.where(keep, r, torch.zeros_like(r))
        delta = r / mag[keep].max() * self.std_flat                        # (num_channels,)
        off = 0
        per_layer = {}
        for name, c in self.channels:
            d = delta[off:off + c]
            if bool((d != 0).any()):
                out[name] = out[name] + alpha * d.to(out[name])
                per_layer[name] = int(keep[off:off + c].sum())
            off += c
        order = torch.argsort(mag.masked_fill(~keep, -1), descending=True)[:n].tolist()
        return GlobalEdit(styles=out, num_channels=n, channels=[self._index[i] for i in order], beta=beta,
                          per_layer=per_layer)

    # --- safetensors I/O ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """One .safetensors: fs3, mean.<layer>, std.<layer>; channel layout and meta as JSON metadata."""
        from safetensors.torch import save_file

        tensors = {"fs3": self.fs3.contiguous()}
        for k in self.stats.mean:
            tensors[f"mean.{k}"] = self.stats.mean[k].contiguous()
            tensors[f"std.{k}"] = self.stats.std[k].contiguous()
        metadata = {"channels": json.dumps(self.channels), "meta": json.dumps(self.meta),
                    "stats": json.dumps({"n": self.stats.n, "psi": self.stats.psi})}
        _atomic_save_file(tensors, Path(path), save_file, metadata=metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "GlobalDirections":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no global-direction statistics at {path} (not computed yet? "
                                    f"see training/compute_directions.py)")
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        try:
            channels = [tuple(c) for c in json.loads(md["channels"])]
            st = json.loads(md["stats"])
        except (KeyError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a global-directions file: {e}") from e
        mean = {k[5:]: v for k, v in tensors.items() if k.startswith("mean.")}
        std = {k[4:]: v for k, v in tensors.items() if k.startswith("std.")}
        return cls(tensors["fs3"], StyleStats(mean=mean, std=std, n=st["n"], psi=st["psi"]), channels,
                   json.loads(md.get("meta", "{}")))

    @classmethod
    def compute(cls, G, clip: CLIPAdapter, *, n_stats: int = 100_000, psi: float = 0.7, n_images: int = 100,
                batch: int = 64, resume: str | os.PathLike | None = None, meta: dict | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> "GlobalDirections | None":
        """Statistics then relevance (StyleCLIP Sec. 6); progress(stage, done, total) with stage "stats"/"relevance"."""
        t0 = time.perf_counter()
        stats = compute_style_stats(G, n_stats, psi, batch=1000,
                                    progress=(lambda d, t: progress("stats", d, t)) if progress else None)
        t1 = time.perf_counter()
        fs3 = channel_relevance(G, clip, stats, n_images, psi=psi, batch=batch, resume=resume,
                                progress=(lambda d, t: progress("relevance", d, t)) if progress else None,
                                should_stop=should_stop)
        if fs3 is None:
            return None
        relevance_s = time.perf_counter() - t1
        if resume is not None and Path(resume).is_file():      # done: its running sum (and time) is no longer needed
            from safetensors.torch import load_file
            state = load_file(str(resume))
            relevance_s = float(state["wall_s"]) if "wall_s" in state else relevance_s
            Path(resume).unlink()
        info = {"clip": clip.name, "n_stats": n_stats, "psi": psi, "n_images": n_images,
                "wall_s": round(t1 - t0 + relevance_s, 1), **(meta or {})}
        return cls(fs3, stats, edit_channels(G), info)
