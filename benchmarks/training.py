"""Training throughput of linkgan.train.Trainer at the shipped 64 px config on this CPU (fp32): images per second
of full training steps (G + D, lazy R1 amortised, data rendered in the loop as a one-worker loader would), averaged
over whole cycles of the lazy link interval, side by side in one run:
  plain           no links;
  linked_paper    the three shipped links with the paper's settings: the regularizer on the whole batch and every
                  perturbed image in G's adversarial loss;
  linked          the same links with the shipped recipe's settings (linkgan.train.LinkConfig batch_shrink 2,
                  adversarial_subset): what training the shipped generator costs.
speedup = linked / linked_paper."""
from __future__ import annotations

import time

import torch

from linkgan.hub import DEFAULT_GENERATOR

FAST = {"batch_shrink": 2, "adversarial_subset": True}


def shipped_links() -> list[dict]:
    from linkgan.links import generator_links

    from . import _weights
    return [l.to_spec() for l in generator_links(_weights.generator(DEFAULT_GENERATOR)).values()]


def images_per_s(links: list[dict], *, cycles: int, batch: int = 32, **link_settings) -> float:
    from linkgan.train import TrainConfig, Trainer

    cfg = TrainConfig()
    cfg.generator.noise = False
    cfg.optim.batch_size = batch
    cfg.link.links = links
    for k, v in link_settings.items():
        setattr(cfg.link, k, v)
    cfg.run.out = "/nonexistent"                     # nothing is written: train_step only
    t = Trainer(cfg, device="cpu", log=lambda s: None)
    every = cfg.link.every if links else 1
    steps = cycles * every

    def batch_of(k: int) -> torch.Tensor:          # the loader's work, in the loop (a worker shares these cores)
        return torch.stack([t.dataset[(k * batch + i) % len(t.dataset)]["image"] for i in range(batch)])

    t.train_step(batch_of(0))                        # warm-up: allocator, kernels
    t.step = 0
    t0 = time.perf_counter()
    for k in range(steps):
        t.train_step(batch_of(k))
        t.step += 1
    return steps * batch / (time.perf_counter() - t0)


def run(*, quick: bool = False) -> dict:
    cycles = 1 if quick else 3
    links = shipped_links()
    plain = images_per_s([], cycles=8 * cycles)
    paper = images_per_s(links, cycles=cycles)
    fast = images_per_s(links, cycles=cycles, **FAST)
    return {"images_per_s": round(plain, 2), "images_per_s_linked_paper": round(paper, 2),
            "images_per_s_linked": round(fast, 2), "speedup": round(fast / paper, 2),
            "links": [l["name"] for l in links], "batch": 32, "resolution": 64,
            "threads": torch.get_num_threads(), "cycles_timed": cycles}
