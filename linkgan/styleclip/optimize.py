"""StyleCLIP latent optimization (Patashnik et al. 2021, Sec. 4; docs/methods.md, "Latent optimisation"): edit W+
codes by gradient descent on

    D_CLIP(G(ws), t) + l2 * ||ws - ws_src||^2 + id * L_ID(G(ws), G(ws_src))

with Adam, lr 0.1, a 5 % warm-up and a cosine ramp-down over the last 25 % (the official `get_lr`, the
StyleGAN2 projector's schedule: linkgan.runlog.ramped_lr).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..clip import CLIPAdapter, clip_loss
from ..runlog import Plateau, ramped_lr
from .identity import resolve_identity


@dataclass
class OptimizeResult:
    ws: torch.Tensor                  # (B, num_ws, w_dim) edited codes (detached)
    images: torch.Tensor              # (B, 3, H, W) G(ws) at the last step, in [-1, 1]
    steps: int                        # steps taken
    stopped: str = ""                 # "" ran to the end; "early" loss stopped improving; "cancelled" should_stop()
    history: list[dict] = field(default_factory=list)   # per step: {"step", "lr", "clip", "l2", "id", "loss"} (batch means)


def optimize_latent(G, clip: CLIPAdapter, ws_src: torch.Tensor, text: str | torch.Tensor, *, steps: int = 300,
                    lr: float = 0.1, l2: float = 0.008, id_weight: float = 0.0, identity="clip",
                    rampup: float = 0.05, rampdown: float = 0.25, noise_mode: str = "const",
                    patience: int | None = None, min_delta: float = 1e-4,
                    progress: Callable[[int, int, dict], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> OptimizeResult:
    """Optimise W+ codes towards a text (StyleCLIP Sec. 4). Official defaults: 300 steps, lr 0.1, l2 0.008, id 0.

    ws_src: (B, num_ws, w_dim) or (B, w_dim) source codes; text: a prompt (ensembled, cached by the adapter) or a
    text embedding (D,). id_weight: weight of the identity term; identity: "clip" (cosine distance of CLIP image
    features, the default), None, or a `FeatureIdentity`. patience: stop early when the loss has not improved by
    `min_delta` for this many steps (None: never). progress(step, steps, losses) after every step; should_stop()
    is polled before every step and ends the run (result.stopped = "cancelled") with the codes reached so far.
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    ws_src = (G.broadcast(ws_src) if ws_src.ndim == 2 else ws_src).detach()
    target = clip.text_embedding(text) if isinstance(text, str) else text.detach()
    ident = resolve_identity(identity, clip) if id_weight > 0 else None
    ref = ident.reference(G.synthesize(ws_src, noise_mode=noise_mode)) if ident is not None else None

    ws = ws_src.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr)
    history: list[dict] = []
    plateau, stopped = Plateau(patience, min_delta), ""
    for step in range(steps):
        if should_stop is not None and should_stop():
            stopped = "cancelled"
            break
        cur_lr = ramped_lr(step / steps, lr, rampdown=rampdown, rampup=rampup)
        for group in opt.param_groups:
            group["lr"] = cur_lr
        img = G.synthesize(ws, noise_mode=noise_mode)                        # (B, 3, H, W)
        l_clip = clip_loss(clip, img, target)                                # (B,)
        l_l2 = (ws - ws_src).square().flatten(1).sum(1)                      # (B,)
        l_id = ident(img, ref) if ident is not None else torch.zeros_like(l_clip)
        loss = l_clip + l2 * l_l2 + id_weight * l_id                         # (B,)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()                                                # per-sample gradients stay independent
        opt.step()
        rec = {"step": step + 1, "lr": cur_lr, "clip": l_clip.mean().item(), "l2": l_l2.mean().item(),
               "id": l_id.mean().item(), "loss": loss.mean().item()}
        history.append(rec)
        if progress is not None:
            progress(step + 1, steps, rec)
        if plateau.update(rec["loss"]):
            stopped = "early"
            break
    with torch.no_grad():
        ws_out = ws.detach()
        img = G.synthesize(ws_out, noise_mode=noise_mode)
    return OptimizeResult(ws=ws_out, images=img, steps=len(history), stopped=stopped, history=history)
