"""Small shared helpers used at the package's edge: seed-range parsing, image grids, tensor <-> uint8,
and the two sample sheets the CLI writes (generator images for seeds; toy faces of the dataset).
"""
from __future__ import annotations

import platform

import math
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

# One RGB colour per part label (index = id in linkgan.data.PART_LABELS); used to colourise masks.
MASK_PALETTE = np.array([
    (0, 0, 0),        # background
    (230, 180, 150),  # skin
    (140, 70, 20),    # hair
    (40, 120, 255),   # eyes
    (220, 30, 60),    # mouth
    (250, 230, 40),   # glasses
    (90, 50, 130),    # beard
    (30, 200, 120),   # brows
    (255, 130, 0),    # nose
    (120, 200, 230),  # clothes
], dtype=np.uint8)


def parse_seeds(text: str | int | Iterable[int]) -> list[int]:
    """'0-15,20,30-32' -> [0, 1, ..., 15, 20, 30, 31, 32]. Ranges are inclusive; order and repeats are kept.

    Raises ValueError naming the bad part (empty item, non-integer, negative, or a descending range).
    """
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        return [int(s) for s in text]
    seeds: list[int] = []
    if not text.strip():
        raise ValueError("no seeds given; expected e.g. '0-15,20'")
    for part in text.split(","):
        item = part.strip()
        if not item:
            raise ValueError(f"empty item in seed list {text!r}; expected e.g. '0-15,20'")
        lo_text, sep, hi_text = item.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise ValueError(f"bad seed {item!r} in {text!r}: expected an integer or a range like '0-15'") from None
        if lo < 0 or hi < 0:
            raise ValueError(f"bad seed {item!r} in {text!r}: seeds must be non-negative")
        if hi < lo:
            raise ValueError(f"bad seed range {item!r} in {text!r}: the end is below the start")
        seeds.extend(range(lo, hi + 1))
    return seeds


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [-1, 1] images [N, 3, H, W] (or [3, H, W]) -> uint8 [N, H, W, 3] (or [H, W, 3]); clamps, rounds."""
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W) or (3, H, W), got {tuple(images.shape)}")
    x = ((images.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def colorize_masks(labels: np.ndarray) -> np.ndarray:
    """Part labels uint8 [..., H, W] -> RGB uint8 [..., H, W, 3] with MASK_PALETTE (unknown ids -> white)."""
    palette = np.concatenate([MASK_PALETTE, np.full((256 - len(MASK_PALETTE), 3), 255, np.uint8)])
    return palette[np.asarray(labels, dtype=np.uint8)]


def make_grid(images: np.ndarray | torch.Tensor | Sequence[np.ndarray], cols: int | None = None) -> Image.Image:
    """Tile N images into one PIL image, row-major, `cols` per row (None: about square).

    `images`: uint8 [N, H, W, 3] (array or list of arrays), or a float tensor [N, 3, H, W] in [-1, 1].
    Empty cells of the last row are black.
    """
    if isinstance(images, torch.Tensor):
        images = to_uint8(images) if images.is_floating_point() else images.cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"expected N >= 1 images of shape (H, W, 3), got array of shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"uint8 images expected (or a float tensor in [-1, 1]), got {images.dtype}")
    n, h, w, _ = images.shape
    cols = max(1, min(n, cols if cols else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return Image.fromarray(grid)


@torch.no_grad()
def generate_images(G, seeds: Sequence[int], *, psi: float = 1.0, noise_mode: str = "const",
                    batch_size: int = 16, device: str | torch.device | None = None) -> torch.Tensor:
    """Images of a generator for `seeds`: z = G.z_from_seeds, w = G.map(z, psi), G.synthesize(w).

    Returns float [N, 3, H, W] in [-1, 1] on the CPU. Batching does not change the result with
    noise_mode "const" or "none" (z depends on the seed alone).
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds given")
    device = torch.device(device) if device is not None else next(G.parameters()).device
    out = []
    for i in range(0, len(seeds), batch_size):
        z = G.z_from_seeds(seeds[i:i + batch_size], device=device)       # (B, z_dim)
        w = G.map(z, psi=psi)                                            # (B, w_dim)
        out.append(G.synthesize(w, noise_mode=noise_mode).float().cpu())  # (B, 3, H, W)
    return torch.cat(out)


def dataset_sheet(seeds: Sequence[int], *, size: int = 64, masks: bool = False,
                  cols: int | None = None) -> Image.Image:
    """A sample sheet of the toy faces domain: each face, followed by its colourised part mask if `masks`."""
    from .data import toy_face

    tiles = []
    for seed in seeds:
        face = toy_face(int(seed), size=size)
        tiles.append(face.image)
        if masks:
            tiles.append(colorize_masks(face.masks))
    if masks and cols is not None:
        cols *= 2          # `cols` counts faces; each face takes two cells (image, mask)
    elif masks:
        cols = 2 * math.ceil(math.sqrt(len(seeds)))
    return make_grid(np.stack(tiles), cols=cols)


def describe_device(device) -> str:
    """Hardware in words for logs and model cards: the GPU's name, or the CPU's model and torch threads."""
    import torch
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"{cpu_model()}, {torch.get_num_threads()} torch thread(s), no GPU, torch {torch.__version__}"


def cpu_model() -> str:
    """The CPU's model name (for model cards and benchmark reports)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
