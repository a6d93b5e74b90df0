"""Tests of the StyleGAN2 generator / discriminator (linkgan/networks.py) and its layers (linkgan/layers.py):
shapes, the z -> W -> W+ -> S pipeline, truncation, noise modes, the non-fused modulated conv against the
fused reference, upfirdn2d against its definition, configs, gradients and a golden output slice."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from linkgan.layers import ModulatedConv2d, NoiseInjection, fir_kernel, upfirdn2d
from linkgan.networks import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig


def make_g(cfg: GeneratorConfig, *, seed: int = 0, noise_strength: float = 0.0) -> Generator:
    """A seeded generator in eval mode; `noise_strength` > 0 makes the noise inputs actually matter
    (NoiseInjection weights start at zero, which would hide every noise-mode difference)."""
    torch.manual_seed(seed)
    g = Generator(cfg).eval()
    if noise_strength:
        with torch.no_grad():
            for m in g.modules():
                if isinstance(m, NoiseInjection):
                    m.weight.fill_(noise_strength)
    return g


@pytest.fixture
def g(tiny_g_config) -> Generator:
    return make_g(tiny_g_config, noise_strength=0.3)


# --- shapes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("res, channel_max", [(16, 16), (32, 16), (64, 8), (128, 8), (256, 8)])
def test_output_shapes(res, channel_max):
    cfg = GeneratorConfig(resolution=res, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=channel_max)
    assert cfg.num_ws == 2 * int(math.log2(res)) - 2
    G = make_g(cfg)
    D = Discriminator(DiscriminatorConfig(resolution=res, channel_base=256, channel_max=channel_max)).eval()
    z = torch.randn(2, 32)
    with torch.no_grad():
        w = G.map(z)
        ws = G.broadcast(w)
        img = G.synthesize(ws, noise_mode="const")
        logits = D(img)
    assert w.shape == (2, 32)
    assert ws.shape == (2, cfg.num_ws, 32)
    assert img.shape == (2, 3, res, res)
    assert torch.isfinite(img).all()
    assert logits.shape == (2, 1)
    assert torch.isfinite(logits).all()
    # every ws row is read by at least one style layer, and the last row by the last ToRGB
    rows = [row for _, _, row in G.synthesis.style_layers()]
    assert sorted(set(rows)) == list(range(cfg.num_ws))
    assert G.synthesis.style_layers()[-1][0] == f"b{res}.torgb" and rows[-1] == cfg.num_ws - 1


def test_discriminator_rejects_wrong_image_shape_and_uses_minibatch_stddev():
    D = Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=16)).eval()
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        D(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible"):
        D(torch.randn(6, 3, 16, 16))                 # group of 4 does not divide 6
    # minibatch stddev: a sample's logit depends on the other samples of its group
    torch.manual_seed(1)
    imgs = torch.randn(2, 3, 16, 16)
    other = imgs.clone()
    other[1] = torch.randn(3, 16, 16) * 3
    with torch.no_grad():
        assert not torch.allclose(D(imgs)[0], D(other)[0])


# --- truncation and w_avg -------------------------------------------------------------------------------

def test_truncation_psi0_gives_w_avg(g):
    torch.manual_seed(3)
    with torch.no_grad():
        g.w_avg.copy_(torch.randn(g.config.w_dim))
    z = torch.randn(4, g.config.z_dim)
    w0 = g.map(z, psi=0.0)
    assert torch.equal(w0, g.w_avg.expand(4, -1))
    w1 = g.map(z)
    assert not torch.allclose(w1, w0)
    torch.testing.assert_close(g.map(z, psi=0.5), (w1 + g.w_avg) / 2)


def test_update_w_avg_moves_towards_batch_mean(g):
    torch.manual_seed(4)
    with torch.no_grad():
        g.w_avg.copy_(torch.randn(g.config.w_dim) * 5)
    before = g.w_avg.clone()
    z = torch.randn(8, g.config.z_dim)
    g.map(z)                                          # default: no update
    assert torch.equal(g.w_avg, before)
    w = g.map(z, update_w_avg=True)
    mean = w.detach().mean(0)
    beta = g.config.w_avg_beta
    torch.testing.assert_close(g.w_avg, beta * before + (1 - beta) * mean)
    assert (g.w_avg - mean).norm() < (before - mean).norm()


# --- the z -> W -> W+ -> S pipeline ---------------------------------------------------------------------

def test_mapping_then_synthesis_equals_forward(g):
    z = g.z_from_seeds([1, 2, 3])
    with torch.no_grad():
        full = g(z, psi=0.7, noise_mode="const")
        w = g.map(z, psi=0.7)
        split = g.synthesize(w, noise_mode="const")
        split_ws = g.synthesize(g.broadcast(w), noise_mode="const")
    assert torch.equal(full, split)
    assert torch.equal(full, split_ws)


def test_styles_round_trip_and_edit(g):
    z = g.z_from_seeds([7, 8])
    with torch.no_grad():
        ws = g.broadcast(g.map(z))
        img = g.synthesize(ws, noise_mode="const")
        styles = g.ws_to_styles(ws)
        assert set(styles) == set(g.synthesis.style_dims())
        for name, dim in g.synthesis.style_dims().items():
            assert styles[name].shape == (2, dim), name
        assert torch.equal(g.synthesize_styles(styles, noise_mode="const"), img)

        edited = {k: v.clone() for k, v in styles.items()}
        edited["b8.conv1"][:, 0] += 3.0                 # one channel of one layer
        img_edit = g.synthesize_styles(edited, noise_mode="const")
    assert img_edit.shape == img.shape
    assert (img_edit - img).abs().max() > 1e-3


def test_wrong_style_keys_raise(g):
    with torch.no_grad():
        styles = g.ws_to_styles(g.map(g.z_from_seeds([0])))
    missing = dict(styles)
    missing.pop("b16.torgb")
    extra = {**styles, "b32.conv0": styles["b16.conv0"]}
    renamed = {("b4.rgb" if k == "b4.torgb" else k): v for k, v in styles.items()}
    for bad in (missing, extra, renamed):
        with pytest.raises(ValueError, match="styles must have exactly the layers"):
            g.synthesize_styles(bad, noise_mode="const")


def test_w_plus_rows_matter(g):
    z = g.z_from_seeds([10, 11])
    with torch.no_grad():
        w = g.map(z)
        img_w = g.synthesize(w, noise_mode="const")
        ws = g.broadcast(w).clone()
        ws[:, -1] = g.map(g.z_from_seeds([12, 13]))    # only the last ToRGB row differs
        img_wp = g.synthesize(ws, noise_mode="const")
    assert (img_wp - img_w).abs().max() > 1e-4


def test_ws_rows_feed_the_reference_layers(g):
    """W+ row layout of the reference code: a ToRGB shares its row with the next block's first conv."""
    expected = {0: {"b4.conv"}, 1: {"b4.torgb", "b8.conv0"}, 2: {"b8.conv1"}, 3: {"b8.torgb", "b16.conv0"},
                4: {"b16.conv1"}, 5: {"b16.torgb"}}
    torch.manual_seed(6)
    ws = torch.randn(2, g.num_ws, g.config.w_dim)
    with torch.no_grad():
        base = g.ws_to_styles(ws)
        for row, names in expected.items():
            moved = ws.clone()
            moved[:, row] += 1.0
            styles = g.ws_to_styles(moved)
            changed = {n for n in styles if not torch.equal(styles[n], base[n])}
            assert changed == names, row


