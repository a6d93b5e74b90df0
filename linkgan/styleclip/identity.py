"""The pluggable identity / content term of StyleCLIP (Sec. 4-5; docs/methods.md, "StyleCLIP").

The paper uses ArcFace for real faces. Domains without a face recogniser use the cosine distance of image
features from a frozen network instead: by default the CLIP image tower, or e.g. the discriminator's features.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


class FeatureIdentity:
    """L_ID(x, x_src) = 1 - cos(E(x), E(x_src)) for a frozen feature network E: images (B, 3, H, W) -> (B, D)."""

    def __init__(self, encode: Callable[[torch.Tensor], torch.Tensor], name: str = "features"):
        self.encode = encode      # differentiable in its input; its own parameters are frozen by the caller
        self.name = name          # for logs and model cards

    @torch.no_grad()
    def reference(self, images: torch.Tensor) -> torch.Tensor:
        """Features of the source images, computed once: (B, D) unit length."""
        return F.normalize(self.encode(images).flatten(1), dim=-1)

    def __call__(self, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(B,) distances of `images` to the reference features."""
        feats = F.normalize(self.encode(images).flatten(1), dim=-1)
        return 1.0 - (feats * reference.to(feats)).sum(-1)


def clip_identity(clip) -> FeatureIdentity:
    """The default identity term: cosine distance of CLIP image embeddings (a project choice, documented)."""
    return FeatureIdentity(clip.encode_image, name=f"clip-image:{clip.name}")


def resolve_identity(identity, clip) -> FeatureIdentity | None:
    """"clip" -> clip_identity(clip); None -> no identity term; a FeatureIdentity (or alike) as is."""
    if identity == "clip":
        return clip_identity(clip)
    if identity is None or callable(identity):
        return identity
    raise ValueError(f"identity must be 'clip', None or a FeatureIdentity, got {identity!r}")


class RegionContent:
    """A content term that keeps an edit inside image regions (a project addition to StyleCLIP's identity term, in
    LinkGAN's spirit): the squared pixel change outside the `labels` parts of the source image, as `segmenter` (a
    Segmenter or its predict: images -> part labels) reads it, the region dilated by `grow` pixels so that its
    border may move; averaged per part and then over the parts, so that a small part (an eye, the mouth) weighs as
    much as the background. Same interface as FeatureIdentity: reference(source images) once, then (B,) distances
    of edited images."""

    def __init__(self, segmenter, labels, *, grow: int = 1):
        from ..data import PART_LABELS

        unknown = [p for p in labels if p not in PART_LABELS]
        if not labels or unknown:
            raise ValueError(f"RegionContent needs part labels from {PART_LABELS}, got {list(labels)}")
        self.segment = getattr(segmenter, "predict", segmenter)
        self.grow, self.num_parts = int(grow), len(PART_LABELS)
        self.ids = [PART_LABELS.index(p) for p in labels]
        self.name = "region:" + "+".join(labels)

    @torch.no_grad()
    def reference(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(source images, part masks (B, P, H, W) of every part, each 0 inside the dilated region)."""
        parts = F.one_hot(self.segment(images), self.num_parts).permute(0, 3, 1, 2).to(images.dtype)
        region = parts[:, self.ids].sum(1, keepdim=True)
        if self.grow > 0:
            region = F.max_pool2d(region, 2 * self.grow + 1, stride=1, padding=self.grow)
        return images.detach(), parts * (1.0 - region.clamp(max=1.0))

    def __call__(self, images: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        src, keep = reference
        keep = keep.to(images)                                                   # (B, P, H, W)
        diff = (images - src.to(images)).square().mean(1, keepdim=True)          # (B, 1, H, W)
        area = keep.sum((2, 3))                                                  # (B, P)
        per_part = (diff * keep).sum((2, 3)) / area.clamp(min=1.0)               # (B, P)
        present = (area > 0).to(images)
        return (per_part * present).sum(1) / present.sum(1).clamp(min=1.0)
