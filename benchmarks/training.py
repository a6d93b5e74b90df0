"""Training throughput of linkgan.train.Trainer at the default 64 px config on this CPU (fp32): images per
second of full training steps (G + D, lazy R1 amortised), without links and with the three default links
(the regularizer runs every 8 steps, so the figure is averaged over whole 8-step cycles)."""
from __future__ import annotations

import time

import torch

DEFAULT_LINKS = [
    {"name": "eyes", "axes": [0, 32], "box": [0.25, 0.33, 0.75, 0.58]},
    {"name": "mouth", "axes": [32, 64], "box": [0.35, 0.58, 0.65, 0.77]},
    {"name": "hair", "axes": [64, 128], "label": 2},
]


def images_per_s(links: list[dict], *, steps: int, warmup: int = 2) -> float:
    from linkgan.train import TrainConfig, Trainer

    cfg = TrainConfig()
    cfg.link.links = links
    cfg.run.out = "/nonexistent"                     # nothing is written: train_step only
    t = Trainer(cfg, device="cpu", log=lambda s: None)
    b = cfg.optim.batch_size
    reals = [t.dataset[i]["image"] for i in range(b)]
    real = torch.stack(reals)
    for _ in range(warmup):
        t.train_step(real)
        t.step += 1
    t.step = 0
    t0 = time.perf_counter()
    for _ in range(steps):
        t.train_step(real)
        t.step += 1
    return steps * b / (time.perf_counter() - t0)


def run(*, quick: bool = False) -> dict:
    steps = 8 if quick else 32
    plain = images_per_s([], steps=steps)
    linked = images_per_s(DEFAULT_LINKS, steps=steps)
    return {"images_per_s": round(plain, 2), "images_per_s_linked": round(linked, 2),
            "steps_per_hour": round(plain / 16 * 3600), "batch": 16, "resolution": 64,
            "threads": torch.get_num_threads(), "steps_timed": steps}