@pytest.mark.parametrize("shape", [(2, 5, 32), (2, 6, 33), (2, 32, 6), (1, 2, 6, 32)])
def test_ws_of_wrong_shape_raises(g, shape):
    assert g.num_ws == 6
    with pytest.raises(ValueError, match=r"ws must have shape \(B, 6, 32\), got " + re_tuple(shape)):
        g.synthesize(torch.zeros(shape))
    with pytest.raises(ValueError, match="ws must have shape"):
        g.ws_to_styles(torch.zeros(shape))


def re_tuple(shape) -> str:
    return r"\(" + ", ".join(map(str, shape)) + r"\)"


@pytest.mark.parametrize("shape", [(2, 31), (2, 33), (32,), (2, 1, 32)])
def test_z_of_wrong_shape_raises(g, shape):
    with pytest.raises(ValueError, match=r"z must have shape \(B, 32\)"):
        g.map(torch.zeros(shape))
    with pytest.raises(ValueError, match="z must have shape"):
        g(torch.zeros(shape))


# --- noise and seeds ------------------------------------------------------------------------------------

def test_noise_modes(g):
    with torch.no_grad():
        a = g(g.z_from_seeds([42]), noise_mode="const")
        b = g(g.z_from_seeds([42]), noise_mode="const")
        r1 = g(g.z_from_seeds([42]), noise_mode="random")
        r2 = g(g.z_from_seeds([42]), noise_mode="random")
        n = g(g.z_from_seeds([42]), noise_mode="none")
    assert torch.equal(a, b)
    assert (r1 - r2).abs().max() > 1e-4
    assert (n - a).abs().max() > 1e-4
    with pytest.raises(ValueError, match="noise_mode"):
        g(g.z_from_seeds([42]), noise_mode="fixed")


