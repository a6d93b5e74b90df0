"""Where a generator's precomputed directions live (`checkpoints/<generator>-directions/<method>.safetensors`) and
the one entry point that computes any method with its zoo settings (what `python -m linkgan directions` runs).
Methods: GANSpace (Härkönen et al. 2020), SeFa (Shen & Zhou 2021), InterFaceGAN (Shen et al. 2020), StyleSpace
(Wu et al. 2021), ReSeFa (Zhu et al. 2022); see each module.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import torch

from .base import METHODS, Directions

# Regions of ReSeFa directions: a link of the generator with that name when it has one (its box or its part),
# else a box of linkgan.data (eyes, mouth) or a part of the segmenter.
RESEFA_REGIONS = ("eyes", "mouth", "hair")
# Zoo settings per method (the paper's in brackets where they differ; the card says why).
ZOO = {"ganspace": {"samples": 100_000, "count": 40},      # [300k-1M samples, 80 components]
       "sefa": {"count": 40},
       "interfacegan": {"samples": 5_000},                  # [10k samples]
       "stylespace": {"images": 16, "count": 3},            # [1000 images]
       "resefa": {"images": 4, "count": 5}}                 # [one image per direction set]
NAMING_SEEDS = range(9_000_000, 9_000_032)                  # faces the oracle names directions on (not benchmarked)


def directions_folder(generator: str | os.PathLike) -> Path:
    """checkpoints/<name>-directions for a registered name; <folder>/directions for a generator folder."""
    from ..hub import CHECKPOINTS_DIR

    if Path(generator).is_dir():
        return Path(generator) / "directions"
    return Path(CHECKPOINTS_DIR) / f"{generator}-directions"


def load_zoo_directions(generator: str | os.PathLike, method: str) -> Directions:
    """The precomputed directions of `method` for `generator`; a missing file says how to make it."""
    _check_method(method)
    path = directions_folder(generator) / f"{method}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no {method} directions for {generator} ({path}): not computed yet; run "
                                f"python -m linkgan directions --method {method} --model {generator} --out {path}")
    return Directions.load(path)


def colour_targets() -> list[tuple[str, str]]:
    """Every (attribute, value) of the colour attributes the part-colour labeller reads."""
    from ..data import ATTRIBUTES
    from .labels import COLOUR_PARTS
    return [(a, v) for a in COLOUR_PARTS for v in ATTRIBUTES[a]]


def region_masks_for(G, region: str, images: torch.Tensor, segmenter=None) -> torch.Tensor:
    """(B, H, W) float mask of a named region on images: the generator's link of that name, else linkgan.data's
    box (eyes, mouth), else the segmenter's part."""
    from ..data import EYES_BOX, MOUTH_BOX, PART_LABELS
    from ..links import Link, generator_links, region_masks

    links = generator_links(G)
    if region in links:
        link = links[region]
    elif region in ("eyes", "mouth"):
        link = Link(region, (0, 1), box={"eyes": EYES_BOX, "mouth": MOUTH_BOX}[region])
    elif region in PART_LABELS:
        link = Link(region, (0, 1), label=PART_LABELS.index(region))
    else:
        raise ValueError(f"unknown region {region!r}: a link of the generator, eyes, mouth or one of {PART_LABELS}")
    seg = None if segmenter is None else segmenter.predict
    return region_masks([link], images, seg)[:, 0]


def compute_directions(method: str, G, *, count: int | None = None, samples: int | None = None,
                       images: int | None = None, rows: Sequence[int] | None = None, seed: int = 0,
                       regions: Sequence[str] = RESEFA_REGIONS, targets: Sequence[tuple[str, str]] | None = None,
                       segmenter=None, psi: float = 0.7) -> Directions:
    """Directions of `method` for G with the zoo's settings (ZOO) unless given. count: directions kept (GANSpace,
    SeFa; StyleSpace: per part; ReSeFa: per region); samples: sampled codes (GANSpace, InterFaceGAN); images: faces
    (StyleSpace, ReSeFa); rows: W+ rows edited (None: all); targets: InterFaceGAN's (attribute, value) pairs
    (default: every colour); regions: ReSeFa's. segmenter: needed by InterFaceGAN, StyleSpace and semantic regions."""
    from ..data import ATTRIBUTES

    _check_method(method)
    zoo = ZOO[method]
    count, samples, images = count or zoo.get("count"), samples or zoo.get("samples"), images or zoo.get("images")
    t0 = time.perf_counter()
    if method == "ganspace":
        from .ganspace import ganspace
        dirs = ganspace(G, num_samples=samples, num_components=min(count, G.config.w_dim), rows=rows, seed=seed)
    elif method == "sefa":
        from .sefa import sefa
        dirs = sefa(G, rows=rows, num_directions=min(count, G.config.w_dim))
    elif method == "interfacegan":
        from .interfacegan import interfacegan
        from .labels import PartColourLabeller
        dirs = interfacegan(G, PartColourLabeller(_need(segmenter, method)), targets=targets or colour_targets(),
                            class_names=ATTRIBUTES, num_samples=samples, psi=psi, rows=rows, seed=seed)
    elif method == "stylespace":
        from .stylespace import stylespace
        dirs = stylespace(G, _need(segmenter, method), num_images=images, psi=psi, seed=seed, per_part=count)
    else:
        dirs = _resefa_regions(G, regions, images=images, count=count, rows=rows, seed=seed, psi=psi,
                               segmenter=segmenter)
    dirs.meta["compute_s"] = round(time.perf_counter() - t0, 1)
    dirs.meta["threads"] = torch.get_num_threads()
    return dirs


def _resefa_regions(G, regions, *, images, count, rows, seed, psi, segmenter) -> Directions:
    from .resefa import resefa

    g = torch.Generator().manual_seed(seed)
    ws = G.broadcast(G.map(torch.randn(images, G.config.z_dim, generator=g).to(G.w_avg.device), psi=psi))
    with torch.no_grad():
        x = G.synthesize(ws, noise_mode="const")
    parts = [resefa(G, ws, region_masks_for(G, r, x, segmenter), rows=rows, num_directions=count, region=r)
             for r in regions]
    return Directions(method="resefa", vectors=torch.cat([p.vectors for p in parts]),
                      scales=torch.cat([p.scales for p in parts]), scores=torch.cat([p.scores for p in parts]),
                      rows=[r for p in parts for r in p.rows], names=[p.meta["region"] for p in parts for _ in p.rows],
                      meta={"regions": list(regions), "made_for": [p.meta["region"] for p in parts for _ in p.rows],
                            "per_region": count, "images": images, "psi": psi,
                            "seed": seed, "rows": list(parts[0].rows[0])})


def _need(segmenter, method: str):
    if segmenter is None:
        raise ValueError(f"{method} needs a part segmenter (e.g. Segmenter.from_pretrained('toyfaces64-segmenter'))")
    return segmenter


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
