"""Training throughput of linkgan.train.Trainer at the shipped 64 px config on this CPU (fp32): images per second
of full training steps (G + D, lazy R1 amortised, data rendered in the loop as a one-worker loader would), averaged
over whole cycles of the lazy link interval, side by side in one run:
  plain           no links;
  linked_paper    the three shipped links with the paper's settings: the regularizer on the whole batch and every
                  perturbed image in G's adversarial loss;
  linked          the same links with the shipped recipe's settings (linkgan.train.LinkConfig batch_shrink 2,
                  adversarial_subset);
  linked_pool     the recipe's settings reading faces rendered once (run.pool, linkgan.data.cache) instead of
                  drawing each: what training a generator with the recipe costs.
speedup = linked_pool / linked_paper: the trainer as the recipe runs it against the trainer as it was."""
from __future__ import annotations

import tempfile
import time

import torch

from linkgan.data import TRAIN_SEEDS
from linkgan.data.cache import CachedFaces

from linkgan.hub import DEFAULT_GENERATOR

FAST = {"batch_shrink": 2, "adversarial_subset": True}


def shipped_links() -> list[dict]:
    from linkgan.links import generator_links

    from . import _weights
    return [l.to_spec() for l in generator_links(_weights.generator(DEFAULT_GENERATOR)).values()]


def images_per_s(links: list[dict], *, cycles: int, batch: int = 32, dataset=None, **link_settings) -> float:
    """dataset: the training faces (default: drawn when read, as a one-worker loader would on these cores)."""
    from linkgan.train import TrainConfig, Trainer

    cfg = TrainConfig()
    cfg.generator.noise = False
    cfg.optim.batch_size = batch
    cfg.link.links = links
    for k, v in link_settings.items():
        setattr(cfg.link, k, v)
    cfg.run.out = "/nonexistent"                     # nothing is written: train_step only
    t = Trainer(cfg, device="cpu", log=lambda s: None, dataset=dataset)
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
    with tempfile.TemporaryDirectory() as cache:          # every timed face read once, as in a run; rendered untimed
        pool = CachedFaces(TRAIN_SEEDS[:(cycles * 8 + 1) * 32], size=64, cache_dir=cache)
        pooled = images_per_s(links, cycles=cycles, dataset=pool, **FAST)
    return {"images_per_s": round(plain, 2), "images_per_s_linked_paper": round(paper, 2),
            "images_per_s_linked": round(fast, 2), "images_per_s_linked_pool": round(pooled, 2),
            "speedup": round(pooled / paper, 2), "speedup_settings_only": round(fast / paper, 2),
            "links": [l["name"] for l in links], "batch": 32, "resolution": 64,
            "threads": torch.get_num_threads(), "cycles_timed": cycles}
