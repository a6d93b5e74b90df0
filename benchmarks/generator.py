"""Generator benchmark: size and CPU speed of the default 64 px StyleGAN2 (Karras et al. 2020) and one
GAN training step (non-saturating logistic loss, Adam, fp32). Speed does not depend on the weights, so
the generator is randomly initialised when the default weights are missing.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from ._timing import median_ms


def _load_generator():
    """(G, weights label): the default weight set if present, else a random init of the default config."""
    from linkgan.hub import DEFAULT_GENERATOR, WeightsNotFoundError
    from linkgan.networks import Generator

    try:
        return Generator.from_pretrained(DEFAULT_GENERATOR, device="cpu"), DEFAULT_GENERATOR
    except WeightsNotFoundError:
        torch.manual_seed(0)
        return Generator().eval().requires_grad_(False), "random-init"


def forward_ms(G, batch: int, *, runs: int, warmup: int) -> float:
    """Median ms of z -> map -> synthesize (noise const) for one batch, under no_grad."""
    z = G.z_from_seeds(range(batch), device="cpu")

    @torch.no_grad()
    def step():
        G.synthesize(G.map(z), noise_mode="const")

    return median_ms(step, runs=runs, warmup=warmup)


def train_step_ms(G_config, *, batch: int, runs: int, warmup: int) -> tuple[float, int]:
    """Median ms of one G step + one D step (non-saturating logistic loss, Adam, fp32); and D's params."""
    from linkgan.networks import Discriminator, DiscriminatorConfig, Generator

    torch.manual_seed(0)
    G = Generator(G_config).train()
    D = Discriminator(DiscriminatorConfig(resolution=G_config.resolution, channel_base=G_config.channel_base,
                                          channel_max=G_config.channel_max)).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    reals = torch.rand(batch, 3, G_config.resolution, G_config.resolution) * 2 - 1   # (B, 3, H, W)

    def step():
        # G step: softplus(-D(G(z))) is the non-saturating logistic loss.
        z = torch.randn(batch, G_config.z_dim)
        loss_g = F.softplus(-D(G(z, noise_mode="random"))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # D step: softplus(D(fake)) + softplus(-D(real)).
        with torch.no_grad():
            fakes = G(torch.randn(batch, G_config.z_dim), noise_mode="random")
        loss_d = F.softplus(D(fakes)).mean() + F.softplus(-D(reals)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    ms = median_ms(step, runs=runs, warmup=warmup)
    return ms, sum(p.numel() for p in D.parameters())


def run(*, quick: bool = False) -> dict:
    from linkgan.hub import config_to_dict

    G, weights = _load_generator()
    fwd_runs = 3 if quick else 10
    train_runs, train_batch = (2 if quick else 5), 16   # batch fixed: the key names it
    train_ms, d_params = train_step_ms(G.config, batch=train_batch, runs=train_runs, warmup=1)
    return {
        "weights": weights,
        "params": sum(p.numel() for p in G.parameters()),
        "d_params": d_params,
        "forward_ms_bs1": forward_ms(G, 1, runs=fwd_runs, warmup=2),
        "forward_ms_bs8": forward_ms(G, 8, runs=fwd_runs, warmup=2),
        f"train_step_ms_bs{train_batch}": train_ms,
        "timing": f"CPU fp32, median of {fwd_runs} forward runs after 2 warm-ups; "
                  f"train step = G+D step, median of {train_runs} after 1 warm-up",
        "config": config_to_dict(G.config),
    }
