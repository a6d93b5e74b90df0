"""Tests of the volume rendering (linkgan/volume.py) on known densities and of the tri-plane generator and
camera-conditioned discriminator (linkgan/networks3d.py) on tiny configs: shapes, the 2D Generator's latent API,
determinism, save -> load, gradients, camera conditioning."""
from __future__ import annotations

import math

import pytest
import torch

from linkgan import cameras as cams
from linkgan.hub import WeightsFormatError
from linkgan.links import Link, resample_strip
from linkgan.networks import Generator
from linkgan.networks3d import (CameraDiscriminator, CameraDiscriminatorConfig, TriplaneGenerator,
                                TriplaneGeneratorConfig, raw_of, sample_planes)
from linkgan.volume import composite, importance_depths, merge_samples, sample_pdf, stratified_depths


def tiny_config(**kw) -> TriplaneGeneratorConfig:
    """16 px output from an 8 px rendering of 16 px planes with 4 channels: milliseconds per call."""
    base = dict(resolution=16, neural_resolution=8, plane_resolution=16, plane_channels=4, z_dim=16, w_dim=16,
                channel_base=256, channel_max=16, decoder_hidden=16, feature_channels=8, n_coarse=6, n_importance=6,
                sr_channels=8)
    return TriplaneGeneratorConfig(**{**base, **kw})


def tiny_d(**kw) -> CameraDiscriminator:
    torch.manual_seed(1)
    return CameraDiscriminator(CameraDiscriminatorConfig(resolution=16, channel_base=256, channel_max=16, **kw)).eval()


@pytest.fixture
def G() -> TriplaneGenerator:
    torch.manual_seed(0)
    return TriplaneGenerator(tiny_config()).eval()


# --- volume rendering on known densities ---------------------------------------------------------------

def test_constant_density_gives_the_analytic_transmittance_opacity_and_depth():
    near, far, s, n = 2.0, 3.0, 1.7, 2001
    depths = torch.linspace(near, far, n).expand(1, 1, n)
    out = composite(torch.full((1, 1, n), s), torch.ones(1, 1, n, 2), depths)
    L = far - near
    assert out.opacity.item() == pytest.approx(1 - math.exp(-s * L), abs=1e-5)
    # transmittance before interval i is exp(-s (t_i - near)): weights are its decrements
    trans = 1 - torch.cumsum(out.weights[0, 0], 0)
    assert torch.allclose(trans, torch.exp(-s * (depths[0, 0, 1:] - near)), atol=1e-5)
    # E[t | hit] for a constant density on [near, far]
    expected = near + 1 / s - L * math.exp(-s * L) / (1 - math.exp(-s * L))
    assert out.depth.item() == pytest.approx(expected, abs=1e-4)
    assert torch.allclose(out.features, out.opacity[..., None].expand(1, 1, 2))   # constant features: their opacity


def test_slab_of_constant_density():
    near, far, n, s = 0.0, 4.0, 4001, 0.8
    depths = torch.linspace(near, far, n).expand(1, 1, n)
    sigma = ((depths >= 1.0) & (depths <= 2.5)).float() * s
    out = composite(sigma, torch.zeros(1, 1, n, 1), depths)
    assert out.opacity.item() == pytest.approx(1 - math.exp(-s * 1.5), abs=2e-3)
    assert 1.0 < out.depth.item() < 2.5


def test_opaque_plane_gives_its_depth_and_colour():
    n, plane = 97, 2.7321
    depths = torch.linspace(2.25, 3.3, n).expand(2, 3, n)
    sigma = (depths >= plane).float() * 1e4
    colour = torch.tensor([0.2, 0.5, 0.9]).expand(2, 3, n, 3)
    out = composite(sigma, colour, depths)
    delta = 1.05 / (n - 1)
    assert torch.allclose(out.opacity, torch.ones(2, 3), atol=1e-6)
    assert (out.depth - plane).abs().max() <= delta / 2 + 1e-5
    assert torch.allclose(out.features, colour[:, :, 0], atol=1e-5)


def test_empty_rays_have_no_opacity_and_the_far_depth():
    depths = torch.linspace(2.0, 3.0, 8).expand(1, 2, 8)
    out = composite(torch.zeros(1, 2, 8), torch.ones(1, 2, 8, 3), depths)
    assert torch.equal(out.opacity, torch.zeros(1, 2)) and torch.equal(out.features, torch.zeros(1, 2, 3))
    assert torch.equal(out.depth, torch.full((1, 2), 3.0))


def test_stratified_depths_stay_in_their_bins():
    fixed = stratified_depths(2.0, 3.0, 5, (1, 1), jitter=False)
    assert torch.allclose(fixed[0, 0], torch.tensor([2.125, 2.375, 2.625, 2.875, 3.125]))
    g = torch.Generator().manual_seed(0)
    jittered = stratified_depths(2.0, 3.0, 5, (4, 100), jitter=True, generator=g)
    start = torch.linspace(2.0, 3.0, 5)
    assert ((jittered >= start) & (jittered <= start + 0.25)).all()


