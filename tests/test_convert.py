"""Tests of the rosinality/stylegan2-pytorch converter (linkgan/convert.py).

The foreign checkpoints here are built in that project's layout and run through a small functional
reference of its forward pass, written in this file from the layout's definition (equalised-lr scales,
fused modulation with demodulation on the weights, transposed-conv upsampling then a [1,3,3,1] blur, noise,
ToRGB skips upsampled by zero insertion and the same FIR). linkgan's non-fused layers must reproduce it:
images to atol 1e-4 (measured: max |diff| 1.3e-5 over 20 images whose values reach 14, mean |x| 1.5;
the discriminator's logits to 1.5e-7).
"""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from linkgan.convert import (ConversionError, convert_file, convert_rosinality, from_rosinality_hub,
                             generator_config, load_rosinality, rosinality_channels)
from linkgan.hub import WeightsFormatError, WeightsNotFoundError
from linkgan.networks import Discriminator, Generator
from test_hub import COMMIT, build_hub_cache, hermetic  # noqa: F401  (hermetic is a fixture)

SIZE, STYLE_DIM, N_MLP, CM, CMAX = 32, 32, 2, 1, 16      # tiny: 16 channels at every resolution up to 32 px
OPTIONS = dict(size=SIZE, style_dim=STYLE_DIM, n_mlp=N_MLP, channel_multiplier=CM, channel_max=CMAX)
ATOL = 1e-4
SQRT2 = math.sqrt(2.0)


# --- the foreign layout: a random state and a functional reference of its forward pass -----------------

def _taps_2d(gain: float) -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum() * gain


