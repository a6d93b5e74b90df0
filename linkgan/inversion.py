"""GAN inversion (docs/methods.md, "Inversion"): photo -> latent code, by optimisation (the StyleGAN2 projector, Karras
et al. 2020, Sec. 5 / NVlabs `projector.py`), by an e4e-style encoder (Tov et al. 2021; linkgan/encoder.py), or both
(hybrid: the encoder's code starts a shorter optimisation). Codes are saved as .npz: ws, noise maps and where they came
from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .config import replace_settings
from .runlog import Plateau, ramped_lr

DEFAULT_STEPS = 1000         # StyleGAN2 projector


@dataclass(frozen=True)
class ProjectOptim:
    """How the projector searches (StyleGAN2 projector's settings unless said otherwise)."""
    space: str = "w"              # "w": one w per image, broadcast (edits best; links live in W); "w+": one per layer
    steps: int = DEFAULT_STEPS    # Adam steps
    lr: float = 0.1               # peak learning rate
    rampup: float = 0.05          # linear warm-up over this share of the steps ...
    rampdown: float = 0.25        # ... and a cosine ramp-down over the last share (linkgan.runlog.ramped_lr)
    noise_factor: float = 0.05    # latent noise of noise_factor * W's spread at the start (0: none), fading out
    noise_ramp: float = 0.75      # (quadratically) by this share of the steps: it helps escape w_avg's basin
    optimize_noise: bool = True   # fit the noise maps too; False keeps G's constant ones (the code alone is the image)
    patience: int | None = None   # stop once the loss has not improved by min_delta for this many steps (None: never)
    min_delta: float = 1e-4
    seed: int = 0                 # of the starting noise maps and of the latent noise


@dataclass(frozen=True)
class ProjectLoss:
    """loss = lpips_weight * LPIPS + mse_weight * MSE + noise_reg_weight * noise_regularizer
    + spread_weight * spread."""
    lpips_weight: float = 1.0     # the perceptual term (when an LPIPS is given)
    mse_weight: float = 1.0
    noise_reg_weight: float = 1e5   # StyleGAN2 Sec. 5: keeps the fitted noise maps noise-like
    spread_weight: float = 0.0    # W+ only: the rows' mean squared distance from their mean row, in units of W's
                                  # variance (e4e's idea of keeping W+ codes near W, where links and edits were trained)


@dataclass(frozen=True)
class ProjectConfig:
    optim: ProjectOptim = field(default_factory=ProjectOptim)
    loss: ProjectLoss = field(default_factory=ProjectLoss)

    def replace(self, **settings) -> "ProjectConfig":
        """A copy with settings changed by name, e.g. replace(steps=200, spread_weight=0.1)."""
        return replace_settings(self, **settings)


# Hybrid's own settings (project choices; the paper runs the projector from w_avg only): a quarter of the steps,
# starting from the encoder's code, which is W+ and already close, so it is refined in W+ (averaging it to W throws
# that away), without the latent noise (there to escape w_avg's basin), with a spread penalty that keeps the rows
# near their mean, where the links hold, and a small lr that stays near the encoder's code. The measurements behind
# each choice: docs/inversion.md.
HYBRID = ProjectConfig().replace(steps=DEFAULT_STEPS // 4, space="w+", lr=0.03, noise_factor=0.0, spread_weight=0.1)


@dataclass
class InversionResult:
    ws: torch.Tensor                          # (B, num_ws, w_dim) codes (rows all equal for space "w")
    noise: list[torch.Tensor]                 # one (B, 1, s, s) map per StyledConv (G.synthesis.noise_sizes)
    images: torch.Tensor                      # (B, 3, H, W) G(ws, noise) in [-1, 1]
    method: str                               # "optimize", "encoder" or "hybrid"
    space: str                                # "w" or "w+"
    steps: int = 0                            # optimisation steps run
    stopped: str = ""                         # "" ran to the end; "early" plateau; "cancelled" should_stop()
    losses: list[dict] = field(default_factory=list)   # per step: step, lr, lpips, mse, noise_reg, loss (batch means)

    @property
    def w(self) -> torch.Tensor:
        """(B, w_dim): the W code links act on; the mean row for a W+ code."""
        return self.ws.mean(dim=1)


@torch.no_grad()
def w_std(G, n: int = 10_000, seed: int = 123) -> float:
    """Spread of W around w_avg: sqrt(mean ||w - mean(w)||^2) over n mapped z (the projector's noise scale)."""
    z = torch.randn(n, G.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.w_avg.device)
    w = torch.cat([G.map(zc) for zc in z.split(2000)])
    return float((w - w.mean(0)).square().sum(1).mean().sqrt())


def noise_regularizer(noise: list[torch.Tensor]) -> torch.Tensor:
    """(B,) sum over maps and scales of squared autocorrelations at shift 1 (StyleGAN2 Sec. 5): keeps the
    optimised noise maps noise-like, so they cannot carry the image's content."""
    reg = 0.0
    for n in noise:
        while True:
            reg = reg + (n * torch.roll(n, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square()
            reg = reg + (n * torch.roll(n, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, kernel_size=2)
    return reg


def _resolve_lpips(lpips, device):
    if isinstance(lpips, str):
        from .perceptual import load_lpips
        return load_lpips(lpips, device=device)
    return lpips


def project(G, target: torch.Tensor, config: ProjectConfig | None = None, *, lpips=None,
            init_ws: torch.Tensor | None = None, w_std_value: float | None = None,
            callback: Callable[[int, float, torch.Tensor | None], None] | None = None, image_every: int = 0,
            should_stop: Callable[[], bool] | None = None, **settings) -> InversionResult:
    """Fit codes to target images (B, 3, R, R) in [-1, 1] by Adam (StyleGAN2 projector recipe), with `config`
    (default ProjectConfig()) and any of its settings changed by name in `settings` (steps=..., space=...).

    lpips: an LPIPS-like module (x, y) -> (B,), "vgg"/"alex" (loaded with linkgan.perceptual.load_lpips), or None
    (no perceptual term). Starts at init_ws (B, num_ws | -, w_dim; its mean row for "w") or G.w_avg; w_std_value:
    W's spread if known (else measured when the latent noise or the spread penalty needs it). Noise maps start
    random, are optimised and renormalised after every step.
    callback(step, loss, image): after every step; image is G's current output every `image_every` steps and at
    the last step (else None). should_stop(): polled before every step; True ends the run with the codes so far.
    """
    cfg = (config or ProjectConfig()).replace(**settings)
    o, w = cfg.optim, cfg.loss
    space, steps = o.space, o.steps
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    r = G.config.resolution
    if target.ndim != 4 or tuple(target.shape[1:]) != (3, r, r):
        raise ValueError(f"target must have shape (B, 3, {r}, {r}), got {tuple(target.shape)}")
    device = G.w_avg.device
    target = target.detach().to(device, torch.float32)
    b, num_ws = target.shape[0], G.num_ws
    lpips = _resolve_lpips(lpips, device)
    gen = torch.Generator(device="cpu").manual_seed(o.seed)
    need_std = o.noise_factor > 0 or (w.spread_weight > 0 and space == "w+")
    std = w_std(G) if w_std_value is None and need_std else (w_std_value or 0.0)

    if init_ws is None:
        start = G.w_avg.detach().view(1, 1, -1).expand(b, num_ws, -1)
    else:
        start = init_ws.detach().to(device, torch.float32)
        start = start.unsqueeze(1).expand(-1, num_ws, -1) if start.ndim == 2 else start
    start = start.mean(dim=1, keepdim=True) if space == "w" else start
    latent = start.clone().requires_grad_(True)                     # (B, 1 | num_ws, w_dim)
    use_noise = bool(G.config.noise) and o.optimize_noise
    noise = [torch.randn(b, 1, s, s, generator=gen).to(device).requires_grad_(use_noise)
             for s in G.synthesis.noise_sizes]
    if not use_noise:
        noise = [n.expand(b, -1, -1, -1) for n in G.synthesis.noises("const", b)]
    opt = torch.optim.Adam([latent] + (noise if use_noise else []), lr=o.lr, betas=(0.9, 0.999))

    losses: list[dict] = []
    plateau, stopped = Plateau(o.patience, o.min_delta), ""
    for step in range(steps):
        if should_stop is not None and should_stop():
            stopped = "cancelled"
            break
        t = step / steps
        cur_lr = ramped_lr(t, o.lr, rampdown=o.rampdown, rampup=o.rampup)
        for group in opt.param_groups:
            group["lr"] = cur_lr
        scale = std * o.noise_factor * max(0.0, 1.0 - t / o.noise_ramp) ** 2
        w_noise = torch.randn(latent.shape, generator=gen).to(device) * scale
        ws = (latent + w_noise).expand(-1, num_ws, -1)
        img = G.synthesize(ws, noise=noise)                          # (B, 3, R, R)
        l_mse = (img - target).square().mean(dim=(1, 2, 3))          # (B,)
        l_lpips = lpips(img, target) if lpips is not None and w.lpips_weight else torch.zeros_like(l_mse)
        l_reg = noise_regularizer(noise) if use_noise else torch.zeros_like(l_mse)
        loss = w.lpips_weight * l_lpips + w.mse_weight * l_mse + w.noise_reg_weight * l_reg   # (B,)
        if w.spread_weight > 0 and space == "w+":
            spread = (latent - latent.mean(1, keepdim=True)).square().sum(2).mean(1) / std ** 2
            loss = loss + w.spread_weight * spread
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()                                        # per-image gradients stay independent
        opt.step()
        if use_noise:
            with torch.no_grad():                                    # renormalise: zero mean, unit variance
                for n in noise:
                    n -= n.mean(dim=(1, 2, 3), keepdim=True)
                    n *= n.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        rec = {"step": step + 1, "lr": cur_lr, **{k: float(v.detach().mean()) for k, v in (
            ("lpips", l_lpips), ("mse", l_mse), ("noise_reg", l_reg), ("loss", loss))}}
        losses.append(rec)
        if callback is not None:
            last = step + 1 == steps
            show = last or (image_every > 0 and (step + 1) % image_every == 0)
            callback(step + 1, rec["loss"], img.detach() if show else None)
        if plateau.update(rec["loss"]):
            stopped = "early"
            break
    with torch.no_grad():
        ws = latent.detach().expand(-1, num_ws, -1).contiguous()
        noise = [n.detach().clone() for n in noise]
        images = G.synthesize(ws, noise=noise)
    return InversionResult(ws=ws, noise=noise, images=images, method="optimize", space=space,
                           steps=len(losses), stopped=stopped, losses=losses)


def _fit_size(G, image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) or (3, H, W) in [-1, 1] -> (B, 3, R, R) at G's resolution (area/bilinear resize if needed)."""
    x = image.unsqueeze(0) if image.ndim == 3 else image
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)}")
    r = G.config.resolution
    if tuple(x.shape[-2:]) != (r, r):
        x = F.interpolate(x.float(), size=(r, r), mode="bilinear", antialias=True, align_corners=False)
    return x.to(G.w_avg.device, torch.float32)


def invert(G, image: torch.Tensor, *, method: str = "hybrid", encoder=None, steps: int | None = None,
           space: str | None = None, lpips="vgg", config: ProjectConfig | None = None, **project_kw) -> InversionResult:
    """Invert images (B, 3, H, W) in [-1, 1] (resized to G's resolution) into G's latent space.

    method: "encoder" (one forward pass of `encoder`; its W+ code, near W), "optimize" (`project` from w_avg with
    `config`, default ProjectConfig(): the projector in W) or "hybrid" (`project` from the encoder's code with
    `config`, default HYBRID). steps / space None keep the config's. lpips and project_kw (settings by name, callback,
    should_stop, ...) go to `project`. For "encoder", noise maps are G's constant ones.
    """
    if method not in ("encoder", "optimize", "hybrid"):
        raise ValueError(f"method must be 'encoder', 'optimize' or 'hybrid', got {method!r}")
    if method != "optimize" and encoder is None:
        raise ValueError(f"method {method!r} needs an encoder (linkgan.encoder.Encoder)")
    x = _fit_size(G, image)
    init = None
    if encoder is not None and method != "optimize":
        with torch.no_grad():
            init = encoder(x.to(encoder.w_avg.device)).to(x.device)         # (B, num_ws, w_dim)
    if method == "encoder":
        with torch.no_grad():
            noise = [n.expand(x.shape[0], -1, -1, -1).clone() for n in G.synthesis.noises("const", x.shape[0])]
            images = G.synthesize(init, noise=noise)
        return InversionResult(ws=init, noise=noise, images=images, method="encoder", space="w+")
    config = config or (HYBRID if method == "hybrid" else ProjectConfig())
    given = {k: v for k, v in (("steps", steps), ("space", space)) if v is not None}
    res = project(G, x, config, lpips=lpips, init_ws=init, **given, **project_kw)
    res.method = method
    return res


def save_code(path: str | os.PathLike, result: InversionResult, *, model: str) -> None:
    """Write the inverted code as the project's latent file (linkgan.latentfile, the app's format): its W+ code,
    the generator's name, and the inversion (method, space, steps, final loss) as the file's source. Noise maps are
    not kept: edits of a latent render with constant noise, in the app and on the command line alike."""
    from .latentfile import write_latent

    if result.ws.shape[0] != 1:
        raise ValueError(f"a latent file holds one code; got {result.ws.shape[0]}: save each image's code apart")
    ws = result.ws[0].detach().cpu().float().numpy()                          # (num_ws, w_dim)
    loss = float(result.losses[-1]["loss"]) if result.losses else None
    source = {"kind": "photo", "method": result.method, "space": result.space, "steps": int(result.steps),
              "loss": loss}
    data = write_latent(ws, ws, {"generator": model, "noise_mode": "const", "source": source, "edits": []})
    with open(path, "wb") as f:
        f.write(data)


def load_code(path: str | os.PathLike, G) -> dict:
    """Read a latent file (linkgan.latentfile; also the older `invert` layout) for generator G: {"ws": tensor
    (1, num_ws, w_dim), "s_offset": (n,) tensor or None, "meta": dict}. Raises ValueError with a clear message."""
    from .latentfile import MAX_FILE_BYTES, LatentFileError, read_latent
    from .styles import offset_size

    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{os.fspath(path)} is {size:,} bytes: not a latent file (kilobytes)")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ValueError(f"no latent file {os.fspath(path)}") from None
    except OSError as e:
        raise ValueError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from None
    try:
        f = read_latent(data, ws_shape=(G.num_ws, G.config.w_dim), offset_size=offset_size(G))
    except LatentFileError as e:
        raise ValueError(f"{os.fspath(path)} is not a latent file for this generator: {e}") from None
    offset = None if f["s_offset"] is None else torch.from_numpy(f["s_offset"])
    return {"ws": torch.from_numpy(f["ws"])[None], "s_offset": offset, "meta": f["meta"]}