def test_inverse_cdf_sampling_follows_the_weights():
    edges = torch.linspace(0.0, 1.0, 11).expand(2, 11)
    weights = torch.zeros(2, 10)
    weights[0, 3] = 1.0                                   # all mass in [0.3, 0.4]
    weights[1] = 1.0                                      # uniform
    fixed = sample_pdf(edges, weights, 8, jitter=False)
    assert ((fixed[0] >= 0.3) & (fixed[0] <= 0.4)).all()
    assert torch.allclose(fixed[1], (torch.arange(8) + 0.5) / 8, atol=1e-6)   # uniform: the quantiles themselves
    drawn = sample_pdf(edges, weights, 1000, jitter=True, generator=torch.Generator().manual_seed(1))
    assert ((drawn[0] >= 0.3) & (drawn[0] <= 0.4)).all()
    assert drawn[1].mean().item() == pytest.approx(0.5, abs=0.03)


def test_importance_depths_go_where_the_surface_is_and_merge_sorted():
    depths = stratified_depths(2.25, 3.3, 12, (1, 4), jitter=False)
    sigma = (depths >= 2.8).float() * 50.0
    coarse = composite(sigma, torch.zeros(1, 4, 12, 1), depths)
    fine = importance_depths(depths, coarse.weights, 32, jitter=False)
    assert fine.shape == (1, 4, 32)
    near_surface = ((fine > 2.6) & (fine < 2.95)).float().mean()
    assert near_surface > 0.6                              # against 0.33 for samples spread over the range
    values = torch.arange(12.0).expand(1, 4, 12)
    merged, (v,) = merge_samples(depths, [values], fine, [torch.full((1, 4, 32), -1.0)])
    assert merged.shape == (1, 4, 44) and (merged[..., 1:] >= merged[..., :-1]).all()
    assert torch.equal(v[v >= 0].reshape(4, 12)[0], torch.arange(12.0))   # coarse values keep their order


def test_planes_are_xy_yz_zx_and_read_zeros_outside_the_box():
    R, box = 16, 1.0
    ramp = ((torch.arange(R) + 0.5) / R * 2 - 1).expand(R, R)          # value = the grid's first coordinate
    planes = ramp.expand(1, 3, 1, R, R).clone()
    pts = torch.tensor([[[0.1, -0.2, 0.3], [0.2, 0.05, -0.1]]])        # inside the cube of side 1
    got = sample_planes(planes, pts, box)[..., 0]
    # XY reads x, YZ reads y, ZX reads z, each scaled by 2 / box; the mean of the three
    assert torch.allclose(got, (pts * 2 / box).sum(-1) / 3, atol=1e-5)
    assert sample_planes(torch.ones(1, 3, 2, R, R), torch.tensor([[[0.9, 0.9, 0.9]]]), box).abs().max() == 0


# --- the generator -------------------------------------------------------------------------------------

def test_shapes_and_the_2d_latent_api(G):
    cfg = G.config
    assert G.num_ws == cfg.num_ws == 6                                  # the 16 px backbone's W+
    z = G.z_from_seeds([3, 4])
    assert torch.equal(z, Generator.z_from_seeds(G, [3, 4])) and torch.equal(G.z_from_seeds([4])[0], z[1])
    w = G.map(z)
    ws = G.broadcast(w)
    assert w.shape == (2, cfg.w_dim) and ws.shape == (2, 6, cfg.w_dim)
    c = cams.cameras([20.0, -10.0], [5.0, 0.0])
    with torch.no_grad():
        out = G.render(ws, c, noise_mode="const")
        assert torch.equal(G.synthesize(w, c, noise_mode="const"), out.image)      # w is broadcast
        assert torch.equal(G.synthesize_styles(G.ws_to_styles(ws), c, noise_mode="const"), out.image)
    assert out.image.shape == (2, 3, 16, 16) and out.image_raw.shape == (2, 3, 8, 8)
    assert out.features.shape == (2, cfg.feature_channels, 8, 8)
    assert out.depth.shape == out.opacity.shape == (2, 8, 8)
    assert ((out.depth >= cfg.ray_near) & (out.depth <= cfg.ray_far + 1.05 / 5)).all()
    assert ((out.opacity >= 0) & (out.opacity <= 1)).all() and torch.isfinite(out.image).all()
    assert torch.allclose(out.image_raw, out.features[:, :3])


def test_truncation_psi0_gives_w_avg(G):
    G.w_avg.copy_(torch.randn(G.config.w_dim))
    assert torch.allclose(G.map(torch.randn(3, G.config.z_dim), psi=0.0), G.w_avg.expand(3, -1))


