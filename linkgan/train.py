"""StyleGAN2 training loop (Karras et al. 2020, Sec. 4 / Appendix B): non-saturating logistic loss,
lazy R1, style mixing, EMA generator, lazy-regularisation optimiser adjustment; resumable exactly.

Every random draw happens in the main process from torch's global RNG (saved in checkpoints), and the
batch of step k is a pure function of (seed, k), so `resume` continues exactly as an uninterrupted run.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from .data import TRAIN_SEEDS, ToyFacesDataset
from .hub import config_to_dict
from .links import Segmenter, link_regularizer, links_from_specs, validate_links
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


@dataclass
class RunConfig:
    out: str = "runs/gan"         # run folder: config.json, log.jsonl, checkpoint.pt, samples
    steps: int = 10_000           # total generator steps
    seed: int = 0
    ckpt_every: int = 250         # steps between (atomic) checkpoints
    sample_every: int = 1000      # steps between sample sheets
    workers: int = 1              # DataLoader workers


@dataclass
class LinkConfig:
    """LinkGAN regularizer settings (METHODS §1). Choices the paper leaves open are named here."""
    links: list[dict] = field(default_factory=list)   # [{"name", "axes": [a, b], one of "box"/"half"/"label"}]
    alpha: float = 1.0            # perturbation std, in units of the batch's per-axis std of w (METHODS §1:
                                  #   "near the per-axis std of W"; relative, so it follows W as it trains)
    lambda_in: float = 1.0        # weight of L_in (region vs unlinked axes), mean over region pixels
    lambda_out: float = 1.0       # weight of L_out (outside vs linked axes), mean over outside pixels
    every: int = 8                # lazy interval (the paper: every 8 G steps); the loss is scaled by it
    adversarial: bool = True      # perturbed images also enter G's adversarial loss and D's fakes

    def build(self) -> list[Link]:
        return links_from_specs(self.links)


@dataclass
class TrainConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return {k: config_to_dict(getattr(self, k)) for k in ("generator", "discriminator", "optim", "link", "run")}


class StepBatches(Sampler):
    """Yields the dataset indices of steps start, start+1, ...: batch k depends only on (seed, k)."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, steps: int):
        self.n, self.batch_size, self.seed, self.start, self.steps = n, batch_size, seed, start, steps

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.start, self.steps):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
            yield torch.randint(self.n, (self.batch_size,), generator=g).tolist()

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def mixed_ws(G: Generator, batch: int, mixing_prob: float, device) -> torch.Tensor:
    """Mapped ws (B, num_ws, w_dim) with style mixing: rows after a random cutoff come from a second z."""
    z = torch.randn(2, batch, G.config.z_dim, device=device)
    w = G.map(z.flatten(0, 1), update_w_avg=True).view(2, batch, -1)
    ws = G.broadcast(w[0]).clone()
    if mixing_prob > 0 and torch.rand(()) < mixing_prob:
        cutoff = int(torch.randint(1, G.num_ws, ()))
        ws[:, cutoff:] = w[1].unsqueeze(1)
    return ws


def d_r1(D: Discriminator, real: torch.Tensor) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


