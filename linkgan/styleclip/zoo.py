"""Where a generator's StyleCLIP artefacts live (METHODS.md §4 "the default zoo"): `checkpoints/<generator>-styleclip/`
holds `global_directions.safetensors` (style statistics + fs3) and `mappers/<name>/` (one LatentMapper per prompt).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..hub import CHECKPOINTS_DIR, WeightsNotFoundError
from .global_directions import GlobalDirections
from .mapper import LatentMapper

DIRECTIONS_FILE = "global_directions.safetensors"


def styleclip_folder(generator: str | os.PathLike, *, checkpoints_dir: Path | None = None) -> Path:
    """checkpoints/<name>-styleclip for a registered name; <folder>/styleclip for a generator given as a folder."""
    path = Path(generator)
    if path.is_dir():
        return path / "styleclip"
    return Path(checkpoints_dir or CHECKPOINTS_DIR) / f"{generator}-styleclip"


def load_directions(generator: str | os.PathLike, path: str | os.PathLike | None = None, *,
                    checkpoints_dir: Path | None = None) -> GlobalDirections:
    """The global directions of `generator` (or those at `path`); FileNotFoundError says how to compute them."""
    path = Path(path) if path is not None else styleclip_folder(generator, checkpoints_dir=checkpoints_dir) / DIRECTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no global directions for {generator} at {path}: not computed yet. Run "
                                f"python training/compute_directions.py --generator {generator} --out {path}")
    return GlobalDirections.load(path)


def load_mapper(name_or_path: str | os.PathLike, generator: str | os.PathLike, *, device=None,
                checkpoints_dir: Path | None = None) -> LatentMapper:
    """A mapper folder, or the mapper called `name` of `generator` (styleclip_folder/mappers/<name>)."""
    path = Path(name_or_path)
    if not path.is_dir():
        path = styleclip_folder(generator, checkpoints_dir=checkpoints_dir) / "mappers" / str(name_or_path)
    if not path.is_dir():
        raise WeightsNotFoundError(f"no mapper {str(name_or_path)!r} for {generator} at {path}: not trained yet. Run "
                                   f"python training/train_mapper.py --generator {generator} --prompt '...' --out {path}")
    return LatentMapper.from_pretrained(path, device=device)


@torch.no_grad()
def seed_ws(G, seed: int, psi: float = 0.7) -> torch.Tensor:
    """The W+ code (1, num_ws, w_dim) of a seed (truncated by psi), as the sample command draws it."""
    return G.broadcast(G.map(G.z_from_seeds([seed]), psi=psi))
