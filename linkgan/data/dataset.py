"""PyTorch view of the toy faces domain (docs/methods.md, "The toy-faces domain"): a map-style Dataset over a
range of seeds.

Images follow the library convention (float [-1, 1], channels first); faces are drawn on demand, so the
dataset holds only its settings and pickles cheaply into DataLoader workers.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .attributes import ATTRIBUTES, sample_attributes
from .captions import make_caption
from .render import render


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] (or [B, H, W, 3]) -> float32 [3, H, W] (or [B, 3, H, W]) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(image)).float()
    x = x.movedim(-1, -3)  # channels first
    return x / 127.5 - 1.0


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """float [3, H, W] (or [B, 3, H, W]) in [-1, 1] -> uint8 [H, W, 3] (or [B, H, W, 3]); clamps, rounds."""
    x = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1).numpy()


class ToyFacesDataset(Dataset):
    """Toy faces for the seeds in `seeds`; item i is the face of `seeds[i]`."""

    def __init__(self, *, size: int = 64, seeds=range(0, 100_000), with_masks: bool = True,
                 with_caption: bool = True):
        self.size = size                  # output side in pixels (see render.SIZES)
        self.seeds = seeds                # any indexable of ints; use TRAIN_SEEDS / HELDOUT_SEEDS sub-ranges
        self.with_masks = with_masks      # False: no "mask" key (the labels are still drawn; batches are smaller)
        self.with_caption = with_caption  # False: no "caption" key (skips caption generation)

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, i: int) -> dict:
        seed = int(self.seeds[i])
        attrs = sample_attributes(seed)
        image, masks = render(attrs, size=self.size)
        item = {
            "image": image_to_tensor(image),                                   # float32 [3, H, W]
            "attributes": torch.tensor(list(attrs.as_indices().values()), dtype=torch.int64),  # [A]
            "seed": seed,
        }
        if self.with_masks:
            item["mask"] = torch.from_numpy(masks.astype(np.int64))           # int64 [H, W]
        if self.with_caption:
            item["caption"] = make_caption(attrs, seed)
        return item

    @staticmethod
    def attribute_names() -> tuple[str, ...]:
        """Names of the entries of item["attributes"], in order."""
        return tuple(ATTRIBUTES)
