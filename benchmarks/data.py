"""Data benchmark: how fast the procedural toy faces (docs/methods.md, "The toy-faces domain") are drawn, at 64 px, as
ToyFacesDataset items (image + part mask + caption + attributes) over held-out seeds.
"""
from __future__ import annotations

import time


def images_per_s(n: int, *, size: int = 64) -> float:
    """Items per second, single process, indexing the dataset directly."""
    from linkgan.data import HELDOUT_SEEDS, ToyFacesDataset

    ds = ToyFacesDataset(size=size, seeds=HELDOUT_SEEDS[:n])
    ds[0]                                                   # warm-up (imports, caches)
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return len(ds) / (time.perf_counter() - t0)


def images_per_s_loader(n: int, *, size: int = 64, num_workers: int = 2, batch_size: int = 32) -> float:
    """Items per second through a DataLoader, worker start-up included (it is part of every epoch)."""
    from torch.utils.data import DataLoader

    from linkgan.data import HELDOUT_SEEDS, ToyFacesDataset

    ds = ToyFacesDataset(size=size, seeds=HELDOUT_SEEDS[n:2 * n])     # other seeds than images_per_s
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    t0 = time.perf_counter()
    count = sum(len(batch["seed"]) for batch in loader)
    return count / (time.perf_counter() - t0)


def run(*, quick: bool = False) -> dict:
    n, n_loader = (32, 64) if quick else (256, 512)
    return {
        "size": 64,
        "images": n,
        "images_per_s": images_per_s(n),
        "images_per_s_2workers": images_per_s_loader(n_loader, num_workers=2, batch_size=32),
        "images_2workers": n_loader,
    }
