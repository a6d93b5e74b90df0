"""Training of the e4e-style encoder (Tov et al. 2021, Sec. 4; docs/methods.md, "Inversion") against a frozen generator,
on a mix of the generator's own samples (codes known) and procedural toy faces (the "photos" of this domain). The batch
of step k is a pure function of (seed, k), so a resumed run continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import TRAIN_SEEDS, image_to_tensor, toy_face
from .encoder import Encoder, EncoderConfig, LatentDiscriminator, LossWeights, encoder_losses, latent_d_loss
from .hub import DEFAULT_GENERATOR, config_to_dict
from .runlog import RunLog, atomic_torch_save, step_line


@dataclass
class EncoderOptimConfig:
    batch_size: int = 16
    lr: float = 1e-4              # e4e: 1e-4 (Ranger); here Adam
    lr_d: float = 2e-5            # e4e: latent discriminator lr 2e-5
    real_fraction: float = 0.5    # share of each batch that is procedural toy faces (the rest: G's samples)
    psi: float = 1.0              # truncation of G's samples (1 = the whole of W)
    progressive_start: int = 500  # e4e: unlock offset 1 at this step (20k at 1024 px; scaled down here) ...
    progressive_every: int = 200  # ... and one more every this many steps (e4e: 2k); 0 = all unlocked at once
    lpips: str = "vgg"            # LPIPS backbone ("vgg", "alex"), "" for none (linkgan.perceptual)


@dataclass
class EncoderRunConfig:
    out: str = "runs/encoder"     # run folder: config.json, log.txt, checkpoint.pt, encoder/ (the weights)
    generator: str = DEFAULT_GENERATOR   # weight set the encoder inverts (name, folder or Hub repo id)
    steps: int = 5000
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 250


@dataclass
class EncoderTrainConfig:
    model: EncoderConfig = field(default_factory=EncoderConfig)
    optim: EncoderOptimConfig = field(default_factory=EncoderOptimConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    run: EncoderRunConfig = field(default_factory=EncoderRunConfig)

    def to_dict(self) -> dict:
        return {k: config_to_dict(getattr(self, k)) for k in ("model", "optim", "loss", "run")}

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderTrainConfig":
        """The config of a run's config.json or checkpoint (fields added since it was written take defaults)."""
        base = cls().to_dict()
        d = {k: {**base[k], **d.get(k, {})} for k in base}
        return cls(model=EncoderConfig(**d["model"]), optim=EncoderOptimConfig(**d["optim"]),
                   loss=LossWeights(**d["loss"]), run=EncoderRunConfig(**d["run"]))


