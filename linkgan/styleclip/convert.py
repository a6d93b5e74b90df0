"""Load the official StyleCLIP latent-mapper checkpoints (orpatashnik/StyleCLIP, mapper/) onto `LatentMapper`.

Their file is `{"state_dict": StyleCLIPMapper.state_dict(), "opts": vars(opts)}`. The mapper tensors are
`mapper.course_mapping.mapping.{1..4}.{weight,bias}` (and `medium_mapping`, `fine_mapping`) for a LevelsMapper, or
`mapper.mapping.mapping.{1..4}.*` for a SingleMapper; index 0 of each Sequential is a PixelNorm (no tensors).
`decoder.*` (their StyleGAN2 generator) is skipped: linkgan edits its own generator. opts `no_coarse_mapper`,
`no_medium_mapper`, `no_fine_mapper` switch groups off (their rows get a zero residual, as in theirs).

Their EqualLinear stores raw weights and scales at run time by lr_mul / sqrt(in_dim) (bias by lr_mul), with lr_mul
0.01 and fused leaky ReLU (bias, slope 0.2, gain sqrt(2)): the same convention as `linkgan.layers.EqualLinear`, so
the tensors are copied unchanged. Two details of theirs are kept through `MapperConfig`: the group rows are the fixed
slices [:4], [4:8], [8:] (`split=(4, 8)`), and their PixelNorm normalises over dim 1, which for the (B, rows, 512)
input of each group is the W+ rows axis, not the channels (`norm_axis="rows"`).

Files are read with `torch.load(..., weights_only=True)`: a file that needs arbitrary pickled code is refused.
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..hub import WeightsFormatError, key_mismatch
from .mapper import GROUPS, LatentMapper, MapperConfig

THEIR_GROUP = {"coarse": "course_mapping", "medium": "medium_mapping", "fine": "fine_mapping"}   # sic: "course"
OFF_OPTION = {"coarse": "no_coarse_mapper", "medium": "no_medium_mapper", "fine": "no_fine_mapper"}
N_LAYERS = 4
LR_MUL = 0.01
SPLIT = (4, 8)
IGNORED_PREFIXES = ("decoder.",)


class StyleCLIPMapperError(WeightsFormatError):
    """A StyleCLIP mapper file that cannot be converted (a ValueError): missing, unexpected or mis-shaped
    tensors, an unknown layout, or pickled code."""


def _read(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise StyleCLIPMapperError(
            f"{path}: refused, the file holds pickled objects other than tensors and plain containers "
            f"(loading it would run arbitrary code; weights_only=True): {str(e).splitlines()[0] if str(e) else e}"
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise StyleCLIPMapperError(f"{path}: not a readable torch checkpoint: {e}") from e


def _split_file(obj: Any, source: str) -> tuple[dict, dict]:
    """(state_dict, opts) of a loaded file: {"state_dict", "opts"} or a bare state dict."""
    if not isinstance(obj, dict):
        raise StyleCLIPMapperError(f"{source}: expected a dict with 'state_dict', got {type(obj).__name__}")
    if "state_dict" in obj:
        state, opts = obj["state_dict"], obj.get("opts") or {}
    else:
        state, opts = obj, {}
    if not isinstance(state, dict):
        raise StyleCLIPMapperError(f"{source}: 'state_dict' is a {type(state).__name__}, not a dict")
    if not isinstance(opts, dict):
        raise StyleCLIPMapperError(f"{source}: 'opts' is a {type(opts).__name__}, expected a plain dict")
    return state, opts


def convert_styleclip_state(state: dict, opts: dict | None = None, *, num_ws: int = 18, w_dim: int = 512,
                            source: str = "state_dict") -> LatentMapper:
    """A `LatentMapper` from a StyleCLIP mapper state dict (+ their opts); see the module docstring."""
    opts = dict(opts or {})
    keys = [k for k in state if not k.startswith(IGNORED_PREFIXES)]
    ignored = len(state) - len(keys)
    single = opts.get("mapper_type") == "SingleMapper" or (
        "mapper_type" not in opts and any(k.startswith("mapper.mapping.") for k in keys))
    if opts.get("mapper_type") not in (None, "SingleMapper", "LevelsMapper"):
        raise StyleCLIPMapperError(f"{source}: unknown mapper_type {opts['mapper_type']!r} "
                                   f"(known: LevelsMapper, SingleMapper)")
    if single:
        prefixes = {"coarse": "mapper.mapping"}
        groups, split = ("coarse",), (num_ws, num_ws)       # one MLP over all rows, PixelNorm over all of them
    else:
        on = [g for g in GROUPS if not opts.get(OFF_OPTION[g], False)]
        if not any(OFF_OPTION[g] in opts for g in GROUPS):   # no opts: the groups whose tensors are there
            present = [g for g in GROUPS if any(k.startswith(f"mapper.{THEIR_GROUP[g]}.") for k in keys)]
            on = present or on
        if not on:
            raise StyleCLIPMapperError(f"{source}: every group is switched off by opts "
                                       f"({', '.join(OFF_OPTION[g] for g in GROUPS)})")
        prefixes = {g: f"mapper.{THEIR_GROUP[g]}" for g in on}
        groups, split = tuple(on), SPLIT

    expected: dict[str, tuple[str, tuple[int, ...]]] = {}      # their key -> (our key, shape)
    for g, prefix in prefixes.items():
        for i in range(1, N_LAYERS + 1):
            expected[f"{prefix}.mapping.{i}.weight"] = (f"mlps.{g}.{i}.weight", (w_dim, w_dim))
            expected[f"{prefix}.mapping.{i}.bias"] = (f"mlps.{g}.{i}.bias", (w_dim,))
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in keys if k not in expected]
    wrong = []
    for k, (_, shape) in expected.items():
        v = state.get(k)
        if v is None:
            continue
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            wrong.append(f"{k}: {type(v).__name__ if not isinstance(v, torch.Tensor) else v.dtype}, "
                         f"expected a float tensor")
        elif tuple(v.shape) != shape:
            wrong.append(f"{k}: shape {tuple(v.shape)}, expected {shape}")
        elif not bool(torch.isfinite(v).all()):
            wrong.append(f"{k}: holds NaN or inf")
    if missing or unexpected or wrong:
        raise StyleCLIPMapperError(f"{source}: not a StyleCLIP {'Single' if single else 'Levels'}Mapper for "
                                   f"w_dim={w_dim} with groups {list(groups)}; "
                                   + key_mismatch(missing, unexpected, wrong, wrong_label="mis-shaped or invalid",
                                                  limit=None))

    cfg = MapperConfig(num_ws=num_ws, w_dim=w_dim, groups=groups, n_layers=N_LAYERS, lr_mul=LR_MUL,
                       prompt=str(opts.get("description", "") or ""), split=split, norm_axis="rows")
    mapper = LatentMapper(cfg)
    ours = {our: state[their].detach().to(torch.float32).clone() for their, (our, _) in expected.items()}
    mapper.load_state_dict(ours, strict=True)
    mapper.eval()
    size = opts.get("stylegan_size")
    mapper.metadata = {
        "converted_from": "StyleCLIP mapper (orpatashnik/StyleCLIP)", "source": source,
        "mapper_type": "SingleMapper" if single else "LevelsMapper",
        "ignored_tensors": ignored,   # decoder.* (their generator): not needed to edit linkgan's own generator
        "their_num_ws": (int(math.log2(size)) * 2 - 2) if isinstance(size, int) and size > 0 else None,
        "opts": {k: v for k, v in opts.items() if isinstance(v, (str, int, float, bool, type(None)))},
    }
    return mapper


def load_styleclip_mapper(path: str | os.PathLike, *, num_ws: int = 18, w_dim: int = 512) -> LatentMapper:
    """Read an official StyleCLIP mapper .pt (weights only) and return the equivalent `LatentMapper`:
    `mapper(ws)` equals their `net.mapper(ws)` (edit with `mapper.edit(ws, 0.1)`, their w + 0.1 * M(w))."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no StyleCLIP mapper file at {path}")
    state, opts = _split_file(_read(path), str(path))
    return convert_styleclip_state(state, opts, num_ws=num_ws, w_dim=w_dim, source=str(path))
