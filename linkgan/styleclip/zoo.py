"""Where a generator's StyleCLIP artefacts live (README, "Model zoo"): `checkpoints/<generator>-styleclip/`
holds `global_directions.safetensors` (style statistics + fs3), `global_prompts.json` (alpha / beta tuned per zoo
prompt, training/tune_directions.py) and `mappers/<name>/` (one LatentMapper per prompt).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..hub import CHECKPOINTS_DIR, WeightsNotFoundError
from .global_directions import GlobalDirections
from .identity import RegionContent
from .mapper import LatentMapper

DIRECTIONS_FILE = "global_directions.safetensors"
PROMPTS_FILE = "global_prompts.json"


# Where a text edit may act, for RegionContent (the mapper's and the optimisation's content term): the parts of
# linkgan.data.PART_LABELS each choice keeps the edit inside. The app's "keep the edit inside" choices.
EDIT_REGIONS = {"hair": ("hair", "brows", "beard"), "background": ("background",), "skin": ("skin", "nose"),
                "eyes": ("eyes",), "mouth": ("mouth",)}


@dataclass(frozen=True)
class ZooPrompt:
    name: str           # the mapper's folder under mappers/ and the key in PROMPTS_FILE
    target: str         # the text
    attribute: str      # the toy-faces attribute the edit should set (as the attribute oracle reads it) ...
    value: str          # ... and its value
    region: str         # where it belongs (a key of EDIT_REGIONS): the mapper and the optimisation keep it there
    mapper_l2: float    # the latent mapper's loss weights (training/train_mapper.py --zoo NAME): latent L2 ...
    mapper_id: float    # ... and the region-content term


# The default zoo's prompts, among the attributes the toy CLIP knows (its card: hair colour 0.96, eye colour 0.997,
# background 0.94 zero-shot; eye state and mouth near chance). Their mappers train the fine group only (colour lives
# in the fine rows) with the region-content term in place of the CLIP-image identity term, which had traded
# preservation for success. On 100 tuning faces (8,000,000..) the hair mappers reach success 0.85-0.97 at
# preservation 0.93-0.96, the eye-colour mappers (no latent L2) 0.94-1.0 at 0.98-1.0; a background mapper stays on a
# frontier below the bar (region weight 15: 0.94 / 0.90 on 60 faces; 25: 0.66 / 0.93). Eye colours are also where a
# global direction reaches the bar: one style offset suits every face when the faces start alike (most truncated
# faces have green eyes), not when they start from several hair colours (docs/text-editing.md).
ZOO_PROMPTS = (
    ZooPrompt("purple_hair", "a face with purple hair", "hair_color", "purple", "hair", 0.2, 20.0),
    ZooPrompt("blond_hair", "a face with blond hair", "hair_color", "blond", "hair", 0.2, 20.0),
    ZooPrompt("red_hair", "a face with red hair", "hair_color", "red", "hair", 0.2, 20.0),
    ZooPrompt("grey_hair", "a face with grey hair", "hair_color", "grey", "hair", 0.2, 20.0),
    ZooPrompt("brown_hair", "a face with brown hair", "hair_color", "brown", "hair", 0.2, 20.0),
    ZooPrompt("blue_background", "a face with a blue background", "background", "blue", "background", 0.0, 15.0),
    ZooPrompt("brown_eyes", "a face with brown eyes", "eye_color", "brown", "eyes", 0.0, 20.0),
    ZooPrompt("blue_eyes", "a face with blue eyes", "eye_color", "blue", "eyes", 0.0, 20.0),
    ZooPrompt("green_eyes", "a face with green eyes", "eye_color", "green", "eyes", 0.0, 20.0),
)
ZOO_MAPPER_GROUPS = ("fine",)


def described_neutral(attribute: str) -> str:
    """The neutral alternatives that describe a toy face by one attribute, for global directions that start from
    what CLIP reads in each face: "a face with black hair | a face with brown hair | ..." (one per value, in the
    captions' own words, linkgan.toyclip.ATTRIBUTE_PHRASES)."""
    from ..toyclip import ATTRIBUTE_PHRASES
    if attribute not in ATTRIBUTE_PHRASES:
        raise ValueError(f"unknown toy-faces attribute {attribute!r}; known: {', '.join(ATTRIBUTE_PHRASES)}")
    return " | ".join(f"a face with {phrases[0]}" for phrases in ATTRIBUTE_PHRASES[attribute].values())


def region_mask(labels: torch.Tensor, region: str) -> torch.Tensor:
    """(B, 1, H, W) float mask of the parts of `region` (a key of EDIT_REGIONS) in part-label maps (B, H, W)."""
    from ..data import PART_LABELS
    ids = torch.tensor([PART_LABELS.index(p) for p in EDIT_REGIONS[region]], device=labels.device)
    return torch.isin(labels, ids).unsqueeze(1).float()


def region_content(region: str, segmenter=None, *, device=None) -> RegionContent:
    """The RegionContent term of `region` (a key of EDIT_REGIONS, or comma-separated parts of PART_LABELS), read by
    `segmenter` (a Segmenter or its predict; None: the shipped DEFAULT_SEGMENTER, loaded on `device`)."""
    if segmenter is None:
        from ..hub import DEFAULT_SEGMENTER
        from ..segmenter import Segmenter
        segmenter = Segmenter.from_pretrained(DEFAULT_SEGMENTER, device=device).eval().requires_grad_(False)
    parts = EDIT_REGIONS.get(region) or [p for p in str(region).split(",") if p]
    return RegionContent(segmenter, parts)


def styleclip_folder(generator: str | os.PathLike, *, checkpoints_dir: Path | None = None) -> Path:
    """checkpoints/<name>-styleclip for a registered name; <folder>/styleclip for a generator given as a folder."""
    path = Path(generator)
    if path.is_dir():
        return path / "styleclip"
    return Path(checkpoints_dir or CHECKPOINTS_DIR) / f"{generator}-styleclip"


def _artefact_path(generator, path: str | os.PathLike | None, file: str, checkpoints_dir: Path | None) -> Path:
    """`path` when given, else `file` in the generator's styleclip folder."""
    return Path(path) if path is not None else styleclip_folder(generator, checkpoints_dir=checkpoints_dir) / file


def load_directions(generator: str | os.PathLike, path: str | os.PathLike | None = None, *,
                    checkpoints_dir: Path | None = None) -> GlobalDirections:
    """The global directions of `generator` (or those at `path`); FileNotFoundError says how to compute them."""
    path = _artefact_path(generator, path, DIRECTIONS_FILE, checkpoints_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no global directions for {generator} at {path}: not computed yet. Run "
                                f"python training/compute_directions.py --generator {generator} --out {path}")
    return GlobalDirections.load(path)


def load_global_settings(generator: str | os.PathLike, path: str | os.PathLike | None = None, *,
                         checkpoints_dir: Path | None = None) -> dict:
    """The tuned global-direction settings of `generator` (or those at `path`): the JSON written by
    training/tune_directions.py, {"neutral", "prompts": {name: {"target", "alpha", "beta", ...}}, ...}."""
    path = _artefact_path(generator, path, PROMPTS_FILE, checkpoints_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no tuned global-direction settings for {generator} at {path}: not tuned yet. Run "
                                f"python training/tune_directions.py --generator {generator} --out {path}")
    try:
        settings = json.loads(path.read_text())
        prompts = settings["prompts"]
        for name, p in prompts.items():
            float(p["alpha"]), float(p["beta"]), str(p["target"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a tuned-settings file (prompts with target, alpha and beta): {e}") from None
    return settings


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
