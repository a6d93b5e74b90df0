"""A real app server for the API, load and browser tests: `python app.py` on a free loopback port, serving a
tiny linked generator (a box link and a semantic link) saved to a temporary folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.app_server import AppServer, free_port  # noqa: F401  (re-exported for the tests)

LINKS = [{"name": "eyes", "axes": [0, 8], "box": [0.25, 0.33, 0.75, 0.58]},
         {"name": "mouth", "axes": [8, 16], "box": [0.35, 0.58, 0.65, 0.77]},
         {"name": "hair", "axes": [16, 24], "label": 2}]


def tiny_generator(folder: Path) -> Path:
    """A 16 px generator without links (seed 0) saved to `folder`: the command-line tests' model."""
    from linkgan.networks import Generator, GeneratorConfig
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16))
    G.eval().save_pretrained(folder)
    return folder


def tiny_linked_generator(folder: Path) -> Path:
    from linkgan.networks import Generator, GeneratorConfig
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.save_pretrained(folder, extra={"links": LINKS})
    tiny_styleclip(G, folder / "styleclip")
    return folder


def tiny_studio(name: str = "tiny"):
    """A Studio on a 32 px linked generator (LINKS) made in memory with seed 0, and the shipped segmenter."""
    from linkgan.networks import Generator, GeneratorConfig
    from linkgan.segmenter import Segmenter
    from linkgan.studio import Studio
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.metadata = {"links": LINKS}
    return Studio(G, segmenter=Segmenter.from_pretrained("toyfaces64-segmenter").predict, name=name)


MAPPER_PROMPT = "a face with purple hair"


PRESET_TARGETS = ("a face with blond hair", "a face with a blue background")


def pixel_judge(before: torch.Tensor, after: torch.Tensor) -> dict:
    """A stand-in for the attribute oracle when tuning tiny directions: success is the share of images whose mean
    pixel change exceeds 0.02, preservation one minus the mean change."""
    change = (after - before).abs().mean(dim=(1, 2, 3))
    return {"success": float((change > 0.02).float().mean()), "preservation": float(1 - change.mean())}


def tiny_styleclip(G, folder: Path, clip: str = "toyfaces-clip") -> Path:
    """Real (tiny) StyleCLIP artefacts of G in the zoo layout: global directions from 1 image, their settings tuned
    for PRESET_TARGETS on 4 faces by pixel_judge (global_prompts.json), and a latent mapper "purple_hair" trained for
    2 steps (a few seconds in all)."""
    from linkgan.clip import CLIPAdapter
    from linkgan.styleclip import DIRECTIONS_FILE, PROMPTS_FILE, GlobalDirections, train_mapper, tune_global

    clip = CLIPAdapter.load(clip)
    dirs = GlobalDirections.compute(G, clip, n_stats=256, n_images=1, batch=512)
    dirs.save(folder / DIRECTIONS_FILE)
    with torch.no_grad():
        ws = G.broadcast(G.map(G.z_from_seeds(range(4)), psi=0.7))
    prompts = {}
    for target in PRESET_TARGETS:
        best = tune_global(G, dirs, clip, ws, target, pixel_judge, alphas=[3.0, 12.0], channels=[3, 9])["best"]
        prompts[target.split()[-2]] = {"target": target, "alpha": best["alpha"], "beta": best["beta"],
                                       "channels": best["num_channels"]}
    (folder / PROMPTS_FILE).write_text(json.dumps({"neutral": "a face", "prompts": prompts}))
    train_mapper(G, clip, MAPPER_PROMPT, steps=2, batch_size=2, id_weight=0, out=folder / "mappers" / "purple_hair")
    return folder


def client(server: AppServer, **kw):
    """A gradio_client Client of the running app."""
    return server.client(**kw)


def pixels(path) -> np.ndarray:
    """An image file returned by the app as an (H, W, 3) uint8 array."""
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def slider_images(pair) -> tuple[str, str]:
    """The (before, after) file paths of an ImageSlider output, in either form gradio_client gives."""
    return tuple(p["image"] if isinstance(p, dict) else p for p in pair)


LINKS3D = [{"name": "mouth", "axes": [0, 8], "parts": ["mouth"], "follow": True},
           {"name": "eyes", "axes": [8, 12], "parts": ["eyes"], "follow": True}]


def tiny_generator3d(folder: Path) -> Path:
    """A 16 px tri-plane generator (test_networks3d.tiny_config, seed 0, a non-zero w_avg so that psi matters) with
    two links, saved to `folder`: the 3D tab's model in the app tests."""
    from linkgan.networks3d import TriplaneGenerator
    from test_networks3d import tiny_config
    torch.manual_seed(0)
    G = TriplaneGenerator(tiny_config())
    with torch.no_grad():
        G.w_avg.normal_()
    G.save_pretrained(folder, extra={"links": LINKS3D})
    return folder
