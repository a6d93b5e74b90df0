"""The service behind the app: one object that owns the loaded models and turns user actions into images.

`Studio` joins one part per concern, each a module of this package: sessions, rendering and latent files
(`session.py`), LinkGAN region edits (`region.py`), StyleCLIP text edits (`text.py`), the Explore tab's latent
directions (`explore.py`) and photos (`photo.py`). Every action is a plain function of a session dict, which the app
keeps per user; the Studio holds only models and read-only caches shared by all users.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch

from ..hub import DEFAULT_GENERATOR
from ..latentfile import LATENT_FORMAT
from ..links import Link, generator_links
from ..networks import Generator
from ..styleclip.edits import MAX_ALPHA
from .explore import EXPLORE_COMPUTED, EXPLORE_METHODS, MAX_EXPLORE_STRENGTH, Explore
from .photo import MAX_INVERSION_STEPS, PHOTO_METHODS, PHOTO_STEPS, Photos
from .region import RegionEdits
from .session import DISPLAY_SIZE, MAX_EDITS, MAX_SEED, Sessions, StudioError, _check_number, _check_text
from .text import MAX_MAPPER_STRENGTH, TYPE_TARGET, TextEdits

__all__ = ["DISPLAY_SIZE", "EXPLORE_COMPUTED", "EXPLORE_METHODS", "LATENT_FORMAT", "MAX_ALPHA", "MAX_EDITS",
           "MAX_EXPLORE_STRENGTH", "MAX_INVERSION_STEPS", "MAX_MAPPER_STRENGTH", "MAX_SEED", "PHOTO_METHODS",
           "PHOTO_STEPS", "TYPE_TARGET", "Studio", "StudioError", "_check_number", "_check_text"]


class Studio(Sessions, RegionEdits, TextEdits, Explore, Photos):
    """Loaded models + the user actions of the app, as plain functions of a session dict.

    G: the generator; segmenter: the part segmenter's predict (needed by semantic links; else loaded when a text edit
    is kept inside a region); name: the generator's registered name or folder (where its zoo lives); clip: the CLIP
    of text edits (None: no text edits); styleclip: the folder of its mappers and global directions (None: the
    generator's zoo folder)."""

    def __init__(self, G: Generator, *, segmenter=None, name: str = "custom", device: str | torch.device = "cpu",
                 clip: str | None = "toyfaces-clip", styleclip: str | Path | None = None):
        self.G = G.eval().requires_grad_(False).to(device)
        self.name, self.device = name, torch.device(device)
        # text edits: loaded on first use
        self._styleclip = {"folder": styleclip, "mappers": {}, "directions": None}
        self.clip_name, self._clip = clip, None
        # photos: see use_encoder
        self._inversion = {"encoder": "auto", "lpips": "vgg", "loaded": None}
        # Explore: method -> Directions (or the StudioError saying why not); requests run in threads, so one computes
        # and the rest wait
        self._explore: dict[str, object] = {}
        self._explore_lock = threading.Lock()
        self.links: dict[str, Link] = generator_links(G)
        needs_seg = any(l.semantic for l in self.links.values())
        if needs_seg and segmenter is None:
            raise StudioError("this generator has semantic links: a segmenter is required")
        self.segmenter = segmenter
        self.resolution = G.config.resolution

    @classmethod
    def load(cls, generator: str = DEFAULT_GENERATOR, *, device: str = "cpu",
             segmenter: str = "toyfaces64-segmenter", clip: str | None = "toyfaces-clip") -> "Studio":
        G = Generator.from_pretrained(generator, device=device)
        seg = None
        if any(l.semantic for l in generator_links(G).values()):
            from ..segmenter import Segmenter
            seg = Segmenter.from_pretrained(segmenter, device=device).predict
        return cls(G, segmenter=seg, name=generator, device=device, clip=clip)
