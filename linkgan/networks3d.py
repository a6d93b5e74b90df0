"""A tri-plane 3D-aware generator and a camera-conditioned discriminator after EG3D (Chan et al., CVPR 2022):
tri-planes (Sec. 3), backbone and volume rendering (Sec. 4.1), super-resolution (Sec. 4.2), dual discrimination
(Sec. 4.3), pose conditioning of D only (Sec. 4.4). docs/3d.md, "Generator": where this follows EG3D, where it chooses.

z (B, z_dim) -> map -> w (B, w_dim) -> ws (B, num_ws, w_dim) -> the package's StyleGAN2 synthesis network -> three
feature planes (B, 3, C, R, R) -> decoder MLP at points along camera rays -> volume rendering at neural_resolution ->
super-resolution (styled by the last ws row) -> image (B, 3, resolution, resolution) in [-1, 1].
W, W+ and S use the 2D Generator's method names, so code written for it (links, resample) runs on this one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import cameras as cams
from .hub import ModelHubMixin
from .layers import ConvLayer, EqualLinear, ModulatedConv2d, StyledConv, ToRGB, upfirdn2d
from .networks import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, MappingNetwork, SynthesisNetwork
from .volume import composite, density_activation, importance_depths, merge_samples, stratified_depths


def _power_of_two(x) -> bool:
    return isinstance(x, int) and x > 0 and (x & (x - 1)) == 0


def _normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


@dataclass
class TriplaneGeneratorConfig:
    resolution: int = 64            # output image side, after super-resolution
    neural_resolution: int = 32     # side of the volume-rendered feature image; resolution / this is a power of two
                                    #   (EG3D: 64 or 128 for 512 px output)
    plane_resolution: int = 64      # side R of each feature plane = the StyleGAN2 backbone's output size (EG3D: 256)
    plane_channels: int = 16        # channels C of each plane (EG3D: 32)
    z_dim: int = 256                # input latent size
    w_dim: int = 256                # W size
    n_mlp: int = 2                  # mapping depth (EG3D's default --map-depth 2)
    lr_mlp: float = 0.01            # mapping network learning-rate multiplier
    channel_base: int = 2048        # backbone channels at resolution r: min(channel_max, channel_base // r)
    channel_max: int = 64
    blur_taps: tuple[int, ...] = (1, 3, 3, 1)
    w_avg_beta: float = 0.995       # EMA decay of w_avg (truncation)
    noise: bool = False             # per-pixel noise in the backbone (False: every variation goes through W)
    decoder_hidden: int = 64        # hidden width of the decoder MLP (EG3D: 64)
    feature_channels: int = 16      # features per point; the first 3 are RGB (EG3D: 32)
    n_coarse: int = 12              # stratified samples per ray (EG3D FFHQ: 48)
    n_importance: int = 12          # importance samples per ray; 0 = none (EG3D FFHQ: 48)
    ray_near: float = 2.25          # sampling range along each ray (EG3D FFHQ: 2.25 - 3.3)
    ray_far: float = 3.3
    box_warp: float = 1.0           # side of the cube, centred on the origin, that the planes span
    sr_channels: int = 32           # channels of the super-resolution convolutions
    background: bool = True         # composite a per-sample background colour (from the last ws row) behind the
                                    #   volume; False: EG3D's empty background (black raw image)
    yaw_deg: float = cams.DEFAULT_RANGE.yaw_deg         # the camera range the model is meant for (and its default
    pitch_deg: float = cams.DEFAULT_RANGE.pitch_deg     #   frontal camera's radius and focal)
    camera_radius: float = cams.DEFAULT_RANGE.radius
    focal: float = cams.DEFAULT_RANGE.focal

    def __post_init__(self):
        self.blur_taps = tuple(self.blur_taps)
        for name in ("resolution", "neural_resolution", "plane_resolution"):
            if not _power_of_two(getattr(self, name)):
                raise ValueError(f"{name} must be a power of two, got {getattr(self, name)}")
        if self.resolution < self.neural_resolution:
            raise ValueError(f"resolution {self.resolution} must be >= neural_resolution {self.neural_resolution}")
        if self.feature_channels < 3 or self.plane_channels < 1 or self.n_coarse < 2 or self.n_importance < 0:
            raise ValueError("need feature_channels >= 3, plane_channels >= 1, n_coarse >= 2, n_importance >= 0")
        if not 0 < self.ray_near < self.ray_far:
            raise ValueError(f"need 0 < ray_near < ray_far, got {self.ray_near}, {self.ray_far}")
        self.backbone  # noqa: B018 (validates the StyleGAN2 part)

    @property
    def backbone(self) -> GeneratorConfig:
        """The StyleGAN2 synthesis network's config (its 'image' is the 3 planes side by side in channels)."""
        return GeneratorConfig(resolution=self.plane_resolution, z_dim=self.z_dim, w_dim=self.w_dim, n_mlp=self.n_mlp, lr_mlp=self.lr_mlp, channel_base=self.channel_base,
                               channel_max=self.channel_max, blur_taps=self.blur_taps, w_avg_beta=self.w_avg_beta,
                               noise=self.noise)

    @property
    def num_ws(self) -> int:
        """Rows of W+: the backbone's; the super-resolution and the background read the last row (as EG3D)."""
        return self.backbone.num_ws

    @property
    def camera_range(self) -> cams.CameraRange:
        return cams.CameraRange(self.yaw_deg, self.pitch_deg, self.camera_radius, self.focal)


