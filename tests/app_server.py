"""A real app server for the API, load and browser tests: `python app.py` on a free loopback port, serving a
tiny linked generator (a box link and a semantic link) saved to a temporary folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.app_server import AppServer, free_port  # noqa: F401  (re-exported for the tests)

LINKS = [{"name": "eyes", "axes": [0, 8], "box": [0.25, 0.33, 0.75, 0.58]},
         {"name": "mouth", "axes": [8, 16], "box": [0.35, 0.58, 0.65, 0.77]},
         {"name": "hair", "axes": [16, 24], "label": 2}]


def tiny_linked_generator(folder: Path) -> Path:
    from linkgan.networks import Generator, GeneratorConfig
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.save_pretrained(folder, extra={"links": LINKS})
    tiny_styleclip(G, folder / "styleclip")
    return folder


MAPPER_PROMPT = "a face with purple hair"


def tiny_styleclip(G, folder: Path, clip: str = "toyfaces-clip") -> Path:
    """Real (tiny) StyleCLIP artefacts of G in the zoo layout: global directions from 1 image, and a latent mapper
    "purple_hair" trained for 2 steps (a few seconds in all)."""
    from linkgan.clip import CLIPAdapter
    from linkgan.styleclip import DIRECTIONS_FILE, GlobalDirections, train_mapper

    clip = CLIPAdapter.load(clip)
    GlobalDirections.compute(G, clip, n_stats=256, n_images=1, batch=512).save(folder / DIRECTIONS_FILE)
    train_mapper(G, clip, MAPPER_PROMPT, steps=2, batch_size=2, id_weight=0, out=folder / "mappers" / "purple_hair")
    return folder


def client(server: AppServer):
    """A gradio_client Client of the running app."""
    from gradio_client import Client
    return Client(server.url, verbose=False)


def pixels(path) -> np.ndarray:
    """An image file returned by the app as an (H, W, 3) uint8 array."""
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))
