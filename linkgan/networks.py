"""StyleGAN2 generator and discriminator (Karras et al. 2020), with all three latent spaces exposed.

z (B, z_dim) -> mapping -> w (B, w_dim) -> broadcast to ws (B, num_ws, w_dim) -> affines -> styles
(space S: one (B, C) tensor per modulated conv, ToRGB included) -> synthesis -> image (B, 3, H, W) in [-1, 1].
`mapping()`, `synthesis()`, `ws_to_styles()` and `synthesis_from_styles()` are separate calls, as in
NVIDIA's code, so that W, W+ and S edits all run through the same modules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .hub import ModelHubMixin
from .layers import ConvLayer, EqualLinear, ModulatedConv2d, ResBlock, StyledConv, ToRGB

NoiseMode = str  # "random": fresh noise each call; "const": the stored buffers; "none": no noise


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    """Channel count at a resolution: min(channel_max, channel_base // resolution) (config-f: 32768, 512)."""
    return min(channel_max, channel_base // resolution)


@dataclass
class GeneratorConfig:
    resolution: int = 64          # output size, a power of two in [16, 1024]
    z_dim: int = 256              # input latent size (StyleGAN2: 512)
    w_dim: int = 256              # intermediate latent size, W (StyleGAN2: 512)
    n_mlp: int = 8                # mapping network depth
    lr_mlp: float = 0.01          # mapping network learning-rate multiplier
    channel_base: int = 2048      # channels at resolution r: min(channel_max, channel_base // r): 32 at 64 px
    channel_max: int = 64         #   config-f (FFHQ-1024): channel_base=32768, channel_max=512
    blur_taps: tuple[int, ...] = (1, 3, 3, 1)  # FIR for up/down sampling
    w_avg_beta: float = 0.995     # EMA decay of the tracked w_avg (used by truncation)
    noise: bool = True            # per-pixel noise inputs; False for domains without stochastic detail (then
                                  #   no variation can bypass W, which LinkGAN's regularizer only sees)
    w_basis: bool = False         # the mapping ends in a fixed orthonormal change of W's basis (buffer
                                  #   mapping.basis), set by `Generator.rotate_w` (linkgan.links.align_axes)

    def __post_init__(self):
        self.blur_taps = tuple(self.blur_taps)
        log2 = math.log2(self.resolution) if isinstance(self.resolution, int) and self.resolution > 0 else 0.5
        if not (log2.is_integer() and 4 <= log2 <= 10):
            raise ValueError(f"resolution must be a power of two in [16, 1024], got {self.resolution}")
        for name in ("z_dim", "w_dim", "n_mlp", "channel_base", "channel_max"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def log2_res(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_ws(self) -> int:
        """Rows of W+: one per modulated conv plus one for the last ToRGB (18 at 1024 px, 10 at 64 px)."""
        return 2 * self.log2_res - 2

    def channels(self, res: int) -> int:
        return channels_for(res, self.channel_base, self.channel_max)

    @classmethod
    def config_f(cls, resolution: int = 1024, **kw) -> "GeneratorConfig":
        """The published StyleGAN2 config-f schedule (FFHQ / LSUN models; channel_multiplier 2)."""
        return cls(resolution=resolution, z_dim=512, w_dim=512, n_mlp=8, channel_base=32768,
                   channel_max=512, **kw)


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then n_mlp equalised linear layers with lr multiplier (StyleGAN Sec. 2)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.n_mlp
        self.layers = nn.ModuleList(
            EqualLinear(dims[i], dims[i + 1], lr_mul=cfg.lr_mlp, activate=True) for i in range(cfg.n_mlp))
        self.w_basis = cfg.w_basis            # a plain flag: forward is called every step, the buffer rarely there
        if cfg.w_basis:
            self.register_buffer("basis", torch.eye(cfg.w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = layer(x)
        return x @ self.basis.T if self.w_basis else x


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) or styles -> image. Layer order (and ws rows) as in the reference code:
    conv 4x4, torgb 4x4, then per resolution: conv-up, conv, torgb; a ToRGB shares its ws row with
    the next block's first conv."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        ch4 = cfg.channels(4)
        self.const = nn.Parameter(torch.randn(1, ch4, 4, 4))
        self.conv1 = StyledConv(ch4, ch4, cfg.w_dim, blur_taps=cfg.blur_taps)
        self.to_rgb1 = ToRGB(ch4, cfg.w_dim, blur_taps=cfg.blur_taps)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_ch = ch4
        for log2 in range(3, cfg.log2_res + 1):
            out_ch = cfg.channels(2 ** log2)
            self.convs.append(StyledConv(in_ch, out_ch, cfg.w_dim, up=True, blur_taps=cfg.blur_taps))
            self.convs.append(StyledConv(out_ch, out_ch, cfg.w_dim, blur_taps=cfg.blur_taps))
            self.to_rgbs.append(ToRGB(out_ch, cfg.w_dim, blur_taps=cfg.blur_taps))
            in_ch = out_ch
        # constant noise maps, one per StyledConv (used with noise_mode="const", and by inversion)
        self.noise_sizes = [4] + [2 ** l for l in range(3, cfg.log2_res + 1) for _ in range(2)]
        for i, s in enumerate(self.noise_sizes):
            self.register_buffer(f"noise_{i}", torch.randn(1, 1, s, s))

    # --- the S space -------------------------------------------------------------------------------
    def style_layers(self) -> list[tuple[str, ModulatedConv2d, int]]:
        """(name, modulated conv, ws row) for every style, in synthesis order. Names end in 'conv' or 'torgb'."""
        out = [("b4.conv", self.conv1.conv, 0), ("b4.torgb", self.to_rgb1.conv, 1)]
        for i, log2 in enumerate(range(3, self.cfg.log2_res + 1)):
            r = 2 ** log2
            out += [(f"b{r}.conv0", self.convs[2 * i].conv, 1 + 2 * i),
                    (f"b{r}.conv1", self.convs[2 * i + 1].conv, 2 + 2 * i),
                    (f"b{r}.torgb", self.to_rgbs[i].conv, 3 + 2 * i)]
        return out

    def style_dims(self) -> dict[str, int]:
        return {name: conv.in_ch for name, conv, _ in self.style_layers()}

    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """W+ -> S: {layer name: (B, C_layer)}."""
        self._check_ws(ws)
        return {name: conv.affine(ws[:, row]) for name, conv, row in self.style_layers()}

    def noises(self, mode: NoiseMode, batch: int) -> list[torch.Tensor | None]:
        if mode == "random":
            return [None] * len(self.noise_sizes)
        if mode == "const":
            return [getattr(self, f"noise_{i}") for i in range(len(self.noise_sizes))]
        if mode == "none":
            return [self.const.new_zeros(1, 1, s, s) for s in self.noise_sizes]
        raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {mode!r}")

    def forward_styles(self, styles: dict[str, torch.Tensor], *, noise_mode: NoiseMode = "random",
                       noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """S -> image. `noise` (one map per StyledConv) overrides noise_mode."""
        names = [n for n, _, _ in self.style_layers()]
        if set(styles) != set(names):
            raise ValueError(f"styles must have exactly the layers {names}, got {sorted(styles)}")
        b = styles["b4.conv"].shape[0]
        if not self.cfg.noise:
            noise, noise_mode = None, "none"
        noises = noise if noise is not None else self.noises(noise_mode, b)
        if len(noises) != len(self.noise_sizes):
            raise ValueError(f"expected {len(self.noise_sizes)} noise maps, got {len(noises)}")
        x = self.const.expand(b, -1, -1, -1)
        x = self.conv1(x, styles["b4.conv"], noises[0])
        img = self.to_rgb1(x, styles["b4.torgb"], None)
        for i, log2 in enumerate(range(3, self.cfg.log2_res + 1)):
            r = 2 ** log2
            x = self.convs[2 * i](x, styles[f"b{r}.conv0"], noises[1 + 2 * i])
            x = self.convs[2 * i + 1](x, styles[f"b{r}.conv1"], noises[2 + 2 * i])
            img = self.to_rgbs[i](x, styles[f"b{r}.torgb"], img)
        return img

    def forward(self, ws: torch.Tensor, *, noise_mode: NoiseMode = "random",
                noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.forward_styles(self.ws_to_styles(ws), noise_mode=noise_mode, noise=noise)

    def _check_ws(self, ws: torch.Tensor) -> None:
        want = (self.cfg.num_ws, self.cfg.w_dim)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != want:
            raise ValueError(f"ws must have shape (B, {want[0]}, {want[1]}), got {tuple(ws.shape)}")


class Generator(nn.Module, ModelHubMixin):
    """StyleGAN2 generator: `mapping(z) -> w`, `synthesis(ws) -> image`, `forward(z)` = both."""

    config_class = GeneratorConfig

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = cfg = config or GeneratorConfig()
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    def map(self, z: torch.Tensor, *, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        """z (B, z_dim) -> w (B, w_dim), truncated towards w_avg by psi (1 = none, 0 = w_avg)."""
        if z.ndim != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z must have shape (B, {self.config.z_dim}), got {tuple(z.shape)}")
        w = self.mapping(z)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().float().mean(0), 1.0 - self.config.w_avg_beta)
        if psi != 1.0:
            w = self.w_avg.to(w.dtype) + psi * (w - self.w_avg.to(w.dtype))
        return w

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, w_dim) -> ws (B, num_ws, w_dim)."""
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, **kw) -> torch.Tensor:
        """ws (B, num_ws, w_dim), or w (B, w_dim) broadcast to all rows -> image (B, 3, H, W)."""
        if ws.ndim == 2:
            ws = self.broadcast(ws)
        return self.synthesis(ws, **kw)

    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.synthesis.ws_to_styles(self.broadcast(ws) if ws.ndim == 2 else ws)

    def synthesize_styles(self, styles: dict[str, torch.Tensor], **kw) -> torch.Tensor:
        return self.synthesis.forward_styles(styles, **kw)

    def forward(self, z: torch.Tensor, *, psi: float = 1.0, noise_mode: NoiseMode = "random") -> torch.Tensor:
        return self.synthesize(self.map(z, psi=psi), noise_mode=noise_mode)

    @torch.no_grad()
    def rotate_w(self, rotation: torch.Tensor) -> None:
        """Express W in another orthonormal basis, w' = rotation @ w, without changing a single image: the mapping
        ends in the rotation and every style affine reads w' through weight @ rotation^T (styles, and so images,
        are those of before, up to float error). Which axes a link owns is then a choice of basis
        (`linkgan.links.align_axes`). Rotations compose; W+ codes, directions and encoders of the old basis no
        longer apply."""
        d = self.config.w_dim
        r = rotation.detach().to(self.w_avg)
        if r.shape != (d, d) or not torch.allclose(r @ r.T, torch.eye(d, device=r.device), atol=1e-4):
            raise ValueError(f"rotation must be an orthonormal ({d}, {d}) matrix")
        if not self.config.w_basis:
            self.config.w_basis = self.mapping.w_basis = True
            self.mapping.register_buffer("basis", torch.eye(d, device=r.device))
        self.mapping.basis.copy_(r @ self.mapping.basis)
        for _, conv, _ in self.synthesis.style_layers():
            conv.affine.weight.copy_(conv.affine.weight @ r.T)
        self.w_avg.copy_(r @ self.w_avg)

    def z_from_seeds(self, seeds, device=None) -> torch.Tensor:
        """The z of each seed, independent of batch composition: z(seed) is the same alone or in a batch."""
        zs = [torch.from_numpy(_np_randn(int(s), self.config.z_dim)) for s in seeds]
        return torch.stack(zs).to(device or self.w_avg.device)


def _np_randn(seed: int, n: int):
    import numpy as np
    return np.random.RandomState(seed % (2 ** 32)).randn(n).astype("float32")


@dataclass
class DiscriminatorConfig:
    resolution: int = 64
    channel_base: int = 2048      # same schedule as the generator's
    channel_max: int = 64
    mbstd_group: int = 4          # minibatch-stddev group size (batch must divide by min(batch, group))
    mbstd_features: int = 1
    blur_taps: tuple[int, ...] = (1, 3, 3, 1)

    def __post_init__(self):
        self.blur_taps = tuple(self.blur_taps)
        log2 = math.log2(self.resolution) if isinstance(self.resolution, int) and self.resolution > 0 else 0.5
        if not (log2.is_integer() and 4 <= log2 <= 10):
            raise ValueError(f"resolution must be a power of two in [16, 1024], got {self.resolution}")

    def channels(self, res: int) -> int:
        return channels_for(res, self.channel_base, self.channel_max)


class Discriminator(nn.Module, ModelHubMixin):
    """Residual discriminator with minibatch standard deviation (StyleGAN2 config-e/f)."""

    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        self.config = cfg = config or DiscriminatorConfig()
        log2_res = int(math.log2(cfg.resolution))
        blocks: list[nn.Module] = [ConvLayer(3, cfg.channels(cfg.resolution), 1)]
        in_ch = cfg.channels(cfg.resolution)
        for log2 in range(log2_res, 2, -1):
            out_ch = cfg.channels(2 ** (log2 - 1))
            blocks.append(ResBlock(in_ch, out_ch, blur_taps=cfg.blur_taps))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.final_conv = ConvLayer(in_ch + cfg.mbstd_features, cfg.channels(4), 3)
        self.final_linear = nn.Sequential(EqualLinear(cfg.channels(4) * 16, cfg.channels(4), activate=True),
                                          EqualLinear(cfg.channels(4), 1))

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, channels(4)) — also used as a frozen 'identity' feature space."""
        r = self.config.resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (3, r, r):
            raise ValueError(f"images must have shape (B, 3, {r}, {r}), got {tuple(img.shape)}")
        x = self.blocks(img)
        x = self.final_conv(self._mbstd(x))
        return self.final_linear[0](x.flatten(1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.final_linear[1](self.features(img))            # (B, 1) logits

    def _mbstd(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(b, self.config.mbstd_group)
        if b % g:
            raise ValueError(f"batch {b} must be divisible by the minibatch-stddev group {g}")
        f = self.config.mbstd_features
        y = x.float().view(g, -1, f, c // f, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4))      # (B/g, f)
        y = y.view(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)
