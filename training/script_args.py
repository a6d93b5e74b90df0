"""Command-line pieces shared by the training scripts: the parser, the optimisation-loop flags, the device flags, the
command line recorded in model cards, and (for train_mapper.py / compute_directions.py) the generator + CLIP pair."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Callable, TypeVar

import torch

from linkgan.clip import CLIPAdapter
from linkgan.networks import Generator

T = TypeVar("T")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's parser: its module docstring (usage examples) kept as written in --help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_loop_args(p: argparse.ArgumentParser, *, out: str, steps: int, steps_help: str = "optimiser steps",
                  batch_size: int, batch_help: str, lr: float, lr_help: str, log_every: int = 50,
                  seed_help: str = "torch seed and training-seed window", out_required: bool = True) -> None:
    """--out --steps --batch-size --lr --seed --log-every, with each script's defaults and words."""
    p.add_argument("--out", required=out_required, help=out)
    p.add_argument("--steps", type=int, default=steps, help=steps_help)
    p.add_argument("--batch-size", type=int, default=batch_size, help=batch_help)
    p.add_argument("--lr", type=float, default=lr, help=lr_help)
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--log-every", type=int, default=log_every, help="steps between log lines")


def add_device_args(p: argparse.ArgumentParser, *, threads: int | None = 1,
                    threads_help: str = "torch CPU threads") -> None:
    """--threads (None: torch's default) and --device (default: cuda when available)."""
    p.add_argument("--threads", type=int, default=threads, help=threads_help)
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")



def add_run_args(p: argparse.ArgumentParser, *, out: str, example: str) -> None:
    """--out (a run folder), --resume, and `section.field=value` overrides of the run's dataclass config."""
    p.add_argument("--out", required=True, help=out)
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.pt with the run's saved config (overrides apply on top)")
    p.add_argument("overrides", nargs="*", help=f"section.field=value, e.g. {example}")


def parse_overrides(p: argparse.ArgumentParser, a: argparse.Namespace) -> dict[str, str]:
    """The overrides as {"section.field": "value"}, plus run.out; a malformed one ends the script with a usage error."""
    pairs = {}
    for item in a.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"override {item!r} does not look like section.field=value")
        pairs[key] = value
    pairs["run.out"] = json.dumps(a.out)
    return pairs


def run_base(a: argparse.Namespace, default: T, from_dict: Callable[[dict], T]) -> T:
    """The config the overrides go on: with --resume the run's saved config.json (the run as it was configured),
    else `default`."""
    saved = Path(a.out) / "config.json"
    if a.resume and saved.is_file():
        return from_dict(json.loads(saved.read_text()))
    return default


def set_threads(a: argparse.Namespace) -> None:
    if a.threads:
        torch.set_num_threads(a.threads)


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that ran this script, for its model card: python training/<script> <arguments>."""
    return shlex.join(["python", f"training/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", default="toyfaces64-linked", help="generator: name, folder or Hub repo id")
    p.add_argument("--clip", default="toyfaces-clip", help="CLIP: project name/folder, hf-hub:... or open_clip "
                                                           "architecture/tag such as ViT-B-32/openai")
    add_device_args(p)


def load_models(a: argparse.Namespace) -> tuple[Generator, CLIPAdapter]:
    set_threads(a)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Generator.from_pretrained(a.generator, device=device), CLIPAdapter.load(a.clip, device=device)