def test_const_mode_is_deterministic_random_mode_jitters_and_the_camera_matters(G):
    ws = G.broadcast(G.map(G.z_from_seeds([5])))
    with torch.no_grad():
        a = G.synthesize(ws, noise_mode="const")
        assert torch.equal(a, G.synthesize(ws, cams.frontal(1), noise_mode="const"))   # None = frontal
        assert torch.equal(a, G.synthesize(ws, noise_mode="const"))
        assert not torch.equal(a, G.synthesize(ws, noise_mode="random"))
        assert not torch.allclose(a, G.synthesize(ws, cams.cameras([30.0], [0.0]), noise_mode="const"))


def test_save_load_round_trip(G, tmp_path):
    ws = G.broadcast(G.map(G.z_from_seeds([1, 2])))
    c = cams.cameras([15.0, -15.0], [10.0, -10.0])
    with torch.no_grad():
        before = G.render(ws, c, noise_mode="const")
    G.save_pretrained(tmp_path / "g3d")
    G2 = TriplaneGenerator.from_pretrained(tmp_path / "g3d")
    assert G2.config == G.config
    with torch.no_grad():
        after = G2.render(ws, c, noise_mode="const")
    assert torch.equal(before.image, after.image) and torch.equal(before.depth, after.depth)
    with pytest.raises(WeightsFormatError, match="TriplaneGenerator"):
        Generator.from_pretrained(tmp_path / "g3d")


def test_gradients_reach_the_mapping_the_planes_and_the_decoder():
    torch.manual_seed(0)
    G = TriplaneGenerator(tiny_config())
    c = cams.random_cameras(2, generator=torch.Generator().manual_seed(0))
    G(torch.randn(2, 16), c).square().mean().backward()
    for name in ("mapping.layers.0.weight", "synthesis.to_rgbs.1.conv.weight", "decoder.fc1.weight",
                 "background.weight", "superresolution.to_rgbs.0.conv.weight"):
        grad = dict(G.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_density_probe_and_no_super_resolution_config():
    torch.manual_seed(0)
    G = TriplaneGenerator(tiny_config(resolution=8, background=False))
    sigma = G.density(G.map(torch.randn(2, 16)), torch.rand(2, 50, 3) - 0.5)
    assert sigma.shape == (2, 50) and (sigma >= 0).all()
    with torch.no_grad():
        out = G.render(G.map(torch.randn(1, 16)), noise_mode="const")
    assert torch.equal(out.image, out.image_raw)                          # 8 px out of an 8 px rendering
    with pytest.raises(ValueError, match="power of two"):
        tiny_config(neural_resolution=12)


def test_resample_from_links_runs_on_the_3d_generator(G):
    links = [Link("first", (0, 8), box=(0.0, 0.0, 1.0, 1.0))]
    strip = resample_strip(G, links, seed=1, new_seed=2, ts=[0.0, 1.0])
    assert strip.shape == (2, 3, 16, 16)
    with torch.no_grad():
        alone = G.synthesize(G.map(G.z_from_seeds([1]), psi=0.7), noise_mode="const")[0]
    assert torch.allclose(strip[0], alone, atol=1e-5)                   # t = 0: the seed's own face
    assert not torch.equal(strip[0], strip[1])


# --- the discriminator ---------------------------------------------------------------------------------

def test_discriminator_reads_the_camera_and_the_raw_image():
    D = tiny_d()
    torch.manual_seed(2)
    img, raw = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 8, 8)
    c = cams.random_cameras(4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = D(img, c, raw)
        assert logits.shape == (4, 1) and torch.isfinite(logits).all()
        other_c = cams.cameras([25.0] * 4, [-12.0] * 4)
        assert not torch.allclose(D(img, other_c, raw), logits)          # the camera conditions the logit
        assert not torch.allclose(D(img, c, raw.flip(-1)), logits)       # dual: the raw image is read
    with pytest.raises(ValueError, match="image_raw"):
        D(img, c)
    with pytest.raises(ValueError, match=r"\(B, 25\)"):
        D(img, c[:, :16], raw)
    assert raw_of(img, 8).shape == (4, 3, 8, 8)
    single = tiny_d(dual=False)
    with torch.no_grad():
        assert single(img, c).shape == (4, 1)


def test_discriminator_gets_gradients_on_a_generated_batch_and_round_trips(G, tmp_path):
    D = tiny_d().train()
    c = cams.random_cameras(4, generator=torch.Generator().manual_seed(4))
    out = G.render(G.map(torch.randn(4, 16)), c)
    D(out.image, c, out.image_raw).mean().backward()
    assert dict(G.named_parameters())["mapping.layers.0.weight"].grad.abs().sum() > 0
    assert D.c_mapping[0].weight.grad.abs().sum() > 0
    D.eval().save_pretrained(tmp_path / "d3d")
    D2 = CameraDiscriminator.from_pretrained(tmp_path / "d3d")
    img, raw = out.image.detach(), out.image_raw.detach()
    with torch.no_grad():
        assert torch.equal(D(img, c, raw), D2(img, c, raw))
