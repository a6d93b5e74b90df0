"""Inversion (linkgan/inversion.py, linkgan/encoder.py, linkgan/encoder_train.py) on a tiny random generator:
the projector reduces its loss on G's own sample, W / W+ shapes, cancellation and early stop, the encoder's
near-W contract, its losses and training loop (resumable), hybrid, and .npz codes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from linkgan.encoder import Encoder, EncoderConfig, LatentDiscriminator, LossWeights, encoder_losses
from linkgan.encoder_train import EncoderOptimConfig, EncoderRunConfig, EncoderTrainConfig, train_encoder, unlocked_at
from linkgan.inversion import invert, load_code, noise_regularizer, project, save_code
from linkgan.networks import Generator, GeneratorConfig

TINY = GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(0)
    g = Generator(TINY).eval().requires_grad_(False)
    with torch.no_grad():
        for m in g.modules():                       # noise strengths are zero at init: make noise matter
            if hasattr(m, "weight") and type(m).__name__ == "NoiseInjection":
                m.weight.fill_(0.1)
    return g


def _target(G, seed=1, n=1):
    with torch.no_grad():
        w = G.map(torch.randn(n, TINY.z_dim, generator=torch.Generator().manual_seed(seed)))
        return G.synthesize(w, noise_mode="const"), w


def test_projection_reduces_the_loss_in_w_and_w_plus(G):
    x, _ = _target(G, n=2)
    seen = []
    res = project(G, x, steps=30, lr=0.1, callback=lambda s, l, img: seen.append((s, l, img)), image_every=10)
    assert res.ws.shape == (2, G.num_ws, TINY.w_dim) and res.space == "w" and res.steps == 30
    assert torch.equal(res.ws[:, 0], res.ws[:, -1])                         # W: every row the same
    assert len(res.noise) == len(G.synthesis.noise_sizes) and res.noise[-1].shape == (2, 1, 16, 16)
    first, last = res.losses[0]["mse"], res.losses[-1]["mse"]
    assert last < 0.5 * first, (first, last)
    assert [s for s, _, img in seen if img is not None] == [10, 20, 30] and seen[-1][2].shape == x.shape
    for n in res.noise:                                                     # renormalised noise maps
        assert abs(float(n.mean())) < 1e-4 and abs(float(n.square().mean()) - 1) < 1e-3
    plus = project(G, x, space="w+", steps=12, noise_reg_weight=1e5)
    assert plus.ws.shape == (2, G.num_ws, TINY.w_dim) and not torch.equal(plus.ws[:, 0], plus.ws[:, -1])
    assert plus.losses[-1]["loss"] < plus.losses[0]["loss"]
    spread = lambda ws: float((ws - ws.mean(1, keepdim=True)).square().sum(2).mean())   # noqa: E731
    kept = project(G, x, space="w+", steps=12, noise_reg_weight=1e5, spread_weight=10.0)   # rows held near W
    assert 0 < spread(kept.ws) < 0.5 * spread(plus.ws), (spread(kept.ws), spread(plus.ws))


def test_projection_uses_a_perceptual_term_when_given(G):
    x, _ = _target(G)
    calls = []

    def fake_lpips(a, b):
        calls.append(a.shape)
        return (a - b).abs().mean(dim=(1, 2, 3))

    res = project(G, x, steps=3, lpips=fake_lpips, lpips_weight=2.0)
    assert len(calls) == 3 and res.losses[0]["lpips"] > 0
    rec = res.losses[0]
    assert rec["loss"] == pytest.approx(2.0 * rec["lpips"] + rec["mse"] + 1e5 * rec["noise_reg"], rel=1e-5)


def test_cancellation_and_early_stop(G):
    x, _ = _target(G)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    res = project(G, x, steps=50, should_stop=stop)
    assert res.steps == 3 and res.stopped == "cancelled" and res.ws.shape[0] == 1
    res = project(G, x, steps=50, lr=0.0, noise_factor=0.0, optimize_noise=False, patience=4)
    assert res.stopped == "early" and res.steps == 5                       # nothing moves: a plateau at once
    with pytest.raises(ValueError, match="space"):
        project(G, x, space="s", steps=1)
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        project(G, x[:, :, :8], steps=1)


def test_projector_settings_are_grouped_and_changed_by_name(G):
    from linkgan.inversion import HYBRID, ProjectConfig

    cfg = ProjectConfig().replace(steps=7, spread_weight=0.5)
    assert (cfg.optim.steps, cfg.loss.spread_weight) == (7, 0.5) and ProjectConfig().optim.steps == 1000
    assert (HYBRID.optim.space, HYBRID.optim.steps, HYBRID.optim.noise_factor) == ("w+", 250, 0.0)
    with pytest.raises(TypeError, match="ProjectConfig has no setting 'step'; its settings: .*lpips_weight"):
        ProjectConfig().replace(step=3)
    with pytest.raises(TypeError, match="no setting 'nosie_factor'"):
        project(G, _target(G)[0], steps=1, nosie_factor=0.0)              # a misspelt setting is not ignored


def test_noise_regularizer_penalises_structure():
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(2, 1, 16, 16, generator=g)]
    smooth = [torch.ones(2, 1, 16, 16)]
    assert noise_regularizer(white).shape == (2,)
    assert float(noise_regularizer(smooth).min()) > 100 * float(noise_regularizer(white).max())


def test_encoder_shape_and_near_w_contract(G):
    cfg = EncoderConfig.for_generator(G, channel_base=256, channel_max=16)
    torch.manual_seed(0)
    E = Encoder(cfg).set_w_avg(torch.full((TINY.w_dim,), 0.5))
    x, _ = _target(G, n=3)
    ws = E(x)
    assert ws.shape == (3, G.num_ws, TINY.w_dim)
    assert torch.allclose(ws, ws[:, :1].expand_as(ws))                       # n_unlocked = 0: pure W
    w0, _ = E.encode(x)
    assert torch.allclose(ws[:, 0], 0.5 + w0)                                 # w_avg is added
    E.set_unlocked(2)
    ws2 = E(x)
    assert torch.equal(ws2[:, 0], ws[:, 0]) and not torch.allclose(ws2[:, 1], ws2[:, 0])
    assert torch.allclose(ws2[:, 3:], ws2[:, :1].expand_as(ws2[:, 3:]))     # rows past the unlocked ones = w0
    E.set_unlocked(99)
    assert int(E.n_unlocked) == G.num_ws - 1
    with pytest.raises(ValueError, match="images must have shape"):
        E(torch.zeros(1, 3, 8, 8))
    assert [unlocked_at(s, 6, 10, 5) for s in (0, 9, 10, 14, 15, 100)] == [0, 0, 1, 1, 2, 5]


def test_encoder_losses_and_offset_penalty_decreases(G):
    cfg = EncoderConfig.for_generator(G, channel_base=256, channel_max=16, delta_init=1.0)
    torch.manual_seed(0)
    E = Encoder(cfg).set_w_avg(G.w_avg)
    E.set_unlocked(G.num_ws - 1)
    D = LatentDiscriminator(TINY.w_dim, hidden=32)
    x, w = _target(G, n=4)
    weights = LossWeights(l2=0.0, lpips=0.0, delta=1.0, latent_d=0.1, w_l2=0.0)   # the penalty alone (+ D)
    opt = torch.optim.Adam(E.parameters(), lr=1e-2)
    deltas = []
    for _ in range(15):
        total, terms = encoder_losses(E, G, x, ws_true=G.broadcast(w[:2]), latent_d=D, weights=weights)
        assert {"l2", "delta", "latent_d"} <= set(terms) and total.ndim == 0
        deltas.append(terms["delta"])
        opt.zero_grad()
        total.backward()
        opt.step()
    assert deltas[-1] < 0.5 * deltas[0], deltas
    _, terms = encoder_losses(E, G, x, ws_true=G.broadcast(w[:2]), lpips=lambda a, b: (a - b).abs().mean((1, 2, 3)))
    assert {"l2", "lpips", "delta", "w_l2"} <= set(terms)


def test_train_encoder_script_resumes_with_the_runs_own_config(G, tmp_path, capsys):
    """`--resume` continues the run as it was configured: its overrides are not lost (nor silently changed) when
    the resume command only names the run folder."""
    import json
    from training.train_encoder import main

    G.save_pretrained(tmp_path / "g")
    run = tmp_path / "run"
    first = ["--generator", str(tmp_path / "g"), "--out", str(run), "model.channel_base=256", "model.channel_max=16",
             "optim.batch_size=2", 'optim.lpips=""', "run.steps=2", "run.ckpt_every=1"]
    assert main(first) == 0
    assert main(["--out", str(run), "--resume", "run.steps=3", "--half"]) == 0
    from safetensors.torch import load_file
    stored = load_file(str(run / "encoder" / "model.safetensors"))
    assert stored["to_w0.weight"].dtype == torch.float16 and torch.equal(stored["w_avg"], G.w_avg)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["optim"]["batch_size"] == 2 and cfg["optim"]["lpips"] == "" and cfg["run"]["steps"] == 3
    assert cfg["run"]["generator"] == str(tmp_path / "g")
    assert "resumed at step 2" in (run / "log.txt").read_text()
    assert main(["--out", str(run), "--resume", "optim.batch_size=4"]) == 2
    assert "another config (sections ['optim'])" in capsys.readouterr().err


def test_train_encoder_resumes_and_hybrid_runs(G, tmp_path):
    cfg = EncoderTrainConfig(
        model=EncoderConfig(channel_base=256, channel_max=16),
        optim=EncoderOptimConfig(batch_size=4, lr=1e-3, progressive_start=2, progressive_every=1, lpips=""),
        run=EncoderRunConfig(out=str(tmp_path / "run"), steps=3, log_every=1, ckpt_every=2, generator="tiny"))
    lines = []
    folder = train_encoder(G, cfg, echo=lines.append)
    E = Encoder.from_pretrained(folder)
    assert E.config.num_ws == G.num_ws and int(E.n_unlocked) == 1       # the stage of step index 2
    assert torch.equal(E.w_avg, G.w_avg) and E.metadata["generator"] == "tiny"
    assert any("step      3/3" in line for line in lines) and (tmp_path / "run" / "checkpoint.pt").is_file()
    longer = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, steps=4))
    train_encoder(G, longer, resume=True, echo=lines.append)
    assert "resumed at step 3" in lines
    E = Encoder.from_pretrained(folder)
    assert E.metadata["training"]["step"] == 4 and int(E.n_unlocked) == 2

    x, _ = _target(G, n=1)
    enc = invert(G, x, method="encoder", encoder=E)
    assert enc.steps == 0 and enc.ws.shape == (1, G.num_ws, TINY.w_dim) and enc.images.shape == x.shape
    hyb = invert(G, x, method="hybrid", encoder=E, steps=4, lpips=None)
    assert hyb.method == "hybrid" and hyb.steps == 4 and hyb.space == "w+"         # refines the encoder's W+ code
    assert invert(G, x, method="hybrid", encoder=E, steps=2, lpips=None, space="w").space == "w"
    assert invert(G, x, method="optimize", steps=2, lpips=None).space == "w"
    big = torch.nn.functional.interpolate(x, size=(40, 40))                 # any size is resized to G's
    assert invert(G, big, method="optimize", steps=2, lpips=None).ws.shape == (1, G.num_ws, TINY.w_dim)
    with pytest.raises(ValueError, match="needs an encoder"):
        invert(G, x, method="hybrid")
    save_code(tmp_path / "code.npz", hyb, model="tiny")
    code = load_code(tmp_path / "code.npz", G)
    assert torch.equal(code["ws"], hyb.ws.float()) and code["s_offset"] is None
    assert code["meta"]["generator"] == "tiny" and code["meta"]["source"]["method"] == "hybrid"
    with pytest.raises(ValueError, match="not a latent file"):
        (tmp_path / "bad.npz").write_bytes(b"junk")
        load_code(tmp_path / "bad.npz", G)
    # the older layout of `linkgan invert` files still loads: its first code, its method as the source
    np.savez(tmp_path / "old.npz", ws=hyb.ws.numpy(), noise_0=np.zeros((1, 1, 4, 4), np.float32),
             method=np.array("hybrid"), space=np.array("w+"), model=np.array("tiny"), steps=np.array(3),
             loss=np.array(0.1))
    old = load_code(tmp_path / "old.npz", G)
    assert torch.equal(old["ws"], hyb.ws.float()) and old["meta"]["source"] == {"kind": "photo", "method": "hybrid",
                                                                                "space": "w+"}


def test_psnr_and_ssim():
    from linkgan.image_metrics import psnr, ssim

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    noisy = (x + 0.6 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert torch.allclose(ssim(x, x), torch.ones(2)) and torch.isinf(psnr(x, x)).all()
    assert (ssim(x, noisy) < 0.8).all() and (ssim(x, noisy) > ssim(x, -x)).all()
    half = torch.zeros(1, 3, 4, 4)                                         # error 0.5 on [0, 1] scale: 6.02 dB
    assert float(psnr(half, torch.ones(1, 3, 4, 4))) == pytest.approx(6.0206, abs=1e-3)


def test_benchmark_section_on_tiny_models(G, monkeypatch):
    import benchmarks
    from benchmarks import inversion as bench
    from linkgan.hub import WeightsNotFoundError

    assert benchmarks.SECTIONS["inversion"] is bench.run
    monkeypatch.setattr(bench._weights, "generator", lambda name: (_ for _ in ()).throw(WeightsNotFoundError("x")))
    with pytest.raises(WeightsNotFoundError, match="not trained yet: toyfaces64-linked"):
        bench.run(quick=True)
    g = Generator(TINY)
    g.load_state_dict(G.state_dict())
    g.metadata = {"links": [{"name": "eyes", "axes": [0, 8], "box": [0.25, 0.33, 0.75, 0.58]}]}
    E = Encoder(EncoderConfig.for_generator(g, channel_base=256, channel_max=16)).set_w_avg(g.w_avg)
    monkeypatch.setattr(bench, "_load_models", lambda: (g, E))

    class FakeLPIPS(torch.nn.Module):
        backbone_name = "fake"

        def forward(self, a, b):
            return (a - b).abs().mean(dim=(1, 2, 3))

    monkeypatch.setattr("linkgan.perceptual.load_lpips", lambda net: FakeLPIPS())
    judged = []                         # the StyleCLIP judges (toy CLIP, oracle, directions) are the 64 px zoo's
    monkeypatch.setattr("benchmarks.styleclip.global_success",
                        lambda G_, name, ws: judged.append(ws.shape) or {"success": 1.0, "preservation": 1.0})
    out = bench.run(quick=True)
    assert judged == [(8, g.num_ws, TINY.w_dim)] * 2                       # inverted W+ codes, then sampled ones
    assert set(out["editability"]["styleclip"]) == {"inverted", "sampled", "note"}
    assert out["faces"] == 8 and out["lpips_backbone"] == "fake"
    for method in ("encoder", "optimize", "optimize_wplus", "hybrid"):
        assert {"psnr", "ssim", "lpips", "lpips_backbone", "ms_per_image", "steps"} <= set(out[method])
    assert out["optimize"]["steps"] == 100 and out["encoder"]["steps"] == 0 and out["hybrid"]["steps"] == 25
    assert [out[m]["space"] for m in ("optimize", "optimize_wplus", "hybrid")] == ["w", "w+", "w+"]
    assert out["hybrid_gap_db"]["optimize"] == pytest.approx(out["optimize"]["psnr"] - out["hybrid"]["psnr"], abs=2e-3)
    assert out["editability"]["ratio_inverted"] > 0 and out["editability"]["ratio_sampled"] > 0