def test_z_from_seeds_is_independent_of_the_batch(g):
    alone = g.z_from_seeds([5])
    batch = g.z_from_seeds([1, 5, 9])
    assert alone.shape == (1, 32) and batch.shape == (3, 32)
    assert alone.dtype == torch.float32
    assert torch.equal(alone[0], batch[1])
    assert torch.equal(g.z_from_seeds([5]), alone)      # deterministic
    assert not torch.allclose(batch[0], batch[1])
    with torch.no_grad():     # and so are the images (up to float reordering: BLAS blocks by batch size)
        torch.testing.assert_close(g(alone, noise_mode="const")[0], g(batch, noise_mode="const")[1],
                                   rtol=1e-5, atol=1e-5)


# --- layers against their definitions -----------------------------------------------------------------

def fused_modconv_reference(conv: ModulatedConv2d, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's fused form: build one modulated (and demodulated) filter per sample, grouped conv."""
    b, i, h, w_ = x.shape
    o, k = conv.out_ch, conv.kernel_size
    weight = conv.scale * conv.weight[None] * s[:, None, :, None, None]          # (B, O, I, k, k)
    if conv.demodulate:
        weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4)) + 1e-8)[:, :, None, None, None]
    x = x.reshape(1, b * i, h, w_)
    if not conv.up:
        out = F.conv2d(x, weight.reshape(b * o, i, k, k), padding=k // 2, groups=b)
        return out.reshape(b, o, h, w_)
    weight = weight.transpose(1, 2).reshape(b * i, o, k, k)                       # (B*I, O, k, k)
    out = F.conv_transpose2d(x, weight, stride=2, groups=b)
    out = out.reshape(b, o, *out.shape[2:])
    return conv.blur(out)


@pytest.mark.parametrize("kw, k", [({}, 3), ({"up": True}, 3), ({"demodulate": False}, 1),
                                   ({"demodulate": False}, 3)])
def test_modulated_conv_matches_fused_reference(kw, k):
    torch.manual_seed(5)
    conv = ModulatedConv2d(5, 4, k, 8, **kw)
    x = torch.randn(3, 5, 8, 8)
    s = torch.randn(3, 5) * 2                                # per-sample, signed: grouping matters
    out = conv(x, s)
    ref = fused_modconv_reference(conv, x, s)
    assert out.shape == ref.shape == (3, 4, 16 if kw.get("up") else 8, 16 if kw.get("up") else 8)
    rel = (out - ref).abs().max() / ref.abs().max()
    assert rel < 1e-5, rel


def upfirdn2d_reference(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    """Direct definition: zero insertion, zero padding, true convolution (flipped kernel), keep every down-th."""
    b, c, h, w = x.shape
    u = np.zeros((b, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    u = np.pad(u, ((0, 0), (0, 0), pad, pad))
    kh, kw = k.shape
    oh, ow = u.shape[2] - kh + 1, u.shape[3] - kw + 1
    out = np.zeros((b, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for d in range(kw):
                    out[:, :, i, j] += u[:, :, i + a, j + d] * k[kh - 1 - a, kw - 1 - d]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up, down, pad", [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (1, 2)), (2, 2, (1, 0)),
                                           (1, 1, (0, 0))])
def test_upfirdn2d_matches_definition(up, down, pad):
    rng = np.random.RandomState(0)
    kernel = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])      # asymmetric and not square
    x = rng.randn(2, 3, 5, 6)
    out = upfirdn2d(torch.from_numpy(x), torch.from_numpy(kernel), up=up, down=down, pad=pad).numpy()
    ref = upfirdn2d_reference(x, kernel, up, down, pad)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_fir_kernel_is_separable_and_normalised():
    k = fir_kernel((1, 3, 3, 1), gain=4.0)
    assert k.shape == (4, 4)
    assert torch.isclose(k.sum(), torch.tensor(4.0))
    torch.testing.assert_close(k, torch.outer(k[0], k[:, 0]) / k[0, 0])


# --- configs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("res", [8, 17, 48, 100, 2048])
def test_configs_reject_bad_resolutions(res):
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(resolution=res)
    with pytest.raises(ValueError, match="power of two"):
        DiscriminatorConfig(resolution=res)


def test_config_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="w_dim"):
        GeneratorConfig(resolution=16, w_dim=0)


def test_config_f_schedule():
    cfg = GeneratorConfig.config_f(1024)
    assert cfg.num_ws == 18
    assert (cfg.z_dim, cfg.w_dim, cfg.n_mlp) == (512, 512, 8)
    assert [cfg.channels(2 ** l) for l in range(2, 11)] == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    assert GeneratorConfig.config_f(256).num_ws == 14


# --- training signal ---------------------------------------------------------------------------------

def test_gradients_flow_from_d_into_mapping(tiny_g_config):
    G = make_g(tiny_g_config).train()
    D = Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=16))
    z = G.z_from_seeds([0, 1])
    D(G(z)).sum().backward()
    params = list(G.mapping.named_parameters())
    assert params
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert G.synthesis.const.grad is not None and G.synthesis.const.grad.abs().sum() > 0


