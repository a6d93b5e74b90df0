"""Small pieces shared by the package's training and optimisation loops (toy CLIP, attribute oracle, the projector,
StyleCLIP's optimisation): a run log that prints and appends to a file, the per-interval progress line, an atomic
torch checkpoint, the fp16 weight check, early stopping and learning-rate schedules."""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch


class RunLog:
    """Print (or `echo`) a line and append it to `path`, flushed at once so a crash keeps the log."""

    def __init__(self, path: str | os.PathLike, *, mode: str = "a", echo: Callable[[str], None] | None = None):
        self.file = open(path, mode)
        self.echo = echo or print

    def __call__(self, msg: str) -> None:
        self.echo(msg)
        self.file.write(msg + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def step_line(step: int, steps: int, loss: float, lr: float, rate: float, elapsed: float, extra: str = "") -> str:
    """'step  100/1200  loss 0.1234  <extra>  lr 1.00e-03  1.20 steps/s  elapsed  80 s  ETA  900 s'."""
    return (f"step {step:6d}/{steps}  loss {loss:.4f}  {extra + '  ' if extra else ''}lr {lr:.2e}  "
            f"{rate:.2f} steps/s  elapsed {elapsed:6.0f} s  ETA {(steps - step) / max(rate, 1e-9):6.0f} s")


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temporary file, then rename: a reader never sees a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fp16_rounded(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose floating-point tensors went through float16 and back (what fp16 weights load as)."""
    half = copy.deepcopy(model)
    half.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return half


@dataclass
class TrainRun:
    """What a classifier-like training run returns and writes into its model card."""
    folder: Path
    steps: int
    wall_s: float
    accuracy: dict[str, float] = field(default_factory=dict)   # held-out accuracy per attribute
    params: int = 0
    weights_dtype: str = "float32"


class Plateau:
    """Early stopping: `update(loss)` is True once the loss has not improved by `min_delta` for `patience`
    updates in a row (patience None: never)."""

    def __init__(self, patience: int | None, min_delta: float = 1e-4):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.since_best = math.inf, 0

    def update(self, loss: float) -> bool:
        if loss < self.best - self.min_delta:
            self.best, self.since_best = loss, 0
            return False
        self.since_best += 1
        return self.patience is not None and self.since_best >= self.patience


def cosine_schedule(step: int, total: int, warmup: int, floor: float = 0.0) -> float:
    """Linear warm-up over `warmup` steps, then cosine from 1 to `floor` at `total` (a learning-rate factor)."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def ramped_lr(t: float, lr: float, *, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """Learning rate at progress t in [0, 1]: linear warm-up over `rampup`, cosine ramp-down over the last `rampdown`
    (the StyleGAN2 projector's schedule, Karras et al. 2020, Sec. 5; StyleCLIP's optimisation uses it too)."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * (min(1.0, t / rampup) if rampup > 0 else 1.0)
