"""Toy faces rendered once and read many times (docs/training.md, "Training data"): a map-style Dataset over the
faces of a range of seeds, kept as one uint8 array file. Drawing a face costs about 2 ms of a CPU core, which a
short training step (on a GPU) cannot hide; a cache of N faces costs that once, in parallel over the cores, and
N x H x W x 3 bytes of disk.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .attributes import sample_attributes
from .dataset import image_to_tensor
from .render import render

DEFAULT_CACHE = "~/.cache/linkgan"


def _render_chunk(args: tuple[list[int], int]) -> np.ndarray:
    seeds, size = args
    return np.stack([render(sample_attributes(s), size=size)[0] for s in seeds])


def render_to_file(seeds: range, size: int, path: Path, *, workers: int | None = None, chunk: int = 500) -> None:
    """Render the faces of `seeds` at `size` into `path` (.npy, uint8 (N, size, size, 3)); written to a temporary
    name and renamed, so an interrupted render leaves no file that looks finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(seeds), size, size, 3))
    parts = [(list(seeds[i:i + chunk]), size) for i in range(0, len(seeds), chunk)]
    workers = workers or min(len(parts), os.cpu_count() or 1)
    try:
        with ProcessPoolExecutor(workers) as pool:
            for i, images in zip(range(0, len(seeds), chunk), pool.map(_render_chunk, parts)):
                out[i:i + len(images)] = images
        out.flush()
        del out
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class CachedFaces(Dataset):
    """The toy faces of `seeds` (a range) at `size`, rendered into `cache_dir` on first use and read from there
    after (item i: {"image": float [3, H, W] in [-1, 1], "seed"}). The file name holds the range and size, so
    every run asking for the same faces shares one file."""

    def __init__(self, seeds: range, *, size: int = 64, cache_dir: str | os.PathLike = DEFAULT_CACHE):
        if not isinstance(seeds, range) or len(seeds) == 0:
            raise ValueError(f"seeds must be a non-empty range, got {seeds!r}")
        self.seeds, self.size = seeds, size
        self.path = Path(cache_dir).expanduser() / f"toyfaces-{size}px-{seeds.start}-{seeds.stop}-{seeds.step}.npy"
        if not self.path.is_file():
            render_to_file(seeds, size, self.path)
        self._images = None                               # opened per process: a memmap does not pickle into workers

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            images = np.load(self.path, mmap_mode="r")
            if images.shape != (len(self.seeds), self.size, self.size, 3) or images.dtype != np.uint8:
                want = (len(self.seeds), self.size, self.size, 3)
                raise ValueError(f"{self.path} holds {images.dtype} {images.shape}, not the uint8 faces {want} its "
                                 f"name says: delete it to render again")
            self._images = images
        return self._images

    def __getstate__(self):
        return {**self.__dict__, "_images": None}

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, i: int) -> dict:
        image = np.array(self.images[i])                  # a copy: the map is read-only
        return {"image": image_to_tensor(image), "seed": int(self.seeds[i])}
