"""The procedural "toy faces" domain (docs/methods.md, "The toy-faces domain"): one seed -> image, part masks,
caption, attributes.

This module is the public face of `linkgan.data`: it re-exports the attribute vocabulary
(`attributes.py`), the renderer and its constants (`render.py`) and the captioner (`captions.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .attributes import ATTRIBUTE_PROBS, ATTRIBUTES, FaceAttributes, sample_attributes
from .captions import make_caption
from .render import EYES_BOX, MOUTH_BOX, PART_LABELS, SIZES, reduce_labels, render

__all__ = [
    "ATTRIBUTES", "ATTRIBUTE_PROBS", "EYES_BOX", "HELDOUT_SEEDS", "MOUTH_BOX", "PART_LABELS", "SIZES",
    "TRAIN_SEEDS", "VALIDATION_SEEDS", "FaceAttributes", "ToyFace", "make_caption", "reduce_labels", "render",
    "sample_attributes", "toy_face",
]

# Disjoint seed ranges, so that no model is ever evaluated on a face it was trained on.
TRAIN_SEEDS = range(0, 10_000_000)
HELDOUT_SEEDS = range(1_000_000_000, 1_010_000_000)
# Held-out faces that training's periodic evaluation reads (to choose among runs and steps) and no benchmark does,
# so that a model is never chosen on the faces it is then measured on.
VALIDATION_SEEDS = HELDOUT_SEEDS[5_000_000:]


@dataclass
class ToyFace:
    """One sample of the domain. Everything is a pure function of `seed` (and `size`)."""
    image: np.ndarray            # uint8 [H, W, 3]
    masks: np.ndarray            # uint8 [H, W], part label ids, index into PART_LABELS
    caption: str
    attributes: FaceAttributes
    seed: int


def toy_face(seed: int, *, size: int = 64) -> ToyFace:
    """Sample, draw and caption the face of `seed` at `size` x `size` pixels."""
    attrs = sample_attributes(seed)
    image, masks = render(attrs, size=size)
    return ToyFace(image=image, masks=masks, caption=make_caption(attrs, seed), attributes=attrs, seed=seed)
