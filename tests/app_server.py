"""A real app server for the API, load and browser tests: `python app.py` on a free loopback port, serving a
tiny linked generator (a box link and a semantic link) saved to a temporary folder."""
from __future__ import annotations

from pathlib import Path

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
    return folder
