"""Training throughput of linkgan.train.Trainer at the shipped 64 px config on this CPU (fp32): images per second
of full training steps (G + D, lazy R1 amortised, data rendered in the loop as a one-worker loader would), averaged
over whole cycles of the lazy link interval, side by side in one run, each configuration in a fresh process
(the memory setting below is process-wide and lasting):
  plain_before    no links, the trainer as the first generators were trained: fresh fakes for G's step
                  (optim.reuse_fakes off) and glibc's default handling of freed memory (run.hold_memory off);
  plain           no links, the trainer as it is: G's step reads D's fakes, freed memory held for reuse;
  linked_paper    the three shipped links with the paper's settings (the regularizer on the whole batch, every
                  perturbed image in G's adversarial loss) on the trainer as it was: the reference;
  linked          the same links with the shipped recipe's settings (linkgan.train.LinkConfig batch_shrink 2,
                  adversarial_subset) on the trainer as it is;
  linked_pool     the same, reading faces rendered once (run.pool, linkgan.data.cache) instead of drawing each:
                  what training a generator with the recipe costs.
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


BEFORE = {"reuse_fakes": False, "hold_memory": False}     # the trainer as the first generators were trained


def images_per_s(links: list[dict], *, cycles: int, batch: int = 32, dataset=None, reuse_fakes: bool = True,
                 hold_memory: bool = True, **link_settings) -> float:
    """dataset: the training faces (default: drawn when read, as a one-worker loader would on these cores);
    reuse_fakes, hold_memory: optim.reuse_fakes and run.hold_memory (the trainer's defaults)."""
    from linkgan.train import TrainConfig, Trainer

    cfg = TrainConfig()
    cfg.generator.noise = False
    cfg.optim.batch_size = batch
    cfg.optim.reuse_fakes, cfg.run.hold_memory = reuse_fakes, hold_memory
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


def _in_fresh_process(threads: int, links: list[dict], pool: dict | None, kwargs: dict) -> float:
    torch.set_num_threads(threads)
    dataset = CachedFaces(**pool) if pool else None
    return images_per_s(links, dataset=dataset, **kwargs)


def measured_apart(links: list[dict], *, pool: dict | None = None, **kwargs) -> float:
    """images_per_s in a new process (spawned: nothing of this one's memory or threads carried over)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        return ex.submit(_in_fresh_process, torch.get_num_threads(), links, pool, kwargs).result()


def run(*, quick: bool = False) -> dict:
    cycles = 1 if quick else 3
    links = shipped_links()
    plain_before = measured_apart([], cycles=8 * cycles, **BEFORE)
    plain = measured_apart([], cycles=8 * cycles)
    paper = measured_apart(links, cycles=cycles, **BEFORE)
    fast = measured_apart(links, cycles=cycles, **FAST)
    with tempfile.TemporaryDirectory() as cache:          # every timed face read once, as in a run; rendered untimed
        pool = {"seeds": TRAIN_SEEDS[:(cycles * 8 + 1) * 32], "size": 64, "cache_dir": cache}
        CachedFaces(**pool)
        pooled = measured_apart(links, cycles=cycles, pool=pool, **FAST)
    return {"images_per_s": round(plain, 2), "images_per_s_before": round(plain_before, 2),
            "images_per_s_linked_paper": round(paper, 2), "images_per_s_linked": round(fast, 2),
            "images_per_s_linked_pool": round(pooled, 2), "speedup": round(pooled / paper, 2),
            "speedup_plain": round(plain / plain_before, 2),
            "links": [l["name"] for l in links], "batch": 32, "resolution": 64,
            "threads": torch.get_num_threads(), "cycles_timed": cycles}
