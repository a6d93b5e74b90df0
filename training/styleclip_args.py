"""Command-line pieces shared by the StyleCLIP scripts (train_mapper.py, compute_directions.py): which generator and
CLIP to load, on how many threads and which device."""
from __future__ import annotations

import argparse

import torch

from linkgan.clip import CLIPAdapter
from linkgan.networks import Generator


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", default="toyfaces64-linked", help="generator: name, folder or Hub repo id")
    p.add_argument("--clip", default="toyfaces-clip", help="CLIP: project name/folder, hf-hub:... or open_clip name")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")


def load_models(a: argparse.Namespace) -> tuple[Generator, CLIPAdapter]:
    torch.set_num_threads(a.threads)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Generator.from_pretrained(a.generator, device=device), CLIPAdapter.load(a.clip, device=device)