class ToPlanes(ToRGB):
    """ToRGB with 3 * C output channels: the backbone's skip outputs carry the planes."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, *, blur_taps: tuple[int, ...]):
        super().__init__(in_ch, w_dim, blur_taps=blur_taps)
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, styles: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, styles) + self.bias.to(x.dtype).view(1, -1, 1, 1)
        if skip is not None:
            out = out + upfirdn2d(skip.to(out.dtype), self.up_kernel, up=2, pad=self.up_pad)
        return out


class PlaneSynthesis(SynthesisNetwork):
    """The 2D package's synthesis network with its ToRGB layers widened to 3 * C channels; layer names, ws rows and
    the S space are the 2D network's."""

    def __init__(self, cfg: GeneratorConfig, planes_channels: int):
        super().__init__(cfg)
        self.to_rgb1 = ToPlanes(cfg.channels(4), planes_channels, cfg.w_dim, blur_taps=cfg.blur_taps)
        self.to_rgbs = nn.ModuleList(ToPlanes(cfg.channels(2 ** l), planes_channels, cfg.w_dim, blur_taps=cfg.blur_taps)
                                     for l in range(3, cfg.log2_res + 1))


class TriplaneDecoder(nn.Module):
    """Point features (mean over the planes) -> raw density and features, EG3D's OSGDecoder shape: FC, softplus, FC."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int):
        super().__init__()
        self.fc1 = EqualLinear(in_ch, hidden)
        self.fc2 = EqualLinear(hidden, 1 + out_ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc2(F.softplus(self.fc1(x)))                               # (..., 1 + F)
        # features in (-0.001, 1.001): a sigmoid that can reach 0 and 1 (EG3D's)
        return out[..., 0], torch.sigmoid(out[..., 1:]) * (1 + 2e-3) - 1e-3


def sample_planes(planes: torch.Tensor, points: torch.Tensor, box_warp: float) -> torch.Tensor:
    """Bilinear features of points (B, M, 3) on planes (B, 3, C, R, R), averaged over the planes -> (B, M, C).
    Planes are XY, YZ and ZX (not EG3D's XY, XZ, ZX, whose last two see the same axes: docs/3d.md);
    points outside the cube of side box_warp read zeros."""
    B, _, C, R, _ = planes.shape
    p = points * (2.0 / box_warp)                                            # the cube -> [-1, 1]^3
    grids = torch.stack([p[..., [0, 1]], p[..., [1, 2]], p[..., [2, 0]]], dim=1)   # (B, 3, M, 2)
    out = F.grid_sample(planes.reshape(B * 3, C, R, R), grids.reshape(B * 3, -1, 1, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=False)             # (B*3, C, M, 1)
    return out.reshape(B, 3, C, -1).mean(1).transpose(1, 2)


class SuperResolution(nn.Module):
    """Feature image at neural_resolution -> RGB at resolution (EG3D Sec. 4.2, its 'hybrid' blocks in our words): a
    styled conv at the low resolution, then per doubling an upsampling styled conv, a styled conv and a ToRGB that
    adds to the upsampled raw RGB. Styled by one w (the last ws row); no noise."""

    def __init__(self, cfg: TriplaneGeneratorConfig):
        super().__init__()
        self.resolutions = [cfg.neural_resolution * 2 ** i for i in range(1, int(math.log2(cfg.resolution //
                                                                                           cfg.neural_resolution)) + 1)]
        ch, taps = cfg.sr_channels, cfg.blur_taps
        self.conv0 = StyledConv(cfg.feature_channels, ch, cfg.w_dim, blur_taps=taps) if self.resolutions else None
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for _ in self.resolutions:
            self.convs.extend([StyledConv(ch, ch, cfg.w_dim, up=True, blur_taps=taps),
                               StyledConv(ch, ch, cfg.w_dim, blur_taps=taps)])
            self.to_rgbs.append(ToRGB(ch, cfg.w_dim, blur_taps=taps))

    def style_layers(self) -> list[tuple[str, ModulatedConv2d]]:
        out = [("sr.conv0", self.conv0.conv)] if self.conv0 is not None else []
        for i, r in enumerate(self.resolutions):
            out += [(f"sr.b{r}.conv0", self.convs[2 * i].conv), (f"sr.b{r}.conv1", self.convs[2 * i + 1].conv),
                    (f"sr.b{r}.torgb", self.to_rgbs[i].conv)]
        return out

    def forward(self, features: torch.Tensor, rgb: torch.Tensor, styles: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.conv0 is None:
            return rgb
        zero = features.new_zeros(1, 1, 1, 1)                                   # noise off
        x = self.conv0(features, styles["sr.conv0"], zero)
        for i, r in enumerate(self.resolutions):
            x = self.convs[2 * i](x, styles[f"sr.b{r}.conv0"], zero)
            x = self.convs[2 * i + 1](x, styles[f"sr.b{r}.conv1"], zero)
            rgb = self.to_rgbs[i](x, styles[f"sr.b{r}.torgb"], rgb)
        return rgb


@dataclass
class Render3D:
    image: torch.Tensor         # (B, 3, resolution, resolution) in [-1, 1], after super-resolution
    image_raw: torch.Tensor     # (B, 3, n, n) the first three rendered features, n = neural_resolution
    features: torch.Tensor      # (B, feature_channels, n, n) the rendered feature image, in [-1, 1]
    depth: torch.Tensor         # (B, n, n) expected depth along each ray (the far end where the volume is empty)
    opacity: torch.Tensor       # (B, n, n) 1 - transmittance through the volume


class TriplaneGenerator(nn.Module, ModelHubMixin):
    """EG3D-style generator: `map(z) -> w`, `synthesize(ws, camera) -> image`, `render(...)` for depth and more."""

    config_class = TriplaneGeneratorConfig

    def __init__(self, config: TriplaneGeneratorConfig | None = None):
        super().__init__()
        self.config = cfg = config or TriplaneGeneratorConfig()
        self.mapping = MappingNetwork(cfg.backbone)
        self.synthesis = PlaneSynthesis(cfg.backbone, 3 * cfg.plane_channels)
        self.decoder = TriplaneDecoder(cfg.plane_channels, cfg.decoder_hidden, cfg.feature_channels)
        self.background = EqualLinear(cfg.w_dim, cfg.feature_channels) if cfg.background else None
        self.superresolution = SuperResolution(cfg)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    # --- W and W+: the 2D Generator's API ----------------------------------------------------------------
    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    # Not pose-conditioned (EG3D Sec. 4.4 is for attributes that go with the pose; the toy heads' attributes and views
    # are drawn independently): mapping, truncation and seeds are the 2D Generator's own methods.
    map = Generator.map
    broadcast = Generator.broadcast
    z_from_seeds = Generator.z_from_seeds

    def forward(self, z: torch.Tensor, camera: torch.Tensor | None = None, *, psi: float = 1.0,
                noise_mode: str = "random") -> torch.Tensor:
        return self.synthesize(self.map(z, psi=psi), camera, noise_mode=noise_mode)

    def synthesize(self, ws: torch.Tensor, camera: torch.Tensor | None = None, **kw) -> torch.Tensor:
        """ws (B, num_ws, w_dim) or w (B, w_dim) -> image (B, 3, H, W) seen from camera c (B, 25) (None: frontal)."""
        return self.render(ws, camera, **kw).image

    def render(self, ws: torch.Tensor, camera: torch.Tensor | None = None, *, noise_mode: str = "random") -> Render3D:
        """Everything one view gives: the image, the raw rendering, its depth and opacity."""
        return self.render_styles(self.ws_to_styles(ws), camera, noise_mode=noise_mode)

    # --- S -------------------------------------------------------------------------------------------------
    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """W+ -> S: the backbone's styles (2D names), the super-resolution's ('sr.*', from the last row) and the
        background colour's ('background')."""
        ws = self.broadcast(ws) if ws.ndim == 2 else ws
        styles = self.synthesis.ws_to_styles(ws)
        styles.update({name: conv.affine(ws[:, -1]) for name, conv in self.superresolution.style_layers()})
        if self.background is not None:
            styles["background"] = self.background(ws[:, -1])
        return styles

    def synthesize_styles(self, styles: dict[str, torch.Tensor], camera: torch.Tensor | None = None,
                          **kw) -> torch.Tensor:
        return self.render_styles(styles, camera, **kw).image

    def render_styles(self, styles: dict[str, torch.Tensor], camera: torch.Tensor | None = None, *,
                      noise_mode: str = "random") -> Render3D:
        """S -> one view. noise_mode 'random' jitters the ray samples (training); 'const' and 'none' place them
        deterministically (the same image for the same code and camera, as links and the app need)."""
        cfg = self.config
        planes = self.planes(styles, noise_mode=noise_mode)
        B, n = planes.shape[0], cfg.neural_resolution
        camera = self._camera(camera, B, planes.device)
        origins, dirs = cams.rays(camera, n)                                  # (B, P, 3) each, P = n * n
        jitter = noise_mode == "random"

        def field(depths):                                                   # (B, P, N) -> sigma, features
            points = origins[:, :, None] + depths[..., None] * dirs[:, :, None]        # (B, P, N, 3)
            raw, feat = self.decoder(sample_planes(planes, points.reshape(B, -1, 3), cfg.box_warp))
            return density_activation(raw).reshape(depths.shape), feat.reshape(*depths.shape, -1)

        depths = stratified_depths(cfg.ray_near, cfg.ray_far, cfg.n_coarse, (B, n * n), jitter=jitter,
                                   device=planes.device)
        sigma, feat = field(depths)
        if cfg.n_importance:
            with torch.no_grad():                                             # where to look, not what is seen
                weights = composite(sigma, feat[..., :0], depths).weights
                fine = importance_depths(depths, weights, cfg.n_importance, jitter=jitter)
            depths, (sigma, feat) = merge_samples(depths, [sigma, feat], fine, list(field(fine)))
        out = composite(sigma, feat, depths)
        features = out.features
        if self.background is not None:
            bg = torch.sigmoid(styles["background"]) * (1 + 2e-3) - 1e-3      # (B, F), the decoder's range
            features = features + (1 - out.opacity)[..., None] * bg[:, None]
        features = (features * 2 - 1).transpose(1, 2).reshape(B, -1, n, n)   # (B, F, n, n) in [-1, 1]
        raw = features[:, :3]
        image = self.superresolution(features, raw, styles)
        return Render3D(image=image, image_raw=raw, features=features, depth=out.depth.reshape(B, n, n),
                        opacity=out.opacity.reshape(B, n, n))

    def planes(self, styles: dict[str, torch.Tensor], *, noise_mode: str = "random") -> torch.Tensor:
        """The tri-plane (B, 3, C, R, R) of a code's styles."""
        names = {name for name, _, _ in self.synthesis.style_layers()}
        img = self.synthesis.forward_styles({k: v for k, v in styles.items() if k in names}, noise_mode=noise_mode)
        B, _, R, _ = img.shape
        return img.reshape(B, 3, self.config.plane_channels, R, R)

    def density(self, ws: torch.Tensor, points: torch.Tensor, *, raw: bool = False) -> torch.Tensor:
        """sigma (B, M) at world points (B, M, 3) (for EG3D's density regulariser and geometry probes); raw: the
        decoder's output before the activation, which EG3D's regulariser reads."""
        planes = self.planes(self.ws_to_styles(ws), noise_mode="const")
        sigma = self.decoder(sample_planes(planes, points, self.config.box_warp))[0]
        return sigma if raw else density_activation(sigma)

    def _camera(self, c: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        if c is None:
            return cams.frontal(batch, camera_range=self.config.camera_range, device=device)
        cams.unpack(c)                                                        # checks the shape
        if c.shape[0] != batch:
            raise ValueError(f"{c.shape[0]} cameras for a batch of {batch}")
        return c.to(device)


@dataclass
class CameraDiscriminatorConfig:
    resolution: int = 64            # image side
    dual: bool = True               # also read the generator's raw image, upsampled (EG3D Sec. 4.3): 6 input channels
    channel_base: int = 2048        # the 2D discriminator's channel schedule
    channel_max: int = 64
    mbstd_group: int = 4
    mbstd_features: int = 1
    blur_taps: tuple[int, ...] = (1, 3, 3, 1)
    cmap_dim: int = 0               # size of the camera embedding the logit projects on; 0 = channels at 4 px
    c_layers: int = 2               # layers of the camera mapping after its embedding
    c_lr_mul: float = 0.01          # its learning-rate multiplier (StyleGAN2-ADA's mapping default)
    c_noise: float = 0.0            # std of Gaussian noise added to the camera in training mode (EG3D's disc_c_noise)

    def __post_init__(self):
        self.blur_taps = tuple(self.blur_taps)
        self.body  # noqa: B018 (validates the resolution)

    @property
    def body(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(resolution=self.resolution, channel_base=self.channel_base,
                                   channel_max=self.channel_max, mbstd_group=self.mbstd_group,
                                   mbstd_features=self.mbstd_features, blur_taps=self.blur_taps)


class CameraDiscriminator(nn.Module, ModelHubMixin):
    """The 2D residual discriminator reading the image (and the upsampled raw image), whose last layer is projected on
    an embedding of the camera (projection conditioning, as EG3D's D): logit = <features, cmap(c)> / sqrt(dim)."""

    config_class = CameraDiscriminatorConfig

    def __init__(self, config: CameraDiscriminatorConfig | None = None):
        super().__init__()
        self.config = cfg = config or CameraDiscriminatorConfig()
        self.cmap_dim = cfg.cmap_dim or cfg.body.channels(4)
        self.body = Discriminator(cfg.body)
        if cfg.dual:
            self.body.blocks[0] = ConvLayer(6, cfg.body.channels(cfg.resolution), 1)
        self.body.final_linear[1] = EqualLinear(cfg.body.channels(4), self.cmap_dim)
        self.c_mapping = nn.ModuleList([EqualLinear(cams.CAMERA_DIM, self.cmap_dim, lr_mul=cfg.c_lr_mul)] + [
            EqualLinear(self.cmap_dim, self.cmap_dim, lr_mul=cfg.c_lr_mul, activate=True) for _ in range(cfg.c_layers)])

    def forward(self, image: torch.Tensor, camera: torch.Tensor, image_raw: torch.Tensor | None = None) -> torch.Tensor:
        """image (B, 3, H, W), camera c (B, 25), image_raw (B, 3, n, n) (with dual; for real images: `raw_of(image)`)
        -> logits (B, 1)."""
        r = self.config.resolution
        if image.ndim != 4 or tuple(image.shape[1:]) != (3, r, r):
            raise ValueError(f"images must have shape (B, 3, {r}, {r}), got {tuple(image.shape)}")
        x = image
        if self.config.dual:
            if image_raw is None:
                raise ValueError("a dual discriminator needs image_raw (the generator's, or raw_of(real image))")
            x = torch.cat([image, F.interpolate(image_raw, size=(r, r), mode="bilinear", align_corners=False)], 1)
        cams.unpack(camera)                                                   # checks the shape
        body = self.body
        x = body.final_conv(body._mbstd(body.blocks(x)))
        h = body.final_linear[1](body.final_linear[0](x.flatten(1)))         # (B, cmap_dim)
        c = camera.to(h.dtype)
        if self.training and self.config.c_noise > 0:
            c = c + torch.randn_like(c) * c.std(0) * self.config.c_noise
        cmap = _normalize_2nd_moment(self.c_mapping[0](c))
        for layer in self.c_mapping[1:]:
            cmap = layer(cmap)
        return (h * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)


def raw_of(image: torch.Tensor, neural_resolution: int) -> torch.Tensor:
    """A real image's stand-in for the generator's raw image: an antialiased resize to the neural resolution (EG3D)."""
    return F.interpolate(image, size=(neural_resolution, neural_resolution), mode="bilinear", align_corners=False,
                         antialias=True)