def foreign_state(*, size=SIZE, style_dim=STYLE_DIM, n_mlp=N_MLP, cm=CM, cmax=CMAX, seed=0,
                  with_d=True) -> dict:
    """A checkpoint dict in the foreign layout with random (non-trivial) values everywhere."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=g) * scale + shift

    ch = rosinality_channels(size, cm, cmax)
    sd = {}
    for i in range(1, n_mlp + 1):                                  # style.0 is the parameter-free pixel norm
        sd[f"style.{i}.weight"] = rnd(style_dim, style_dim, scale=100.0)   # N(0, 1/lr_mul) with lr_mul 0.01
        sd[f"style.{i}.bias"] = rnd(style_dim, scale=10.0)

    def styled(prefix, cin, cout, k, *, rgb=False):
        sd[f"{prefix}.conv.weight"] = rnd(1, cout, cin, k, k)
        sd[f"{prefix}.conv.modulation.weight"] = rnd(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = rnd(cin, scale=0.2, shift=1.0)
        if rgb:
            sd[f"{prefix}.bias"] = rnd(1, 3, 1, 1, scale=0.3)
        else:
            sd[f"{prefix}.noise.weight"] = rnd(1, scale=0.5)
            sd[f"{prefix}.activate.bias"] = rnd(cout, scale=0.3)

    sd["input.input"] = rnd(1, ch[4], 4, 4)
    styled("conv1", ch[4], ch[4], 3)
    styled("to_rgb1", ch[4], 3, 1, rgb=True)
    cin = ch[4]
    for i, log2 in enumerate(range(3, int(math.log2(size)) + 1)):
        cout = ch[2 ** log2]
        styled(f"convs.{2 * i}", cin, cout, 3)
        sd[f"convs.{2 * i}.conv.blur.kernel"] = _taps_2d(4.0)
        styled(f"convs.{2 * i + 1}", cout, cout, 3)
        styled(f"to_rgbs.{i}", cout, 3, 1, rgb=True)
        sd[f"to_rgbs.{i}.upsample.kernel"] = _taps_2d(4.0)
        cin = cout
    res = [4] + [2 ** l for l in range(3, int(math.log2(size)) + 1) for _ in range(2)]
    for i, r in enumerate(res):
        sd[f"noises.noise_{i}"] = rnd(1, 1, r, r)
    state = {"g_ema": sd, "latent_avg": rnd(style_dim)}
    if with_d:
        state["d"] = foreign_d_state(size=size, ch=ch, rnd=rnd)
    return state


def foreign_d_state(*, size, ch, rnd) -> dict:
    sd = {"convs.0.0.weight": rnd(ch[size], 3, 1, 1), "convs.0.1.bias": rnd(ch[size], scale=0.3)}
    cin = ch[size]
    for i, log2 in enumerate(range(int(math.log2(size)), 2, -1), start=1):
        cout = ch[2 ** (log2 - 1)]
        sd.update({f"convs.{i}.conv1.0.weight": rnd(cin, cin, 3, 3), f"convs.{i}.conv1.1.bias": rnd(cin, scale=0.3),
                   f"convs.{i}.conv2.0.kernel": _taps_2d(1.0), f"convs.{i}.conv2.1.weight": rnd(cout, cin, 3, 3),
                   f"convs.{i}.conv2.2.bias": rnd(cout, scale=0.3), f"convs.{i}.skip.0.kernel": _taps_2d(1.0),
                   f"convs.{i}.skip.1.weight": rnd(cout, cin, 1, 1)})
        cin = cout
    sd.update({"final_conv.0.weight": rnd(ch[4], cin + 1, 3, 3), "final_conv.1.bias": rnd(ch[4], scale=0.3),
               "final_linear.0.weight": rnd(ch[4], ch[4] * 16), "final_linear.0.bias": rnd(ch[4], scale=0.3),
               "final_linear.1.weight": rnd(1, ch[4]), "final_linear.1.bias": rnd(1)})
    return sd


def lrelu(x):
    return F.leaky_relu(x, 0.2) * SQRT2


def fir(x, kernel, pad0, pad1, *, up=1):
    """Zero-stuff by `up`, pad, and convolve each channel with `kernel`, written as a sum of shifted copies."""
    if up > 1:
        z = x.new_zeros(x.shape[0], x.shape[1], x.shape[2] * up, x.shape[3] * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, (pad0, pad1, pad0, pad1))
    kh, kw = kernel.shape
    h, w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    flipped = kernel.flip(0, 1)                                     # a convolution, not a correlation
    return sum(flipped[i, j] * x[:, :, i:i + h, j:j + w] for i in range(kh) for j in range(kw))


def ref_mapping(sd, z, n_mlp, lr_mul=0.01):
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        wt, b = sd[f"style.{i}.weight"], sd[f"style.{i}.bias"]
        x = lrelu(x @ (wt * lr_mul / math.sqrt(wt.shape[1])).t() + b * lr_mul)
    return x


def ref_modconv(sd, prefix, x, w, *, demodulate=True, up=False):
    """The fused form: per-sample weights, demodulated, one grouped convolution over the batch."""
    weight = sd[f"{prefix}.conv.weight"]                           # (1, O, I, k, k)
    _, o, i, k, _ = weight.shape
    mw, mb = sd[f"{prefix}.conv.modulation.weight"], sd[f"{prefix}.conv.modulation.bias"]
    s = w @ (mw / math.sqrt(mw.shape[1])).t() + mb                 # (B, I)
    b = x.shape[0]
    wb = weight / math.sqrt(i * k * k) * s.view(b, 1, i, 1, 1)     # (B, O, I, k, k)
    if demodulate:
        wb = wb * torch.rsqrt(wb.pow(2).sum((2, 3, 4)) + 1e-8).view(b, o, 1, 1, 1)
    xg = x.reshape(1, b * i, *x.shape[2:])
    if up:
        wt = wb.transpose(1, 2).reshape(b * i, o, k, k)
        out = F.conv_transpose2d(xg, wt, stride=2, groups=b)       # (1, B*O, 2H+1, 2W+1)
        out = out.view(b, o, *out.shape[2:])
        return fir(out, _taps_2d(4.0), 1, 1)                       # 2H+1 + 2 - 3 = 2H
    out = F.conv2d(xg, wb.reshape(b * o, i, k, k), padding=k // 2, groups=b)
    return out.view(b, o, *out.shape[2:])


def ref_synthesis(sd, ws, noises):
    """ws (B, n_latent, style_dim) -> image; rows: conv1, to_rgb1, then per block conv-up, conv, to_rgb."""
    def styled(prefix, x, w, noise, up=False):
        x = ref_modconv(sd, prefix, x, w, up=up)
        x = x + sd[f"{prefix}.noise.weight"] * noise
        return lrelu(x + sd[f"{prefix}.activate.bias"].view(1, -1, 1, 1))

    def to_rgb(prefix, x, w, skip):
        out = ref_modconv(sd, prefix, x, w, demodulate=False) + sd[f"{prefix}.bias"]
        return out if skip is None else out + fir(skip, _taps_2d(4.0), 2, 1, up=2)

    x = sd["input.input"].repeat(ws.shape[0], 1, 1, 1)
    x = styled("conv1", x, ws[:, 0], noises[0])
    img = to_rgb("to_rgb1", x, ws[:, 1], None)
    for i in range((len(noises) - 1) // 2):
        row = 1 + 2 * i
        x = styled(f"convs.{2 * i}", x, ws[:, row], noises[row], up=True)
        x = styled(f"convs.{2 * i + 1}", x, ws[:, row + 1], noises[row + 1])
        img = to_rgb(f"to_rgbs.{i}", x, ws[:, row + 2], img)
    return img


def ref_discriminator(sd, img):
    def conv(x, key, stride=1, pad=0):
        wt = sd[key]
        return F.conv2d(x, wt / math.sqrt(wt[0].numel()), stride=stride, padding=pad)

    def act(x, key):
        return lrelu(x + sd[key].view(1, -1, 1, 1))

    x = act(conv(img, "convs.0.0.weight"), "convs.0.1.bias")
    i = 1
    while f"convs.{i}.conv1.0.weight" in sd:
        h = act(conv(x, f"convs.{i}.conv1.0.weight", pad=1), f"convs.{i}.conv1.1.bias")
        h = act(conv(fir(h, _taps_2d(1.0), 2, 2), f"convs.{i}.conv2.1.weight", stride=2), f"convs.{i}.conv2.2.bias")
        skip = conv(fir(x, _taps_2d(1.0), 1, 1), f"convs.{i}.skip.1.weight", stride=2)
        x = (h + skip) / SQRT2
        i += 1
    b, c, h, w = x.shape
    g = min(b, 4)
    std = torch.sqrt(x.view(g, -1, 1, c, h, w).var(0, unbiased=False) + 1e-8).mean((2, 3, 4))   # (B/g, 1)
    x = torch.cat([x, std.view(-1, 1, 1, 1).repeat(g, 1, h, w)], 1)
    x = act(conv(x, "final_conv.0.weight", pad=1), "final_conv.1.bias").flatten(1)
    for j, activate in ((0, True), (1, False)):
        wt, bias = sd[f"final_linear.{j}.weight"], sd[f"final_linear.{j}.bias"]
        x = x @ (wt / math.sqrt(wt.shape[1])).t() + bias
        x = lrelu(x) if activate else x
    return x


# --- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def state() -> dict:
    return foreign_state()


@pytest.fixture(scope="module")
def pt_file(state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("foreign") / "tiny-stylegan2.pt"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def converted(pt_file):
    return convert_rosinality(load_rosinality(pt_file), **OPTIONS)


def _convert(state, **overrides):
    return convert_rosinality(state, **{**OPTIONS, **overrides})


def _noises(batch, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 1, r, r, generator=g) for r in [4, 8, 8, 16, 16, 32, 32]]


# --- the image is reproduced -----------------------------------------------------------------------------

def test_generator_reproduces_the_reference_from_z(state, converted):
    G, _ = converted
    sd = state["g_ema"]
    z = torch.randn(3, STYLE_DIM, generator=torch.Generator().manual_seed(2))
    noises = _noises(3)
    with torch.no_grad():
        w_ref = ref_mapping(sd, z, N_MLP)
        ref = ref_synthesis(sd, w_ref.unsqueeze(1).repeat(1, G.num_ws, 1), noises)
        ours = G.synthesize(G.map(z), noise=noises)
    assert ours.shape == ref.shape == (3, 3, SIZE, SIZE)
    assert ref.abs().mean() > 0.1                                 # a real image, not a vanishing signal
    torch.testing.assert_close(G.map(z), w_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_w_plus_rows_and_const_noise_follow_the_layout(state, converted):
    G, _ = converted
    sd = state["g_ema"]
    ws = torch.randn(2, G.num_ws, STYLE_DIM, generator=torch.Generator().manual_seed(3))   # a row per layer
    file_noise = [sd[f"noises.noise_{i}"] for i in range(7)]
    with torch.no_grad():
        ref = ref_synthesis(sd, ws, file_noise)
        ours = G.synthesize(ws, noise_mode="const")
        swapped = ref_synthesis(sd, ws.flip(1), file_noise)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)
    assert (ours - swapped).abs().max() > 100 * ATOL               # the check can tell rows apart


def test_truncation_uses_latent_avg(state, converted):
    G, _ = converted
    assert torch.equal(G.w_avg, state["latent_avg"])
    z = torch.randn(2, STYLE_DIM)
    with torch.no_grad():
        assert torch.allclose(G.map(z, psi=0.0), state["latent_avg"].expand(2, -1))


def test_discriminator_reproduces_the_reference(state, converted):
    _, D = converted
    assert isinstance(D, Discriminator)
    img = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(D(img), ref_discriminator(state["d"], img), atol=ATOL, rtol=1e-5)


def test_without_latent_avg_or_d_w_avg_is_estimated(state):
    G, D = _convert({"g_ema": state["g_ema"]}, w_avg_samples=2000)
    assert D is None
    with torch.no_grad():
        w = ref_mapping(state["g_ema"], torch.randn(20000, STYLE_DIM, generator=torch.Generator().manual_seed(5)),
                        N_MLP)
    stderr = w.std(0) * math.sqrt(1 / 2000 + 1 / 20000)            # of the difference of two sample means
    assert ((G.w_avg - w.mean(0)).abs() < 5 * stderr).all()
    assert (w.mean(0).abs() > 10 * stderr).any()                  # far from the zeros it starts at
    assert "mean of 2000" in G.metadata["converted_from"]["w_avg"]


def test_published_channel_schedule_reproduces_the_reference():
    """The default options (512 channels up to 32 px, as in that code), at 16 px so it stays fast."""
    state = foreign_state(size=16, cm=2, cmax=512, with_d=False, seed=6)
    G, D = convert_rosinality(state, size=16, style_dim=STYLE_DIM, n_mlp=N_MLP, channel_multiplier=2)
    assert D is None and G.config.channels(16) == 512 and G.config.channel_base == 32768
    sd = state["g_ema"]
    z = torch.randn(2, STYLE_DIM, generator=torch.Generator().manual_seed(7))
    noises = _noises(2)[:5]
    with torch.no_grad():
        ref = ref_synthesis(sd, ref_mapping(sd, z, N_MLP).unsqueeze(1).repeat(1, G.num_ws, 1), noises)
        torch.testing.assert_close(G.synthesize(G.map(z), noise=noises), ref, atol=ATOL, rtol=0)


def test_channel_schedule_matches_the_layout():
    for cm in (1, 2):
        want = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
                1024: 16 * cm}
        assert rosinality_channels(1024, cm) == want
        cfg = generator_config(size=1024, style_dim=512, n_mlp=8, channel_multiplier=cm)
        assert {r: cfg.channels(r) for r in want} == want
        assert cfg.num_ws == 18
    with pytest.raises(ConversionError, match="cannot express"):
        generator_config(size=256, style_dim=512, n_mlp=8, channel_multiplier=4)   # 1024 at 64 px > 512 at 32


# --- files, the CLI and the Hub -------------------------------------------------------------------------

def test_convert_file_writes_weight_sets_that_load_strictly(pt_file, converted, tmp_path):
    out = convert_file(pt_file, tmp_path / "set", **OPTIONS)
    G = Generator.from_pretrained(out)
    D = Discriminator.from_pretrained(out / "discriminator")
    assert G.metadata["converted_from"]["file"] == "tiny-stylegan2.pt"
    for a, b in ((G, converted[0]), (D, converted[1])):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cli_converts(pt_file, tmp_path, capsys, training_script):
    main = training_script("convert_stylegan2").main
    args = [str(pt_file), "--size", str(SIZE), "--style-dim", str(STYLE_DIM), "--n-mlp", str(N_MLP),
            "--channel-multiplier", str(CM), "--channel-max", str(CMAX)]
    assert main(args + ["--out", str(tmp_path / "set")]) == 0
    assert "discriminator" in capsys.readouterr().out
    assert json.loads((tmp_path / "set" / "config.json").read_text())["config"]["resolution"] == SIZE
    assert (tmp_path / "set" / "discriminator" / "model.safetensors").is_file()
    assert main(args + ["--n-mlp", "8", "--out", str(tmp_path / "bad")]) == 2
    assert "error: 'g_ema' is not a" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main([str(tmp_path / "absent.pt"), "--size", "32", "--out", str(tmp_path / "bad")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err


def test_hub_file_is_converted_once_and_cached(state, hermetic, tmp_path, monkeypatch):
    class PtFile:                                   # lets build_hub_cache lay out a .pt instead of a weight set
        def save_pretrained(self, folder):
            folder.mkdir(parents=True)
            torch.save(state, folder / "tiny.pt")
            return folder

    build_hub_cache(hermetic, "someowner/tiny-stylegan2", PtFile())
    cache = tmp_path / "linkgan-cache"
    monkeypatch.setenv("LINKGAN_CACHE", str(cache))
    folder = from_rosinality_hub("someowner/tiny-stylegan2", "tiny.pt", **OPTIONS)
    assert folder.is_relative_to(cache) and COMMIT in folder.parts
    G = Generator.from_pretrained(folder)
    assert torch.equal(G.w_avg, state["latent_avg"])
    assert Discriminator.from_pretrained(folder / "discriminator").config.resolution == SIZE
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert from_rosinality_hub("someowner/tiny-stylegan2", "tiny.pt", **OPTIONS) == folder       # cached
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    # the generic loader knows no foreign format: conversion is linkgan.convert's, which hub.py does not import
    with pytest.raises(TypeError):
        Generator.from_pretrained("someowner/tiny-stylegan2", filename="tiny.pt", **OPTIONS)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".converting")]
    with pytest.raises(WeightsNotFoundError, match="no 'tiny-missing.pt' in Hugging Face Hub repo "
                                                   "'someowner/tiny-stylegan2': LocalEntryNotFoundError"):
        from_rosinality_hub("someowner/tiny-stylegan2", "tiny-missing.pt", **OPTIONS)


# --- clear errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (dict(size=16), "size=16 does not fit: the file has 3 upsampling blocks (to_rgbs.*), i.e. size=32"),
    (dict(style_dim=64), "style_dim=64 does not fit: style.1.weight has shape (32, 32), i.e. style_dim=32"),
    (dict(n_mlp=8), "n_mlp=8 does not fit: the file has 2 mapping layers (style.1 .. style.2)"),
    (dict(channel_max=32), "(channels per resolution {4: 32, 8: 32, 16: 32, 32: 32}): wrong shape (41): "
                           "input.input: file (1, 16, 4, 4) vs expected (1, 32, 4, 4)"),
    (dict(size=48), "power of two"),
])
def test_wrong_options_name_the_mismatch(state, overrides, message):
    with pytest.raises(ConversionError) as info:
        _convert(state, **overrides)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, WeightsFormatError)


def _edited(state, part, fn):
    sd = dict(state[part])
    fn(sd)
    return {**state, part: sd}


@pytest.mark.parametrize("part, edit, message", [
    ("g_ema", lambda sd: sd.pop("convs.3.conv.modulation.bias"), "missing (1): convs.3.conv.modulation.bias"),
    ("g_ema", lambda sd: sd.update({"convs.9.noise.weight": torch.zeros(1)}), "unexpected (1): convs.9.noise.weight"),
    ("g_ema", lambda sd: sd.update({"to_rgbs.1.bias": torch.zeros(3)}),
     "wrong shape (1): to_rgbs.1.bias: file (3,) vs expected (1, 3, 1, 1)"),
    ("g_ema", lambda sd: sd.update({"convs.2.conv.blur.kernel": torch.ones(4, 4)}),
     "blur kernel other than [1, 3, 3, 1] (1): convs.2.conv.blur.kernel"),
    ("g_ema", lambda sd: sd.pop("noises.noise_3"), "missing (1): noises.noise_3"),
    ("d", lambda sd: sd.pop("final_linear.1.bias"), "'d' is not a rosinality/stylegan2-pytorch network"),
    ("d", lambda sd: sd.update({"convs.1.conv1.0.weight": torch.zeros(16, 16, 1, 1)}),
     "convs.1.conv1.0.weight: file (16, 16, 1, 1) vs expected (16, 16, 3, 3)"),
])
def test_bad_tensors_are_named(state, part, edit, message):
    with pytest.raises(ConversionError) as info:
        _convert(_edited(state, part, edit))
    assert message in str(info.value)


def test_file_without_noise_buffers_keeps_seeded_noise(state):
    g_state = {k: v for k, v in state["g_ema"].items() if not k.startswith("noises.")}
    G, _ = _convert({"g_ema": g_state, "latent_avg": state["latent_avg"]})
    assert "no noise buffers" in G.metadata["converted_from"]["noise"]
    G2, _ = _convert({"g_ema": g_state, "latent_avg": state["latent_avg"]})
    assert torch.equal(G.synthesis.noise_5, G2.synthesis.noise_5)


@pytest.mark.parametrize("bad, message", [
    ([1, 2, 3], "is a dict, got a list"),
    ({"g": {}}, "expected a dict with 'g_ema'"),
    ({"g_ema": {}, "encoder": {}}, "'encoder'"),
    ({"input.input": torch.zeros(1)}, "bare generator state dict"),
    ({"g_ema": [1]}, "'g_ema' must be a state dict"),
])
def test_malformed_checkpoint_dicts(bad, message):
    with pytest.raises(ConversionError) as info:
        _convert(bad)
    assert message in str(info.value)


def test_training_checkpoint_with_args_and_optimiser_state_loads(state, tmp_path):
    import argparse
    full = {**state, "g": state["g_ema"], "g_optim": {"state": {}, "param_groups": []}, "ada_aug_p": 0.1,
            "iter": 5, "args": argparse.Namespace(size=SIZE, channel_multiplier=CM, path="lmdb")}
    torch.save(full, tmp_path / "train.pt")
    loaded = load_rosinality(tmp_path / "train.pt")
    assert vars(loaded["args"])["path"] == "lmdb" and not isinstance(loaded["args"], argparse.Namespace)
    G, D = _convert(loaded)
    assert D is not None


class RunsCode:
    """Unpickling this calls open(marker, "w"): the loader must refuse it without running anything."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_refused_without_running(state, tmp_path):
    proof = tmp_path / "plain-pickle-ran-it"
    pickle.loads(pickle.dumps(RunsCode(proof))).close()           # an ordinary unpickler does run it
    assert proof.exists()
    marker = tmp_path / "code-ran"
    torch.save({**state, "args": RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ConversionError, match="refused to load") as info:
        load_rosinality(tmp_path / "evil.pt")
    assert "nothing was executed" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_are_refused(pt_file, tmp_path, damage):
    data = pt_file.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint at all",
                     "empty": b""}[damage])
    with pytest.raises(ConversionError, match="damaged or not a PyTorch checkpoint"):
        load_rosinality(bad)


def test_non_dict_file_and_missing_file(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ConversionError, match="holds a Tensor"):
        load_rosinality(tmp_path / "tensor.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_rosinality(tmp_path / "absent.pt")