# --- golden slice -------------------------------------------------------------------------------------

GOLDEN = torch.tensor([[0.126901, 0.569857], [0.431736, 0.513093]])


def test_golden_slice(tiny_g_config):
    """Catches accidental architecture / initialisation / layer-order changes. If a change is intended,
    recompute: make_g(tiny_g_config, seed=0, noise_strength=0.1)(z_from_seeds([0]), noise_mode='const')."""
    G = make_g(tiny_g_config, seed=0, noise_strength=0.1)
    with torch.no_grad():
        img = G(G.z_from_seeds([0]), noise_mode="const")
    torch.testing.assert_close(img[0, 0, :2, :2], GOLDEN, rtol=0, atol=1e-4)


def test_generator_without_noise_ignores_noise_modes(tiny_g_config):
    import dataclasses
    torch.manual_seed(0)
    G = Generator(dataclasses.replace(tiny_g_config, noise=False))
    for n in G.synthesis.modules():
        if hasattr(n, "weight") and n.__class__.__name__ == "NoiseInjection":
            n.weight.data.fill_(1.0)                     # noise would show if it were injected
    w = G.map(torch.randn(2, tiny_g_config.z_dim))
    a, b = G.synthesize(w, noise_mode="random"), G.synthesize(w, noise_mode="const")
    assert torch.equal(a, b) and torch.equal(a, G.synthesize(w, noise_mode="none"))
