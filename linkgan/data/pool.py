"""A pool of rendered toy faces held in memory (docs/methods.md, "The toy-faces domain"): render once, draw many
batches from it.

Cheaper than a DataLoader on a small CPU budget: the classifiers and the CLIP revisit each face a few times.
"""
from __future__ import annotations

import numpy as np
import torch

from .attributes import ATTRIBUTES, FaceAttributes, sample_attributes
from .render import render


def render_faces(seeds, *, size: int = 64) -> tuple[torch.Tensor, list[FaceAttributes]]:
    """uint8 images (N, size, size, 3) and the FaceAttributes of `seeds`."""
    attrs = [sample_attributes(int(s)) for s in seeds]
    return render_attributes(attrs, size=size), attrs


def render_attributes(attrs: list[FaceAttributes], *, size: int = 64) -> torch.Tensor:
    """uint8 images (N, size, size, 3) of faces given by their attributes."""
    return torch.from_numpy(np.stack([render(a, size=size)[0] for a in attrs]))


def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1] (the library's image convention)."""
    return images_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def attribute_targets(attrs: list[FaceAttributes], *, ignore_index: int = -100) -> torch.Tensor:
    """(N, A) int64 class ids in `ATTRIBUTES` order; attributes hidden in the picture get `ignore_index`."""
    rows = []
    for a in attrs:
        hidden = a.hidden_attributes()
        rows.append([ignore_index if k in hidden else v for k, v in a.as_indices().items()])
    return torch.tensor(rows, dtype=torch.int64).reshape(len(attrs), len(ATTRIBUTES))