def unlocked_at(step: int, num_ws: int, start: int, every: int) -> int:
    """e4e's progressive stage: offsets unlocked at `step` (0 before `start`, then one more every `every`)."""
    if step < start:
        return 0
    return num_ws - 1 if every <= 0 else min(num_ws - 1, 1 + (step - start) // every)


def make_batch(G, step: int, cfg: EncoderTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """-> images (B, 3, R, R), ws_true (n_gen, num_ws, w_dim): the known codes of the first n_gen images.
    G's samples first (const noise), then procedural toy faces; a pure function of (seed, step)."""
    o, device = cfg.optim, G.w_avg.device
    rng = np.random.default_rng([cfg.run.seed, step])
    n_real = int(round(o.batch_size * o.real_fraction))
    n_gen = o.batch_size - n_real
    z = torch.from_numpy(rng.standard_normal((n_gen, G.config.z_dim)).astype(np.float32)).to(device)
    with torch.no_grad():
        ws_true = G.broadcast(G.map(z, psi=o.psi))
        fakes = G.synthesize(ws_true, noise_mode="const")
    seeds = rng.integers(TRAIN_SEEDS.start, TRAIN_SEEDS.stop, n_real)
    r = G.config.resolution
    reals = [image_to_tensor(toy_face(int(s), size=r).image) for s in seeds]
    images = torch.cat([fakes, torch.stack(reals).to(device)]) if reals else fakes
    return images, ws_true


class EncoderTrainer:
    """Holds the encoder, the latent discriminator and their optimisers; `train()` runs to run.steps."""

    def __init__(self, G, cfg: EncoderTrainConfig, *, lpips=None, device=None,
                 echo: Callable[[str], None] | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.G = G.to(self.device).eval().requires_grad_(False)
        want = EncoderConfig.for_generator(G, channel_base=cfg.model.channel_base, channel_max=cfg.model.channel_max,
                                           delta_init=cfg.model.delta_init)
        self.cfg = cfg = EncoderTrainConfig(model=want, optim=cfg.optim, loss=cfg.loss, run=cfg.run)
        torch.manual_seed(cfg.run.seed)
        self.E = Encoder(cfg.model).set_w_avg(G.w_avg).to(self.device)
        self.D = LatentDiscriminator(cfg.model.w_dim).to(self.device) if cfg.loss.latent_d else None
        self.opt = torch.optim.Adam(self.E.parameters(), lr=cfg.optim.lr)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d) if self.D is not None else None
        if lpips is None and cfg.optim.lpips:
            from .perceptual import load_lpips
            lpips = load_lpips(cfg.optim.lpips, device=self.device)
        self.lpips = lpips
        self.step, self.wall_s = 0, 0.0
        self.out = Path(cfg.run.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = RunLog(self.out / "log.txt", echo=echo)

    def state_dict(self) -> dict:
        return {"E": self.E.state_dict(), "opt": self.opt.state_dict(), "step": self.step, "wall_s": self.wall_s,
                "D": self.D.state_dict() if self.D is not None else {},
                "opt_d": self.opt_d.state_dict() if self.opt_d is not None else {},
                "rng": torch.get_rng_state(), "config": self.cfg.to_dict()}

    def save_checkpoint(self) -> Path:
        path = self.out / "checkpoint.pt"
        atomic_torch_save(self.state_dict(), path)       # a stopped run never leaves a half-written file
        return path

    def load_checkpoint(self, path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        mine, theirs = self.cfg.to_dict(), EncoderTrainConfig.from_dict(state["config"]).to_dict()
        diff = sorted(k for k in mine if k != "run" and mine[k] != theirs[k])
        if diff:
            raise ValueError(f"{path} was written with another config (sections {diff}); resume without "
                             f"overrides of those sections to continue it")
        self.E.load_state_dict(state["E"])
        self.opt.load_state_dict(state["opt"])
        if self.D is not None and state["D"]:
            self.D.load_state_dict(state["D"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.step, self.wall_s = int(state["step"]), float(state["wall_s"])
        torch.set_rng_state(state["rng"])

    def train_step(self) -> dict[str, float]:
        o = self.cfg.optim
        self.E.set_unlocked(unlocked_at(self.step, self.cfg.model.num_ws, o.progressive_start, o.progressive_every))
        x, ws_true = make_batch(self.G, self.step, self.cfg)
        stats = {}
        if self.D is not None:                          # latent discriminator: real = mapped z, fake = E's rows
            with torch.no_grad():
                w_fake = self.E(x)[:, : int(self.E.n_unlocked) + 1].reshape(-1, self.cfg.model.w_dim)
                z = torch.randn(len(w_fake), self.G.config.z_dim, device=self.device)
                w_real = self.G.map(z)
            loss_d = latent_d_loss(self.D, w_real, w_fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            stats["d"] = float(loss_d.detach())
            self.D.requires_grad_(False)
        total, terms = encoder_losses(self.E, self.G, x, ws_true=ws_true, lpips=self.lpips, latent_d=self.D,
                                      weights=self.cfg.loss)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        if self.D is not None:
            self.D.requires_grad_(True)
        return {"loss": float(total.detach()), **terms, **stats, "unlocked": int(self.E.n_unlocked)}

    def train(self) -> Path:
        r = self.cfg.run
        (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        t0, step0, wall0 = time.time(), self.step, self.wall_s
        while self.step < r.steps:
            stats = self.train_step()
            self.step += 1
            self.wall_s = wall0 + time.time() - t0
            if self.step % r.log_every == 0 or self.step == r.steps:
                rate = (self.step - step0) / max(time.time() - t0, 1e-9)
                extra = " ".join(f"{k} {v:.4g}" for k, v in stats.items() if k != "loss")
                self.log(step_line(self.step, r.steps, stats["loss"], self.cfg.optim.lr, rate, self.wall_s, extra))
            if self.step % r.ckpt_every == 0 or self.step == r.steps:
                self.save_checkpoint()
        return self.export(self.out / "encoder")

    def export(self, folder) -> Path:
        backbone = getattr(self.lpips, "backbone_name", "none")
        return self.E.save_pretrained(folder, extra={"generator": self.cfg.run.generator, "training": {
            "step": self.step, "wall_s": round(self.wall_s, 1), "lpips_backbone": backbone,
            "config": self.cfg.to_dict()}})


def train_encoder(G, cfg: EncoderTrainConfig, *, resume: bool = False, lpips=None, device=None,
                  echo: Callable[[str], None] | None = None) -> Path:
    """Train an encoder for generator G (frozen) into cfg.run.out; resume from its checkpoint.pt when asked.
    Returns the exported weight folder (<out>/encoder)."""
    trainer = EncoderTrainer(G, cfg, lpips=lpips, device=device, echo=echo)
    trainer.log(json.dumps(trainer.cfg.to_dict(), indent=2))
    ckpt = trainer.out / "checkpoint.pt"
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"resume asked but {ckpt} does not exist")
        trainer.load_checkpoint(ckpt)
        trainer.log(f"resumed at step {trainer.step}")
    return trainer.train()