class Trainer:
    """Holds G, D, G_ema and optimisers; `train()` runs to cfg.run.steps, checkpointing atomically."""

    def __init__(self, cfg: TrainConfig, *, dataset=None, device: str | torch.device | None = None,
                 segmenter: Segmenter | None = None, log: Callable[[str], None] = print):
        self.cfg, self.log, self.segmenter = cfg, log, segmenter
        self.links = cfg.link.build()
        validate_links(self.links, w_dim=cfg.generator.w_dim, resolution=cfg.generator.resolution)
        if any(l.label is not None for l in self.links) and segmenter is None:
            raise ValueError("semantic links need a segmenter (Trainer(..., segmenter=...))")
        self.extra_fakes: torch.Tensor | None = None     # perturbed images from the last link step, for D
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(cfg.run.seed)
        self.G = Generator(cfg.generator).to(self.device)
        self.D = Discriminator(cfg.discriminator).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        o = cfg.optim
        # lazy regularisation: scale lr and betas so the effective schedule matches non-lazy R1
        c = o.r1_every / (o.r1_every + 1) if o.r1_every else 1.0
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=o.lr, betas=o.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=o.lr * c, betas=(o.betas[0] ** c, o.betas[1] ** c))
        self.dataset = dataset if dataset is not None else ToyFacesDataset(
            size=cfg.generator.resolution, seeds=TRAIN_SEEDS, with_masks=False, with_caption=False)
        self.step = 0
        self.out = Path(cfg.run.out)

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "step": self.step,
                "rng": torch.get_rng_state(), "config": self.cfg.to_dict(), "extra_fakes": self.extra_fakes}

    def save_checkpoint(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        path, tmp = self.out / "checkpoint.pt", self.out / "checkpoint.pt.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)      # atomic: a stopped run never leaves a half-written checkpoint
        return path

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        # our own resume file: tensors, numbers and plain containers only
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config"] != self.cfg.to_dict():
            diff = {k for k in state["config"] if state["config"][k] != self.cfg.to_dict()[k]}
            if diff - {"run"}:
                raise ValueError(f"checkpoint {path} was made with a different config (sections {sorted(diff)})")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.step = int(state["step"])
        self.extra_fakes = state.get("extra_fakes")
        torch.set_rng_state(state["rng"])

    # --- one iteration --------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        o, G, D, b = self.cfg.optim, self.G, self.D, real.shape[0]
        stats: dict[str, float] = {}
        # D: logistic loss on real vs fake
        with torch.no_grad():
            fake = G.synthesize(mixed_ws(G, b, o.mixing_prob, self.device))
        if self.extra_fakes is not None:      # LinkGAN: perturbed images are shown to D as fakes too
            fake = torch.cat([fake, self.extra_fakes])
            self.extra_fakes = None
        loss_D = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        stats["loss_D"] = float(loss_D.detach())
        if o.r1_every and self.step % o.r1_every == 0:
            r1 = d_r1(D, real)
            (o.r1_gamma / 2 * r1 * o.r1_every).backward()
            stats["r1"] = float(r1.detach())
        self.opt_D.step()
        # G: non-saturating loss
        D.requires_grad_(False)
        fake = G.synthesize(mixed_ws(G, b, o.mixing_prob, self.device))
        loss_G = F.softplus(-D(fake)).mean()
        lc = self.cfg.link
        if self.links and lc.every and self.step % lc.every == 0:
            w = G.map(torch.randn(b, G.config.z_dim, device=self.device))
            # x, x1, x2 share one draw of noise: the regularizer must see only the latent's effect
            noise = [torch.randn(b, 1, s, s, device=self.device) for s in G.synthesis.noise_sizes]
            reg, link_stats, perturbed = link_regularizer(
                lambda w_: G.synthesize(w_, noise=noise), w, self.links, alpha=lc.alpha * w.detach().std(0, keepdim=True), lambda_in=lc.lambda_in,
                lambda_out=lc.lambda_out, segmenter=self.segmenter)
            loss_G = loss_G + lc.every * reg
            stats.update(link_stats)
            if lc.adversarial:
                pert = torch.cat(perturbed)
                loss_G = loss_G + F.softplus(-D(pert)).mean()
                self.extra_fakes = pert.detach()[::len(perturbed)]   # b images, spread over links
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        D.requires_grad_(True)
        stats["loss_G"] = float(loss_G.detach())
        self._update_ema(b)
        return stats

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
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        sampler = StepBatches(len(self.dataset), self.cfg.optim.batch_size, r.seed, self.step, r.steps)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=r.workers,
                            # its own generator: the loader's seed draw must not shift the global RNG
                            generator=torch.Generator().manual_seed(r.seed))
        t0, step0 = time.time(), self.step
        with open(self.out / "log.jsonl", "a") as logf:
            for batch in loader:
                stats = self.train_step(batch["image"].to(self.device))
                self.step += 1
                if self.step % 50 == 0 or self.step == r.steps:
                    rate = (self.step - step0) / max(time.time() - t0, 1e-9)
                    eta = (r.steps - self.step) / max(rate, 1e-9)
                    rec = {"step": self.step, **{k: round(v, 4) for k, v in stats.items()},
                           "steps_per_s": round(rate, 3), "eta_min": round(eta / 60, 1)}
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    self.log(" ".join(f"{k}={v}" for k, v in rec.items()))
                if self.step % r.ckpt_every == 0 or self.step == r.steps:
                    self.save_checkpoint()
                if r.sample_every and (self.step % r.sample_every == 0 or self.step == r.steps):
                    self.save_samples()

    def export(self, folder: str | os.PathLike, **card) -> Path:
        """Save G_ema as a shippable weight set; its links travel in config.json for the editors."""
        extra = {"links": self.cfg.link.links, "training": {"step": self.step, "config": self.cfg.to_dict(), **card}}
        return self.G_ema.save_pretrained(folder, extra=extra)

    @torch.no_grad()
    def save_samples(self, n: int = 16) -> Path:
        from .utils import generate_images, make_grid
        images = generate_images(self.G_ema, range(n), noise_mode="const", device=self.device)
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"samples_{self.step:07d}.png"
        make_grid(images).save(path)
        return path


def replace_config(cfg: TrainConfig, overrides: dict[str, str]) -> TrainConfig:
    """Apply 'section.field=value' overrides (values parsed as JSON when possible) to a TrainConfig."""
    cfg = copy.deepcopy(cfg)
    for key, raw in overrides.items():
        section, _, name = key.partition(".")
        sub = getattr(cfg, section, None)
        if sub is None or not dataclasses.is_dataclass(sub) or name not in {f.name for f in dataclasses.fields(sub)}:
            raise ValueError(f"unknown config key {key!r}; keys look like optim.lr or run.steps")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data = dataclasses.asdict(sub)
        data[name] = value
        try:
            setattr(cfg, section, type(sub)(**data))
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad value for {key}: {e}") from e
    return cfg
