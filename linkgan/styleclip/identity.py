"""The pluggable identity / content term of StyleCLIP (Sec. 4-5; METHODS.md §2 "Identity/content loss").

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
