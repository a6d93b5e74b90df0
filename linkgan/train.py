"""StyleGAN2 training loop (Karras et al. 2020, Sec. 4 / Appendix B): non-saturating logistic loss,
lazy R1, style mixing, EMA generator, lazy-regularisation optimiser adjustment; resumable exactly.

Every random draw happens in the main process from torch's global RNG (saved in checkpoints), and the
batch of step k is a pure function of (seed, k), so `resume` continues exactly as an uninterrupted run.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from .data import TRAIN_SEEDS, VALIDATION_SEEDS, ToyFacesDataset
from .data.cache import DEFAULT_CACHE, CachedFaces
from .hub import config_to_dict
from .control import region_control
from .links import (VARIETY_MEASURES, Link, Segmenter, link_metrics, link_regularizer, links_from_specs, part_links,
                    region_variety, validate_links)
from .networks import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig


@dataclass
class OptimConfig:
    batch_size: int = 16
    lr: float = 0.002             # StyleGAN2: 0.002 for both networks
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 0.1         # R1 weight; small for 64 px (StyleGAN2-ADA heuristic 0.0002 * res^2 / batch)
    r1_every: int = 16            # lazy R1 interval (0 = off)
    mixing_prob: float = 0.9      # style mixing probability
    ema_kimg: float = 2.5         # EMA half-life in thousands of images (StyleGAN2-ADA: 10 at batch 32)
    pl_weight: float = 0.0        # path-length regularisation weight (StyleGAN2: 2; off by default at 64 px)
    pl_every: int = 4             # lazy path-length interval
    pl_decay: float = 0.01        # EMA rate of the path-length target
    reuse_fakes: bool = True      # G's step reads the fakes D's step was shown (rendered once, with G's graph)
                                  #   instead of fresh ones: one synthesis forward fewer per step
    mapping_lr_mul: float = 1.0   # the mapping network's lr, times lr (and its equalised lr_mlp): a fine-tune may
                                  #   let W itself move faster, e.g. to carry each region's factors in its link's axes

    def __post_init__(self):
        self.betas = tuple(self.betas)
        if not self.mapping_lr_mul >= 0:
            raise ValueError(f"optim.mapping_lr_mul must be >= 0, got {self.mapping_lr_mul}")


@dataclass
class RunConfig:
    out: str = "runs/gan"         # run folder: config.json, log.jsonl, checkpoint.pt, samples
    steps: int = 10_000           # total generator steps
    seed: int = 0
    ckpt_every: int = 250         # steps between (atomic) checkpoints
    sample_every: int = 1000      # steps between sample sheets
    eval_every: int = 500         # steps between link metrics (editing precision, leakage) in log.jsonl
    eval_seeds: int = 64          # faces those metrics average over (VALIDATION_SEEDS: held out, never benchmarked)
    workers: int = 1              # DataLoader workers (per process)
    data: str = "toyfaces"        # "toyfaces" (procedural) or a folder of images (any sizes; resized, cropped)
    pool: int = 0                 # toyfaces: 0 = every face drawn when read (all TRAIN_SEEDS); N = the first N faces
                                  #   rendered once into `cache` and read from there (linkgan.data.cache)
    cache: str = DEFAULT_CACHE    # folder of rendered pools, shared by runs
    hold_memory: bool = True      # CPU, glibc: keep freed tensor memory for reuse (linkgan.train.hold_freed_memory)
    init: str = ""                # fine-tune from: a weight set (registry name, folder, Hub id) or a checkpoint.pt
    segmenter: str = "toyfaces64-segmenter"  # weights of the segmenter for semantic links (loaded when needed)
    oracle: str = "toyfaces64-oracle"  # attribute oracle of the region-control eval, for links that declare region
                                       #   attributes (loaded when needed; "" = no control eval)


@dataclass
class LinkConfig:
    """LinkGAN regularizer settings (docs/methods.md, "LinkGAN"). Choices the paper leaves open are named here."""
    links: list[dict] = field(default_factory=list)   # link specs (linkgan.links.links_from_specs)
    perturb: str = "noise"        # how the regularizer moves axes: "noise" (the paper: + alpha * N(0, I)) or
                                  #   "resample" (take another face's mapped w there: the test-time edit itself,
                                  #   codes that stay in W's distribution, so D judges real combinations)
    alpha: float = 1.0            # perturbation std ("noise"), in units of the batch's per-axis std of w (the
                                  #   paper's order of size; relative, so it follows W as it trains)
    lambda_in: float = 10.0       # weight of L_in (region vs unlinked axes), mean over region pixels
    lambda_out: float = 100.0     # weight of L_out (outside vs linked axes), mean over outside pixels
                                  #   (both measured on toy faces 64 px, docs/training.md, "How the default generators
                                  #   were trained": 10/100 gave the lowest ratios; lambda_in 30 collapsed)
    lambda_var: float = 0.0       # weight of the variety term (linkgan.links.link_regularizer): a link's resample must
                                  #   change its region as much as two real faces differ there (0 = off, the paper)
    variety_pairs: int = 256      # pairs of real images that amount is measured on, once per run (seeded)
    variety_per_part: bool = False  # take the variety term per part of a link of several parts, averaged (a small
                                  #   part such as the eyes is otherwise outweighed by a large one such as glasses)
    variety_measure: str = "pixels"  # what the variety term compares: "pixels" (mean squared difference) or "colour"
                                  #   (the part's mean colour: met by a change of content, not by pixel noise)
    variety_root: bool = False    # compare the root of each pair's change (an L1-like distance) with the data's: its
                                  #   gradient does not vanish as a region stops varying, where the square's does
    every: int = 8                # lazy interval (the paper: every 8 G steps); the loss is scaled by it
    ramp_kimg: float = 0.0        # the regularizer's weight grows linearly from 0 over this many thousand images of
                                  #   the run (0 = full weight at once). Fine-tuning a converged G at full weight
                                  #   made its lazy steps dwarf the adversarial ones and collapsed G within 100
                                  #   steps (docs/linking.md, "Fine-tuning")
    ramp_variety: bool = True     # the ramp also grows the variety term; False: the variety term at full weight from
                                  #   the start and only lambda_in / lambda_out ramped, so that a region's variation
                                  #   is defended before the terms that a still region meets grow
    adversarial: bool = True      # perturbed images also enter G's adversarial loss and D's fakes
    adversarial_subset: bool = False   # G's adversarial term sees only the images D is shown (one per w) instead
                                  #   of all 2 L B perturbed ones: much cheaper, the same images on both sides
    batch_shrink: int = 1         # the regularizer runs on batch_size / batch_shrink fresh w (as StyleGAN2's
                                  #   path-length regulariser's pl_batch_shrink); 1 = the whole batch

    def __post_init__(self):
        if self.variety_measure not in VARIETY_MEASURES:
            raise ValueError(f"link.variety_measure must be one of {VARIETY_MEASURES}, got {self.variety_measure!r}")
        if self.perturb not in ("noise", "resample"):
            raise ValueError(f"link.perturb must be 'noise' or 'resample', got {self.perturb!r}")
        if int(self.batch_shrink) < 1:
            raise ValueError(f"link.batch_shrink must be >= 1, got {self.batch_shrink}")

    def build(self) -> list[Link]:
        return links_from_specs(self.links)


@dataclass
class PartsConfig:
    """Discriminators of parts (off by default): each reads one fixed crop of every real and fake image, resized to a
    square, beside the whole-image D (as the local discriminators of face completion, Li et al. 2017, read the eyes
    and mouth). The 64 px D sees a part of a few pixels only through its first layers, so a generator that draws the
    same eyes on every face loses it almost nothing; a D of the crop alone, with its own minibatch-stddev, does
    (docs/linking.md, "A discriminator of the parts")."""
    crops: list[dict] = field(default_factory=list)   # [{"name": "eyes", "box": [x0, y0, x1, y1], "size": 32}, ...]:
                                                      #   box in [0, 1] of the image, size a power of two >= 16
    weight: float = 1.0           # weight of each part D's term in G's adversarial loss (the whole image's is 1)
    channel_base: int = 2048      # the part Ds' channel schedule (linkgan.networks.DiscriminatorConfig)
    channel_max: int = 64

    def __post_init__(self):
        names = []
        for spec in self.crops:
            try:
                name, (box, size) = _crop(spec)
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"bad parts crop {spec!r}: needs name, box [x0, y0, x1, y1] and size ({e})") from e
            if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
                raise ValueError(f"parts crop {name!r}: box must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and "
                                 f"0 <= y0 < y1 <= 1, got {list(box)}")
            DiscriminatorConfig(resolution=size)       # checks the size
            unknown = set(spec) - {"name", "box", "size"}
            if unknown:
                raise ValueError(f"parts crop {name!r}: unknown keys {sorted(unknown)}")
            names.append(name)
        if len(set(names)) != len(names):
            raise ValueError(f"parts crop names must be unique, got {names}")

    def boxes(self) -> dict[str, tuple[tuple[float, ...], int]]:
        """{name: (box, size)} of every crop."""
        return dict(_crop(spec) for spec in self.crops)


def _crop(spec: dict) -> tuple[str, tuple[tuple[float, ...], int]]:
    """(name, (box, size)) of a crop spec (size 32 when not given)."""
    return spec["name"], (tuple(float(v) for v in spec["box"]), int(spec.get("size", 32)))


class PartDiscriminators(torch.nn.Module):
    """One StyleGAN2 discriminator per crop of PartsConfig; losses as the whole image's (non-saturating, R1)."""

    def __init__(self, cfg: PartsConfig, mbstd_group: int = 4):
        super().__init__()
        self.boxes = cfg.boxes()
        self.nets = torch.nn.ModuleDict({
            name: Discriminator(DiscriminatorConfig(resolution=size, channel_base=cfg.channel_base,
                                                    channel_max=cfg.channel_max, mbstd_group=mbstd_group))
            for name, (_, size) in self.boxes.items()})

    def crop(self, images: torch.Tensor, name: str) -> torch.Tensor:
        (x0, y0, x1, y1), size = self.boxes[name]
        h, w = images.shape[-2:]
        part = images[..., round(y0 * h):max(round(y1 * h), round(y0 * h) + 1),
                      round(x0 * w):max(round(x1 * w), round(x0 * w) + 1)]
        return F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False)

    def logits(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [net(self.crop(images, name)) for name, net in self.nets.items()]

    def d_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return sum(F.softplus(f).mean() + F.softplus(-r).mean() for f, r in zip(self.logits(fake), self.logits(real)))

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return sum(F.softplus(-f).mean() for f in self.logits(fake))

    def r1(self, real: torch.Tensor) -> torch.Tensor:
        return sum(r1_penalty(net, self.crop(real, name)) for name, net in self.nets.items())


@dataclass
class TrainConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    run: RunConfig = field(default_factory=RunConfig)
    parts: PartsConfig = field(default_factory=PartsConfig)

    def to_dict(self) -> dict:
        return {k: config_to_dict(getattr(self, k))
                for k in ("generator", "discriminator", "optim", "link", "run", "parts")}


class StepBatches(Sampler):
    """Yields the dataset indices of steps start, start+1, ...: batch k depends only on (seed, k)."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, steps: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.start, self.steps = n, batch_size, seed, start, steps
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[list[int]]:
        per = self.batch_size // self.world
        for k in range(self.start, self.steps):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
            yield torch.randint(self.n, (self.batch_size,), generator=g)[self.rank * per:(self.rank + 1) * per].tolist()

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def hold_freed_memory() -> bool:
    """Have glibc's malloc keep the memory of freed tensors for the next ones instead of handing it back to the
    system: by default each activation of a few MB is mapped fresh and the kernel faults in and zeroes every page
    of it again (tens of thousands of page faults per 64 px training step). Process-wide and lasting; memory stays
    at the run's peak. Returns False (and changes nothing) where the C library is not glibc."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3      # mallopt parameters, <malloc.h>
    return all(libc.mallopt(k, v) == 1 for k, v in ((m_mmap_threshold, 32 << 20),  # glibc's largest allowed
                                                      (m_trim_threshold, 1 << 30), (m_top_pad, 64 << 20)))


def mixed_ws(G: Generator, batch: int, mixing_prob: float, device) -> torch.Tensor:
    """Mapped ws (B, num_ws, w_dim) with style mixing: rows after a random cutoff come from a second z."""
    z = torch.randn(2, batch, G.config.z_dim, device=device)
    w = G.map(z.flatten(0, 1), update_w_avg=True).view(2, batch, -1)
    ws = G.broadcast(w[0]).clone()
    if mixing_prob > 0 and torch.rand(()) < mixing_prob:
        cutoff = int(torch.randint(1, G.num_ws, ()))
        ws[:, cutoff:] = w[1].unsqueeze(1)
    return ws


def r1_penalty(logits_of: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
    """R1: the batch mean of |d logits / d input|^2, summed over the inputs (EG3D's dual discriminator regularizes
    both of its image inputs); logits_of(*inputs) -> (B, 1)."""
    inputs = tuple(x.detach().requires_grad_(True) for x in inputs)
    grads = torch.autograd.grad(logits_of(*inputs).sum(), inputs, create_graph=True)
    return sum(g.square().sum(dim=(1, 2, 3)).mean() for g in grads)


class Trainer:
    """Holds G, D, G_ema and optimisers; `train()` runs to cfg.run.steps, checkpointing atomically.
    A subclass for another pair of networks (linkgan.train3d) names its classes below and overrides the hooks: what
    D reads of real and fake images (real_inputs, fake_inputs, r1), train_step's arguments from a batch
    (batch_tensors), G's lazy regularizers (g_regularizers), the link renders (_link_loss) and the data
    (default_dataset)."""

    config_class = TrainConfig
    generator_class = Generator
    discriminator_class = Discriminator

    def __init__(self, cfg: TrainConfig, *, dataset=None, device: str | torch.device | None = None,
                 segmenter: Segmenter | None = None, log: Callable[[str], None] = print, load_init: bool = True):
        """`load_init=False`: leave cfg.run.init unread (a resumed run: its checkpoint holds every weight, and
        its saved config the init's architecture, so the init weights need not exist any more)."""
        self.rank, self.world = dist_info()
        self.log = log if self.rank == 0 else (lambda msg: None)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if cfg.run.hold_memory and self.device.type == "cpu":
            hold_freed_memory()
        init_state = None
        if cfg.run.init and load_init:   # fine-tuning (the paper's recipe): the init weights give the architecture
            cfg, init_state = _read_init(cfg, cfg.run.init, self.device, type(self))
        self.cfg = cfg
        self.links = cfg.link.build()
        validate_links(self.links, w_dim=cfg.generator.w_dim, resolution=cfg.generator.resolution)
        if any(l.semantic for l in self.links) and segmenter is None:
            if not cfg.run.segmenter:
                raise ValueError("semantic links need a segmenter: set run.segmenter to a weight set "
                                 "(e.g. toyfaces64-segmenter) or pass Trainer(..., segmenter=...)")
            from .segmenter import Segmenter as SegmenterNet
            segmenter = SegmenterNet.from_pretrained(cfg.run.segmenter, device=self.device).eval().predict
        self.segmenter = segmenter
        if cfg.optim.batch_size % self.world:
            raise ValueError(f"optim.batch_size={cfg.optim.batch_size} must be divisible by the "
                             f"{self.world} processes")
        per, group = cfg.optim.batch_size // self.world, cfg.discriminator.mbstd_group
        if self.links and cfg.link.adversarial and (per // cfg.link.batch_shrink) % min(group, per):
            raise ValueError(f"link.batch_shrink={cfg.link.batch_shrink} leaves {per // cfg.link.batch_shrink} "
                             f"perturbed images per process for D, not a multiple of its minibatch-stddev group "
                             f"({group}): choose a batch_shrink that divides the batch into multiples of {group}")
        self.extra_fakes = None                           # perturbed images from the last link step, for D (what D
                                                          #   reads of them: a tensor, or a tuple as fake_inputs)
        self._oracle = None                               # loaded by the first region-control eval
        self._variety = None                              # measured by the first link step that needs it
        torch.manual_seed(cfg.run.seed)                   # same initial weights in every process
        self.G = self.generator_class(cfg.generator).to(self.device)
        self.D = self.discriminator_class(cfg.discriminator).to(self.device)
        if init_state is not None:
            self.G.load_state_dict(init_state["G"])
            if init_state.get("D") is not None:
                self.D.load_state_dict(init_state["D"])
        self.P = PartDiscriminators(cfg.parts, cfg.discriminator.mbstd_group).to(self.device) if cfg.parts.crops else None
        # a fine-tuning run keeps the part discriminators of a run checkpoint with the same crops and sizes (its
        # weight in G's loss may differ); otherwise they start afresh (weight sets carry none)
        if self.P is not None and init_state is not None and init_state.get("P") is not None:
            same = lambda c: {k: v for k, v in c.items() if k != "weight"}  # noqa: E731
            if same(init_state["parts"]) == same(dataclasses.asdict(cfg.parts)):
                self.P.load_state_dict(init_state["P"])
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if init_state is not None and init_state.get("G_ema") is not None:
            self.G_ema.load_state_dict(init_state["G_ema"])
        if self.world > 1:                                # then a different stream of z per process
            torch.manual_seed(cfg.run.seed + 1_000_003 * self.rank)
        o = cfg.optim
        # lazy regularisation: scale lr and betas so the effective schedule matches non-lazy R1 / PL
        cd = o.r1_every / (o.r1_every + 1) if o.r1_every else 1.0
        cg = o.pl_every / (o.pl_every + 1) if o.pl_weight and o.pl_every else 1.0
        groups = list(self.G.parameters())    # one group, as every checkpoint before mapping_lr_mul holds
        if o.mapping_lr_mul != 1:
            mapping = {id(p) for p in self.G.mapping.parameters()}
            groups = [{"params": [p for p in self.G.parameters() if id(p) not in mapping]},
                      {"params": list(self.G.mapping.parameters()), "lr": o.lr * cg * o.mapping_lr_mul}]
        self.opt_G = torch.optim.Adam(groups, lr=o.lr * cg, betas=(o.betas[0] ** cg, o.betas[1] ** cg))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=o.lr * cd, betas=(o.betas[0] ** cd, o.betas[1] ** cd))
        self.opt_P = (torch.optim.Adam(self.P.parameters(), lr=o.lr * cd, betas=(o.betas[0] ** cd, o.betas[1] ** cd))
                      if self.P is not None else None)
        self.pl_mean = torch.zeros((), device=self.device)
        self.dataset = dataset if dataset is not None else self.default_dataset()
        self.step = 0
        self.wall_s = 0.0                                 # training wall time over all resumes
        self.out = Path(cfg.run.out)

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        # per-process state (RNG, pending fakes) from every process, so a DDP run resumes exactly too
        local = {"rng": torch.get_rng_state(), "extra_fakes": self.extra_fakes}
        locals_ = all_gather_objects(local, self.world)
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "step": self.step,
                "wall_s": self.wall_s, "pl_mean": self.pl_mean, "rng": [l["rng"] for l in locals_],
                "extra_fakes": [l["extra_fakes"] for l in locals_], "config": self.cfg.to_dict(),
                **({"P": self.P.state_dict(), "opt_P": self.opt_P.state_dict()} if self.P is not None else {})}

    def check_in_sync(self) -> None:
        """Under DDP every process must hold the same weights; a cheap checksum comparison says so."""
        nets = (self.G, self.D) + ((self.P,) if self.P is not None else ())
        sums = all_gather_objects([float(p.detach().double().sum()) for n in nets for p in n.parameters()], self.world)
        if any(s != sums[0] for s in sums[1:]):
            raise RuntimeError("data-parallel processes hold different weights: gradients were not synchronised")

    def save_checkpoint(self) -> Path:
        path, tmp = self.out / "checkpoint.pt", self.out / "checkpoint.pt.tmp"
        if self.world > 1:
            self.check_in_sync()
        state = self.state_dict()           # collective under DDP: every process takes part
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            torch.save(state, tmp)
            os.replace(tmp, path)      # atomic: a stopped run never leaves a half-written checkpoint
        return path

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        # our own resume file: tensors, numbers and plain containers only
        state = torch.load(path, map_location=self.device, weights_only=True)
        mine, theirs = self.cfg.to_dict(), _with_defaults(state["config"], type(self.cfg))
        diff = {k for k in mine if mine[k] != theirs.get(k)} - {"run"}
        if diff:
            raise ValueError(f"checkpoint {path} was made with a different config (sections {sorted(diff)})")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.P is not None:
            self.P.load_state_dict(state["P"])
            self.opt_P.load_state_dict(state["opt_P"])
        self.step = int(state["step"])
        self.pl_mean = state.get("pl_mean", self.pl_mean).to(self.device)
        self.wall_s = float(state.get("wall_s", 0.0))
        rng, fakes = state["rng"], state.get("extra_fakes")
        if not isinstance(rng, list):           # checkpoints of single-process runs before DDP support
            rng, fakes = [rng], [fakes]
        if len(rng) != self.world:
            raise ValueError(f"checkpoint {path} was written by {len(rng)} process(es); resume it with "
                             f"the same number (this run has {self.world})")
        torch.set_rng_state(rng[self.rank])
        self.extra_fakes = fakes[self.rank]

    # --- one iteration --------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor, *cond: torch.Tensor) -> dict[str, float]:
        """One D step and one G step on real images (B, 3, H, W) and what conditions them (the 3D trainer's
        cameras)."""
        o, G, D, b = self.cfg.optim, self.G, self.D, real.shape[0]
        stats: dict[str, float] = {}
        reals = self.real_inputs(real, *cond)
        # D: logistic loss on real vs fake. With optim.reuse_fakes the fakes are rendered once, with G's graph, and G's
        # step below reads the same ones (G has not changed in between): one synthesis forward fewer per step.
        if o.reuse_fakes:
            g_fake = self.fake_inputs(b)
            fake = tuple(t.detach() for t in g_fake)
        else:
            g_fake = None
            with torch.no_grad():
                fake = self.fake_inputs(b)
        if self.extra_fakes is not None:      # LinkGAN: perturbed images are shown to D as fakes too
            fake = tuple(torch.cat(pair) for pair in zip(fake, _as_inputs(self.extra_fakes)))
            self.extra_fakes = None
        loss_D = F.softplus(D(*fake)).mean() + F.softplus(-D(*reals)).mean()
        if self.P is not None:
            loss_P = self.P.d_loss(fake[0], reals[0])
            loss_D = loss_D + loss_P
            stats["loss_P"] = float(loss_P.detach())
        self.opt_D.zero_grad(set_to_none=True)
        if self.P is not None:
            self.opt_P.zero_grad(set_to_none=True)
        loss_D.backward()
        stats["loss_D"] = float(loss_D.detach())
        if o.r1_every and self.step % o.r1_every == 0:
            r1 = self.r1(reals)
            if self.P is not None:
                r1 = r1 + self.P.r1(reals[0])
            (o.r1_gamma / 2 * r1 * o.r1_every).backward()
            stats["r1"] = float(r1.detach())
        average_gradients(D, self.world)
        self.opt_D.step()
        if self.P is not None:
            average_gradients(self.P, self.world)
            self.opt_P.step()
        # G: non-saturating loss
        self._discriminators_require_grad(False)
        loss_G = self.g_adversarial(g_fake if g_fake is not None else self.fake_inputs(b))
        lc = self.cfg.link
        if self.links and lc.every and self.step % lc.every == 0:
            loss_G = loss_G + self._link_loss(stats)
        loss_G = loss_G + self.g_regularizers(b, stats)
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        average_gradients(G, self.world)
        self.opt_G.step()
        average_buffers(G, self.world)      # w_avg: the mean over every process's w
        self._discriminators_require_grad(True)
        stats["loss_G"] = float(loss_G.detach())
        self._update_ema(b * self.world)
        return stats

    def g_adversarial(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """G's non-saturating loss on fakes (D's inputs): the whole image's D, plus the part Ds' on the image."""
        loss = F.softplus(-self.D(*inputs)).mean()
        if self.P is not None:
            loss = loss + self.cfg.parts.weight * self.P.g_loss(inputs[0])
        return loss

    def _discriminators_require_grad(self, flag: bool) -> None:
        self.D.requires_grad_(flag)
        if self.P is not None:
            self.P.requires_grad_(flag)

    # hooks: what D reads (2D: the image alone), the batch, G's regularizers
    def real_inputs(self, real: torch.Tensor, *cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """D's inputs for a batch of real images."""
        return (real,)

    def fake_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        """D's inputs for a batch of fresh fakes (style-mixed ws)."""
        return (self.G.synthesize(mixed_ws(self.G, batch, self.cfg.optim.mixing_prob, self.device)),)

    def r1(self, reals: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return r1_penalty(self.D, *reals)

    def batch_tensors(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """train_step's arguments from a DataLoader batch."""
        return (batch["image"].to(self.device),)

    def g_regularizers(self, batch: int, stats: dict[str, float]) -> torch.Tensor | float:
        """Lazy regularizers of G added to its loss this step (2D: path length)."""
        o = self.cfg.optim
        if not (o.pl_weight and o.pl_every and self.step % o.pl_every == 0):
            return 0.0
        pl, self.pl_mean = path_length_penalty(self.G, mixed_ws(self.G, max(batch // 2, 1), o.mixing_prob, self.device),
                                               self.pl_mean, o.pl_decay, self.world)
        stats["pl"] = float(pl.detach())
        return o.pl_weight * o.pl_every * pl

    @property
    def link_batch(self) -> int:
        """Fresh w per process the LinkGAN regularizer runs on: batch_size / batch_shrink."""
        return max(self.cfg.optim.batch_size // self.world // self.cfg.link.batch_shrink, 1)

    def variety_targets(self) -> dict[str, float]:
        """{link: how much two real images differ in its region} (linkgan.links.region_variety) over
        link.variety_pairs pairs of the training data chosen by run.seed: measured once, the same on resume."""
        if self._variety is None:
            n = self.cfg.link.variety_pairs
            order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.cfg.run.seed))
            images = torch.stack([self.dataset[int(i)]["image"] for i in order[:2 * n]]).to(self.device)
            links = ([p for l in self.links for p in part_links(l)] if self.cfg.link.variety_per_part
                     else self.links)
            self._variety = region_variety(links, images[:n], images[n:], self.segmenter,
                                           self.cfg.link.variety_measure, root=self.cfg.link.variety_root)
            self.log(f"variety targets (two real faces, {self.cfg.link.variety_measure} change in the region"
                     f"{', root' if self.cfg.link.variety_root else ''}): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in self._variety.items()))
        return self._variety

    def _link_loss(self, stats: dict[str, float]) -> torch.Tensor:
        """The LinkGAN regularizer (scaled by its lazy interval) on B / batch_shrink fresh w, plus G's adversarial
        loss on the perturbed images; leaves B of them, spread over the links, as extra fakes for D."""
        G, b = self.G, self.link_batch
        w = G.map(torch.randn(b, G.config.z_dim, device=self.device))
        # x, x1, x2 share one draw of noise: the regularizer must see only the latent's effect
        noise = [torch.randn(b, 1, s, s, device=self.device) for s in G.synthesis.noise_sizes]

        def synthesize(w_: torch.Tensor) -> torch.Tensor:     # (k B, w_dim): row r of every block gets noise r
            if self.device.type == "cpu":     # a CPU runs blocks of B faster than one large batch (docs/linking.md)
                return torch.cat([G.synthesize(block, noise=noise) for block in w_.split(b)])
            k = w_.shape[0] // b
            return G.synthesize(w_, noise=[n.repeat(k, 1, 1, 1) for n in noise])

        return self._link_terms(stats, w, synthesize, lambda images, rows: images[rows])

    def _link_terms(self, stats: dict[str, float], w: torch.Tensor, synthesize: Callable[[torch.Tensor], torch.Tensor],
                    d_inputs: Callable[[torch.Tensor, slice], torch.Tensor | tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """The regularizer on w (B, w_dim) rendered by `synthesize` (see link_regularizer), weighted and ramped, plus
        G's adversarial loss on the perturbed images. d_inputs(images, rows): what D reads of those rows of the
        perturbed images (2 L B, 3, H, W), a tensor or a tuple; the rows D is shown next step are kept as extra
        fakes."""
        G, lc = self.G, self.cfg.link
        w_swap = G.map(torch.randn(len(w), G.config.z_dim, device=self.device)) if lc.perturb == "resample" else None
        ramp = min(1.0, self.step * self.cfg.optim.batch_size / (lc.ramp_kimg * 1000)) if lc.ramp_kimg > 0 else 1.0
        # the ramp weighs the whole regularizer, or (ramp_variety off) only the paper's two terms inside it
        outer, inner = (ramp, 1.0) if lc.ramp_variety else (1.0, ramp)
        reg, link_stats, perturbed = link_regularizer(
            synthesize, w, self.links, alpha=lc.alpha * w.detach().std(0, keepdim=True),
            lambda_in=lc.lambda_in * inner, lambda_out=lc.lambda_out * inner, segmenter=self.segmenter, w_swap=w_swap,
            variety=self.variety_targets() if lc.lambda_var else None, lambda_var=lc.lambda_var,
            variety_measure=lc.variety_measure, variety_root=lc.variety_root)
        stats.update(link_stats)
        loss = lc.every * outer * reg
        if lc.adversarial:
            pert = perturbed.flatten(0, 2)                        # (2 L B, 3, H, W): link-major, then kind
            spread = slice(None, None, 2 * len(self.links))       # one image per w, spread over links and kinds
            kept = d_inputs(pert, spread)
            seen = _as_inputs(kept if lc.adversarial_subset else d_inputs(pert, slice(None)))
            loss = loss + self.g_adversarial(seen)
            self.extra_fakes = kept.detach() if torch.is_tensor(kept) else tuple(t.detach() for t in kept)
        return loss

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        beta = 0.5 ** (batch / max(self.cfg.optim.ema_kimg * 1000, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # --- the loop -------------------------------------------------------------------------------
    def train(self) -> None:
        r = self.cfg.run
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        sampler = StepBatches(len(self.dataset), self.cfg.optim.batch_size, r.seed, self.step, r.steps,
                              self.rank, self.world)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=r.workers,
                            worker_init_fn=_ignore_stop_signals,     # the main process decides when to stop
                            # its own generator: the loader's seed draw must not shift the global RNG
                            generator=torch.Generator().manual_seed(r.seed))
        t0, step0, wall0 = time.time(), self.step, self.wall_s
        link_stats: dict[str, float] = {}
        stop = _StopRequest(self.world)
        with open(self.out / "log.jsonl", "a") if self.rank == 0 else open(os.devnull, "w") as logf, stop:
            from .utils import describe_device
            logf.write(json.dumps({"step": self.step, "start": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                   "hardware": describe_device(self.device), "processes": self.world}) + "\n")
            for batch in loader:
                if stop.requested:       # SIGTERM / Ctrl-C: keep every finished step, then leave
                    self.save_checkpoint()
                    self.log(f"stopped at step {self.step}; continue with --resume")
                    logf.write(json.dumps({"step": self.step, "stopped": True}) + "\n")
                    return
                stats = self.train_step(*self.batch_tensors(batch))
                link_stats.update({k: v for k, v in stats.items() if "." in k})   # lazy link stats: keep the last
                stats.update(link_stats)
                self.step += 1
                self.wall_s = wall0 + time.time() - t0
                if self.step % 50 == 0 or self.step == r.steps:
                    rate = (self.step - step0) / max(time.time() - t0, 1e-9)
                    eta = (r.steps - self.step) / max(rate, 1e-9)
                    rec = {"step": self.step, **{k: round(v, 4) for k, v in stats.items()},
                           "steps_per_s": round(rate, 3), "eta_min": round(eta / 60, 1),
                           "wall_min": round(self.wall_s / 60, 1)}
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    self.log(" ".join(f"{k}={v}" for k, v in rec.items()))
                if self.step % r.ckpt_every == 0 or self.step == r.steps:
                    self.save_checkpoint()
                if self.rank == 0 and self.links and r.eval_every and (
                        self.step % r.eval_every == 0 or self.step == r.steps):
                    rec = {"step": self.step, "links": self.evaluate()}
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    self.log(f"step={self.step} links " + " ".join(
                        f"{k}: in={v['mse_in']:.2f} out={v['mse_out']:.2f} ratio={v['ratio']:.3f}"
                        + (f" control={v['control']['linked_vs_natural']}x natural, unlinked "
                           f"{max(x or 0 for x in v['control']['unlinked'].values())}, elsewhere "
                           f"{v['control']['elsewhere']}" if "control" in v else "")
                        for k, v in rec["links"].items()))
                if self.rank == 0 and r.sample_every and (self.step % r.sample_every == 0 or self.step == r.steps):
                    self.save_samples()

    def default_dataset(self):
        """The training images when none are given (cfg.run.data)."""
        return make_dataset(self.cfg.run.data, self.cfg.generator.resolution, pool=self.cfg.run.pool,
                            cache=self.cfg.run.cache)

    def export(self, folder: str | os.PathLike, *, discriminator: bool = True, dtype: torch.dtype | None = None,
               **card) -> Path:
        """Save G_ema as a shippable weight set; its links travel in config.json for the editors. With
        `discriminator`, D goes to <folder>/discriminator, so `--init <folder>` fine-tunes with both networks.
        dtype: what G's parameters are stored in (e.g. float16 to halve the file; they load back as float32)."""
        extra = {"links": self.cfg.link.links, "training": {"step": self.step, "config": self.cfg.to_dict(), **card}}
        path = self.G_ema.save_pretrained(folder, extra=extra, dtype=dtype)
        if discriminator:
            # float16: D only starts a fine-tuning run, and the shipped zoo must stay small (checkpoints/ < 40 MB)
            self.D.save_pretrained(Path(folder) / "discriminator", extra={"training": {"step": self.step}},
                                   dtype=torch.float16)
        return path

    @torch.no_grad()
    def evaluate(self) -> dict[str, dict]:
        """Link metrics of G_ema (x1e-3): mse_in / mse_out / leak_in / leak_out / ratio per link, and for links that
        declare region attributes their region control (linkgan.control) under "control"."""
        seeds = VALIDATION_SEEDS[:self.cfg.run.eval_seeds]
        out: dict[str, dict] = self.eval_link_metrics(seeds)
        if any(l.attributes for l in self.links) and self.cfg.run.oracle:
            if self._oracle is None:
                from .oracle import AttributeOracle
                self._oracle = AttributeOracle.from_pretrained(self.cfg.run.oracle, device=self.device).eval()
            for name, control in self.eval_region_control(seeds).items():
                out[name]["control"] = control
        return out

    def eval_link_metrics(self, seeds) -> dict[str, dict]:
        """The periodic eval's link metrics of G_ema per link (hook: the 3D trainer averages them over views)."""
        return link_metrics(self.G_ema, self.links, seeds=seeds, segmenter=self.segmenter)

    def eval_region_control(self, seeds) -> dict[str, dict]:
        """The periodic eval's region control of G_ema per link that declares region attributes (hook, as above)."""
        return region_control(self.G_ema, self.links, self._oracle, seeds=seeds)

    @torch.no_grad()
    def save_samples(self, n: int = 16) -> Path:
        from .utils import generate_images, make_grid
        images = generate_images(self.G_ema, range(n), noise_mode="const", device=self.device)
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"samples_{self.step:07d}.png"
        make_grid(images).save(path)
        return path


def _ignore_stop_signals(worker_id: int) -> None:
    # `timeout` and Ctrl-C signal the whole process group; workers end when the main process does
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _StopRequest:
    """While active, SIGTERM and SIGINT ask the loop to checkpoint and return instead of dying mid-step.
    Single-process runs only: under torchrun the processes would stop at different steps, so there the
    periodic checkpoints are what a stopped run resumes from."""

    def __init__(self, world: int):
        self.requested = False
        self.active = world == 1 and threading.current_thread() is threading.main_thread()
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:               # a second signal: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if self.active:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# --- data, fine-tuning and data-parallel helpers ---------------------------------------------------
def make_dataset(data: str, resolution: int, *, pool: int = 0, cache: str = DEFAULT_CACHE):
    """The training images: procedural toy faces (all TRAIN_SEEDS, each drawn when read; or with pool N, the first N
    rendered once into `cache` and read from there), or every image under a folder (resized, centre-cropped)."""
    if data == "toyfaces" and pool:
        return CachedFaces(TRAIN_SEEDS[:pool], size=resolution, cache_dir=cache)
    if data == "toyfaces":
        return ToyFacesDataset(size=resolution, seeds=TRAIN_SEEDS, with_masks=False, with_caption=False)
    from .data.folder import ImageFolderDataset
    return ImageFolderDataset(data, size=resolution)


def config_from_dict(config: dict, cls: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """The config (a TrainConfig, or a subclass with other section types: linkgan.train3d) of a run's config.json
    (fields added since it was written take their defaults)."""
    d, base = _with_defaults(config, cls), cls()
    d["optim"] = {**d["optim"], "betas": tuple(d["optim"]["betas"])}
    return cls(**{name: type(getattr(base, name))(**values) for name, values in d.items() if name in base.to_dict()})


def _with_defaults(config: dict, cls: type[TrainConfig] = TrainConfig) -> dict:
    """A saved config dict with fields added since it was written filled in with their defaults."""
    base = cls().to_dict()
    return {k: {**base.get(k, {}), **v} if isinstance(v, dict) else v for k, v in config.items()}


def _read_init(cfg: TrainConfig, name: str, device, trainer: type[Trainer] = Trainer) -> tuple[TrainConfig, dict]:
    """Weights to fine-tune from: a run checkpoint (G, D, G_ema) or a weight set (G; D if it has one).
    Returns cfg with the generator/discriminator architecture of the init weights, and their state."""
    gen_class, disc_class = trainer.generator_class, trainer.discriminator_class
    path = Path(name)
    ckpt = path / "checkpoint.pt" if path.is_dir() and (path / "checkpoint.pt").is_file() else path
    if ckpt.suffix == ".pt" and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        saved = _with_defaults(state["config"], type(cfg))
        cfg = dataclasses.replace(cfg, generator=gen_class.config_class(**saved["generator"]),
                                  discriminator=disc_class.config_class(**saved["discriminator"]))
        return cfg, {"G": state["G"], "D": state["D"], "G_ema": state["G_ema"], "P": state.get("P"),
                     "parts": saved.get("parts")}
    G = gen_class.from_pretrained(name, device=device)
    state = {"G": G.state_dict(), "G_ema": G.state_dict(), "D": None}
    dcfg = disc_class.config_class(resolution=G.config.resolution, channel_base=G.config.channel_base,
                                   channel_max=G.config.channel_max)
    folder = getattr(G, "source_folder", None)
    if folder is not None and (Path(folder) / "discriminator").is_dir():
        D = disc_class.from_pretrained(str(Path(folder) / "discriminator"), device=device)
        state["D"], dcfg = D.state_dict(), D.config
    return dataclasses.replace(cfg, generator=G.config, discriminator=dcfg), state


def _as_inputs(x: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """D's inputs as a tuple (a 2D trainer's pending fakes are one tensor, as its checkpoints store them)."""
    return x if isinstance(x, tuple) else (x,)


def dist_info() -> tuple[int, int]:
    """(rank, world size) of torch.distributed, (0, 1) when it is not initialised (one process)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_gather_objects(obj, world: int) -> list:
    if world == 1:
        return [obj]
    import torch.distributed as dist
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _all_reduce_mean(tensors: list[torch.Tensor], world: int) -> None:
    """Average tensors in place over the processes, in one flat all-reduce."""
    if world == 1 or not tensors:
        return
    import torch.distributed as dist
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world
    for t, v in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(v.view_as(t))


def average_gradients(module: torch.nn.Module, world: int) -> None:
    """Data parallelism: every process steps with the mean gradient (StyleGAN2-ADA syncs the same way)."""
    if world == 1:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    _all_reduce_mean([p.grad for p in params], world)


def average_buffers(module: torch.nn.Module, world: int) -> None:
    _all_reduce_mean([b for b in module.buffers() if b.is_floating_point()], world)


def path_length_penalty(G: Generator, ws: torch.Tensor, pl_mean: torch.Tensor, decay: float,
                        world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regulariser: (|J_w^T y| - a)^2 with a the EMA of the lengths."""
    ws = ws.detach().requires_grad_(True)
    img = G.synthesize(ws)
    y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean = lengths.detach().mean().reshape(1)
    _all_reduce_mean([mean], world)
    pl_mean = pl_mean.lerp(mean[0], decay)
    return (lengths - pl_mean).square().mean(), pl_mean.detach()


def replace_config(cfg: TrainConfig, overrides: dict[str, str]) -> TrainConfig:
    """Apply 'section.field=value' overrides (values parsed as JSON when possible) to a TrainConfig. A section is
    rebuilt once with all of its overrides, so settings checked together (the 3D generator's resolution and
    neural_resolution) can change together."""
    cfg = copy.deepcopy(cfg)
    changes: dict[str, dict] = {}
    for key, raw in overrides.items():
        section, _, name = key.partition(".")
        sub = getattr(cfg, section, None)
        if sub is None or not dataclasses.is_dataclass(sub) or name not in {f.name for f in dataclasses.fields(sub)}:
            raise ValueError(f"unknown config key {key!r}; keys look like optim.lr or run.steps")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        changes.setdefault(section, {})[name] = value
    for section, values in changes.items():
        sub = getattr(cfg, section)
        try:
            setattr(cfg, section, type(sub)(**{**dataclasses.asdict(sub), **values}))
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad value for {', '.join(f'{section}.{k}' for k in values)}: {e}") from e
    return cfg
