"""Training loop of the 3D-aware generator (EG3D, Chan et al. 2022, Sec. 4; docs/3d.md), with LinkGAN's
regularizer on rendered views (Zhu et al. 2023, Sec. 3.2). docs/3d.md, "Training".

The 2D `Trainer` (linkgan/train.py) with the tri-plane generator and the camera-conditioned discriminator: G renders
random cameras from the data's camera range, D reads the image, its camera and (dual) the raw image, R1 acts on both
image inputs, and EG3D's density L1 is a lazy G regularizer. Resume, checkpoints, EMA, DDP and logs are the 2D ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import cameras as cams
from .data import TRAIN_SEEDS, VALIDATION_SEEDS
from .networks3d import (CameraDiscriminator, CameraDiscriminatorConfig, TriplaneGenerator, TriplaneGeneratorConfig,
                         raw_of)
from .train import OptimConfig, RunConfig, TrainConfig, Trainer, mixed_ws, r1_penalty


@dataclass
class OptimConfig3D(OptimConfig):
    r1_gamma: float = 1.0         # EG3D FFHQ (its released config); on the image and the raw image together
    mixing_prob: float = 0.0      # EG3D trains without style mixing (its --style_mixing_prob defaults to 0)
    density_reg: float = 0.25     # EG3D's density L1 weight (reg_type 'l1'); 0 = off
    density_reg_every: int = 4    # its lazy interval in G steps; the loss is scaled by it
    density_points: int = 1000    # points per code, uniform in the tri-planes' cube (EG3D: 1000, in [-1, 1]^3)
    density_p_dist: float = 0.004  # std of the perturbation the density must not change under (EG3D's p_dist)


@dataclass
class RunConfig3D(RunConfig):
    out: str = "runs/gan3d"
    data: str = "heads3d"         # the 3D toy heads (linkgan.data.heads3d), the only data with cameras
    segmenter: str = "heads3d64-segmenter"   # part segmenter trained on head renders (training/train_segmenter.py
                                             #   --data heads3d), for the semantic links
    oracle: str = "heads3d64-oracle"   # attribute oracle of the region-control eval, read over the eval views
    eval_views: int = 3           # views the periodic link metrics average over (linkgan.metrics3d.metric_views)


@dataclass
class TrainConfig3D(TrainConfig):
    generator: TriplaneGeneratorConfig = field(default_factory=TriplaneGeneratorConfig)
    discriminator: CameraDiscriminatorConfig = field(default_factory=CameraDiscriminatorConfig)
    optim: OptimConfig3D = field(default_factory=OptimConfig3D)
    run: RunConfig3D = field(default_factory=RunConfig3D)


def density_penalty(G: TriplaneGenerator, ws: torch.Tensor, *, points: int, p_dist: float) -> torch.Tensor:
    """EG3D's density regulariser (reg_type 'l1'): the mean |sigma(x) - sigma(x')| of the decoder's raw density at
    points x uniform in the cube the planes span and x' = x + N(0, p_dist^2). EG3D draws x in [-1, 1]^3, which with
    its box_warp 1 puts most points outside the planes, where every feature is 0 (a project choice: inside only)."""
    x = (torch.rand(ws.shape[0], points, 3, device=ws.device) - 0.5) * G.config.box_warp      # (B, M, 3)
    sigma = G.density(ws, torch.cat([x, x + torch.randn_like(x) * p_dist], 1), raw=True)    # (B, 2M)
    return F.l1_loss(sigma[:, :points], sigma[:, points:])


class Trainer3D(Trainer):
    """Trains a TriplaneGenerator against a CameraDiscriminator on posed images (image, camera)."""

    config_class = TrainConfig3D
    generator_class = TriplaneGenerator
    discriminator_class = CameraDiscriminator

    def __init__(self, cfg: TrainConfig3D, **kw):
        fixed = [l.name for l in cfg.link.build() if not l.semantic]
        if fixed:
            raise ValueError(f"3D links need semantic regions (label, labels or parts), which follow a part as the "
                             f"camera turns; {fixed} have fixed image regions")
        if cfg.parts.crops:
            raise ValueError("parts.crops are fixed crops of the image, which a turning camera moves: the 3D trainer "
                             "has no part discriminators")
        if cfg.discriminator.resolution != cfg.generator.resolution:
            raise ValueError(f"discriminator.resolution {cfg.discriminator.resolution} != generator.resolution "
                             f"{cfg.generator.resolution}")
        self._renders: dict | None = None      # during an eval: the renders its metrics share (evaluate)
        super().__init__(cfg, **kw)

    def default_dataset(self):
        if self.cfg.run.data != "heads3d":
            raise ValueError(f"the 3D trainer needs images with cameras: run.data must be 'heads3d', "
                             f"got {self.cfg.run.data!r}")
        from .data.heads3d import ToyHeadsDataset
        # the heads' views are drawn from the generator's camera range, the one G renders in training
        return ToyHeadsDataset(size=self.cfg.generator.resolution, seeds=TRAIN_SEEDS,
                               camera_range=self.cfg.generator.camera_range)

    def gen_cameras(self, batch: int) -> torch.Tensor:
        """Cameras (B, 25) for G's views: uniform over the camera range, which is the toy heads' own distribution
        (EG3D draws them from the dataset's pose labels, whose distribution this is)."""
        return cams.random_cameras(batch, camera_range=self.cfg.generator.camera_range, device=self.device)

    def _d_view(self, image: torch.Tensor, camera: torch.Tensor, image_raw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (image, camera, image_raw) if self.cfg.discriminator.dual else (image, camera)

    # --- the 2D trainer's hooks --------------------------------------------------------------------
    def batch_tensors(self, batch: dict) -> tuple[torch.Tensor, ...]:
        return batch["image"].to(self.device), batch["camera"].to(self.device)

    def real_inputs(self, real: torch.Tensor, *cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (camera,) = cond
        return self._d_view(real, camera, raw_of(real, self.cfg.generator.neural_resolution))

    def fake_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        ws = mixed_ws(self.G, batch, self.cfg.optim.mixing_prob, self.device)
        camera = self.gen_cameras(batch)
        out = self.G.render(ws, camera)                            # noise_mode "random": jittered ray samples
        return self._d_view(out.image, camera, out.image_raw)

    def r1(self, reals: tuple[torch.Tensor, ...]) -> torch.Tensor:
        image, camera, *raw = reals                                # R1 on the image and the raw image, not on c
        return r1_penalty(lambda x, *r: self.D(x, camera, *r), image, *raw)

    def g_regularizers(self, batch: int, stats: dict[str, float]) -> torch.Tensor | float:
        loss, o = super().g_regularizers(batch, stats), self.cfg.optim
        if o.density_reg and o.density_reg_every and self.step % o.density_reg_every == 0:
            ws = mixed_ws(self.G, batch, o.mixing_prob, self.device)
            tv = density_penalty(self.G, ws, points=o.density_points, p_dist=o.density_p_dist)
            stats["density_l1"] = float(tv.detach())
            loss = loss + o.density_reg * o.density_reg_every * tv
        return loss

    def _link_loss(self, stats: dict[str, float]) -> torch.Tensor:
        """LinkGAN's regularizer on views: face r is seen from camera r in its original and every perturbed render
        (only the latent differs), with deterministic ray samples ("const": the renders links are judged on and
        edited with). The regions are the segmenter's parts in each render, so they follow the view."""
        G, b = self.G, self.link_batch
        w = G.map(torch.randn(b, G.config.z_dim, device=self.device))
        camera = self.gen_cameras(b)
        raws: list[torch.Tensor] = []

        def synthesize(w_: torch.Tensor) -> torch.Tensor:      # (k B, w_dim): row r of every block from camera r
            blocks = w_.split(b) if self.device.type == "cpu" else [w_]  # blocks of B: faster on a CPU (2D trainer)
            renders = [G.render(x, camera.repeat(len(x) // b, 1), noise_mode="const") for x in blocks]
            raws.extend(r.image_raw for r in renders)
            return torch.cat([r.image for r in renders])

        seen = camera.repeat(2 * len(self.links), 1)             # the perturbed images' cameras, (2 L B, 25)
        return self._link_terms(stats, w, synthesize,
                                lambda images, rows: self._d_view(images[rows], seen[rows], torch.cat(raws)[b:][rows]))

    # --- evaluation and samples ------------------------------------------------------------------
    def _eval_views(self) -> list[tuple[float, float]]:
        from .metrics3d import metric_views
        return metric_views(self.cfg.generator.camera_range, self.cfg.run.eval_views)

    def evaluate(self) -> dict[str, dict]:
        self._renders = {}             # the link metrics' renders, which the region control reads again
        try:
            return super().evaluate()
        finally:
            self._renders = None

    def eval_link_metrics(self, seeds) -> dict[str, dict]:
        """mse and leakage (x1e-3) and the depth change of G_ema over views (linkgan.metrics3d)."""
        from .metrics3d import link_metrics_3d
        return link_metrics_3d(self.G_ema, self.links, seeds=seeds, views=self._eval_views(), segmenter=self.segmenter,
                               renders=self._renders)

    def eval_region_control(self, seeds) -> dict[str, dict]:
        """Region control of G_ema with the oracle's reads pooled over views (linkgan.metrics3d.region_control_3d)."""
        from .metrics3d import region_control_3d
        return region_control_3d(self.G_ema, self.links, self._oracle, seeds=seeds, views=self._eval_views(),
                                 renders=self._renders)

    @torch.no_grad()
    def save_samples(self, n: int = 8):
        """A sheet of n heads (rows) from the left end of the yaw range, the front and the right end (columns)."""
        from .utils import make_grid
        G, yaw = self.G_ema, self.cfg.generator.yaw_deg
        ws = G.map(G.z_from_seeds(range(n), device=self.device))
        views = [G.synthesize(ws, cams.cameras([y] * n, [0.0] * n, camera_range=G.config.camera_range)
                              .to(self.device), noise_mode="const") for y in (-yaw, 0.0, yaw)]
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"samples_{self.step:07d}.png"
        make_grid(torch.stack(views, 1).flatten(0, 1), cols=3).save(path)
        return path
