"""3D training loop (linkgan/train3d.py) on tiny configs: it trains and resumes exactly, D reads cameras and raw images
with R1 on both, EG3D's density L1 and LinkGAN's regularizer reach G (every face seen from one camera in its original
and perturbed renders), its command line; the part segmenter trains on 3D heads."""
from __future__ import annotations

import json

import pytest
import torch

from linkgan.data import PART_LABELS
from linkgan.networks3d import CameraDiscriminatorConfig, TriplaneGeneratorConfig
from linkgan.train import replace_config
from linkgan.train3d import TrainConfig3D, Trainer3D, density_penalty

MOUTH = PART_LABELS.index("mouth")
LINK = {"name": "mouth", "axes": [0, 4], "parts": ["mouth"], "follow": True}


def tiny_cfg(out, steps, links=()) -> TrainConfig3D:
    """16 px heads and renders (an 8 px volume), lazy R1, density L1 and links every 2 steps."""
    g = TriplaneGeneratorConfig(resolution=16, neural_resolution=8, plane_resolution=16, plane_channels=4, z_dim=16,
                                w_dim=16, channel_base=256, channel_max=16, decoder_hidden=16, feature_channels=8,
                                n_coarse=6, n_importance=6, sr_channels=8)
    cfg = TrainConfig3D(generator=g, discriminator=CameraDiscriminatorConfig(resolution=16, channel_base=256,
                                                                             channel_max=16))
    return replace_config(cfg, {"optim.batch_size": "4", "optim.r1_every": "2", "optim.density_reg_every": "2",
                                "optim.density_points": "64", "link.every": "2", "link.links": json.dumps(list(links)),
                                "run.steps": str(steps), "run.ckpt_every": "2", "run.sample_every": "0",
                                "run.eval_every": "0", "run.workers": "0", "run.out": json.dumps(str(out))})


def bright_is_mouth(images: torch.Tensor) -> torch.Tensor:
    """A stand-in segmenter that follows the image: pixels redder than the image's mean are 'mouth'."""
    red = images[:, 0]
    return torch.where(red > red.mean((1, 2), keepdim=True), MOUTH, 0)


def trainer(cfg) -> Trainer3D:
    return Trainer3D(cfg, segmenter=bright_is_mouth, log=lambda s: None)


@pytest.mark.parametrize("links", [(), (LINK,)], ids=["plain", "linked"])
def test_resume_continues_identically(resumes_exactly, links):
    full = resumes_exactly(lambda out, steps: trainer(tiny_cfg(out, steps, links)), steps=4, stop=2)
    log = [json.loads(line) for line in (full.out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and "loss_D" in log[-1] and "loss_G" in log[-1]


def test_one_step_regularizes_d_on_both_inputs_and_g_with_the_density_l1(tmp_path):
    t = trainer(tiny_cfg(tmp_path / "r", 1))
    batch = t.dataset.__getitems__([0, 1, 2, 3])
    image, camera = torch.stack([b["image"] for b in batch]), torch.stack([b["camera"] for b in batch])
    stats = t.train_step(image, camera)                   # step 0: every lazy term runs
    assert stats["r1"] > 0 and stats["density_l1"] > 0
    reals = t.real_inputs(image, camera)
    assert [tuple(x.shape) for x in reals] == [(4, 3, 16, 16), (4, 25), (4, 3, 8, 8)]   # image, camera, raw image
    # R1 is the sum of the image's and the raw image's terms
    x, r = image.clone().requires_grad_(True), reals[2].clone().requires_grad_(True)
    gx, gr = torch.autograd.grad(t.D(x, camera, r).sum(), (x, r))
    expected = gx.square().sum((1, 2, 3)).mean() + gr.square().sum((1, 2, 3)).mean()
    assert torch.allclose(t.r1(reals), expected, rtol=1e-4) and gr.abs().sum() > 0


def test_density_l1_is_zero_without_perturbation_and_reaches_the_decoder(tmp_path):
    G = trainer(tiny_cfg(tmp_path / "d", 1)).G
    ws = G.map(torch.randn(2, 16))
    assert density_penalty(G, ws, points=32, p_dist=0.0) == 0
    loss = density_penalty(G, ws, points=32, p_dist=0.05)
    loss.backward()
    assert loss > 0 and G.decoder.fc1.weight.grad.abs().sum() > 0


def test_link_regularizer_reaches_g_with_one_camera_per_face(tmp_path):
    t = trainer(tiny_cfg(tmp_path / "l", 1, [LINK]))
    seen = []
    render = t.G.render
    t.G.render = lambda ws, camera, **kw: seen.append(camera) or render(ws, camera, **kw)
    stats = {}
    loss = t._link_loss(stats)
    loss.backward()
    assert {"mouth.L_in", "mouth.L_out"} <= set(stats)
    # CPU: one render per block of B = 4 faces (G(w), then linked and unlinked axes moved): the same 4 cameras
    assert len(seen) == 3 and all(torch.equal(c, seen[0]) for c in seen) and len(seen[0].unique(dim=0)) == 4
    for name in ("mapping", "synthesis", "decoder", "superresolution"):
        grad = sum(p.grad.abs().sum() for p in getattr(t.G, name).parameters() if p.grad is not None)
        assert grad > 0, f"no gradient in G.{name}"
    images, cameras, raws = t.extra_fakes                # D's next fakes: perturbed images with their views
    assert images.shape == (4, 3, 16, 16) and cameras.shape == (4, 25) and raws.shape == (4, 3, 8, 8)


@pytest.mark.parametrize("change, msg", [
    ({"link.links": json.dumps([{"name": "eyes", "axes": [0, 4], "box": [0.2, 0.3, 0.8, 0.6]}])}, "semantic regions"),
    ({"run.data": '"toyfaces"'}, "images with cameras"),
    ({"discriminator.resolution": "32"}, "discriminator.resolution"),
])
def test_bad_3d_configs_are_rejected(tmp_path, change, msg):
    with pytest.raises(ValueError, match=msg):
        Trainer3D(replace_config(tiny_cfg(tmp_path / "b", 1), change), log=lambda s: None)


def test_train_gan3d_command_line_trains_evaluates_and_resumes(tmp_path, training_script):
    main = training_script("train_gan3d").main
    out = tmp_path / "cli"
    seg = tmp_path / "seg"
    from linkgan.segmenter import Segmenter, SegmenterConfig
    Segmenter(SegmenterConfig(resolution=16, channels=(4, 8))).save_pretrained(seg)
    cfg = replace_config(tiny_cfg(out, 2, [LINK]), {"run.eval_every": "2", "run.eval_seeds": "2",
                                                    "run.eval_views": "2", "run.segmenter": json.dumps(str(seg))})
    overrides = [f"{s}.{k}={json.dumps(v)}" for s, fields in cfg.to_dict().items() for k, v in fields.items()]
    assert main(["--out", str(out), "--threads", "1", *overrides]) == 0
    assert main(["--out", str(out), "--threads", "1", "--resume", "run.steps=3"]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and state["config"]["generator"]["neural_resolution"] == 8
    evals = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if '"links"' in line]
    assert {"mse_in", "mse_out", "ratio", "depth_in", "depth_out", "depth_ratio"} <= set(evals[0]["links"]["mouth"])


def test_segmenter_trains_on_3d_heads(tmp_path):
    from linkgan.segmenter import Segmenter, SegmenterConfig, heldout_faces, train_segmenter

    images, masks = heldout_faces(3, size=16, data="heads3d")
    assert images.shape == (3, 3, 16, 16) and masks.shape == (3, 16, 16) and (masks == MOUTH).any()
    cfg = SegmenterConfig(resolution=16, channels=(4, 8))
    run = train_segmenter(out=tmp_path / "seg", steps=2, batch_size=2, log_every=1, device="cpu", config=cfg,
                          eval_faces=4, num_workers=0, command="pytest", data="heads3d", log=lambda msg: None)
    assert run.steps == 2 and 0.0 <= run.miou <= 1.0
    card = (tmp_path / "seg" / "README.md").read_text()
    assert "# heads3d16-segmenter" in card and "ToyHeadsDataset" in card
    assert Segmenter.from_pretrained(tmp_path / "seg").config == cfg
    with pytest.raises(ValueError, match="data must be one of"):
        train_segmenter(out=tmp_path / "bad", steps=1, data="faces3d")


def test_export_gan3d_writes_weights_samples_and_metrics_over_views(tmp_path, training_script):
    from linkgan.networks3d import TriplaneGenerator
    from linkgan.segmenter import Segmenter, SegmenterConfig

    seg = tmp_path / "seg"
    Segmenter(SegmenterConfig(resolution=16, channels=(4, 8))).save_pretrained(seg)
    cfg = replace_config(tiny_cfg(tmp_path / "run", 1), {"run.segmenter": json.dumps(str(seg))})
    trainer(cfg).train()                                  # a baseline: measured on the links given to the export
    export = training_script("export_gan3d").main
    assert export(["--run", str(tmp_path / "run"), "--name", "h3", "--out-dir", str(tmp_path / "out"),
                   "--command", "pytest", "--links", json.dumps([LINK]), "--eval-seeds", "2", "--views", "2",
                   "--fd-images", "4", "--weights-dtype", "float16"]) == 0
    folder = tmp_path / "out" / "h3"
    for name in ("config.json", "model.safetensors", "discriminator/config.json", "samples.png", "metrics.json",
                 "README.md"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"mse_in", "depth_ratio"} <= set(metrics["links"]["mouth"]) and metrics["render_ms_per_view"] > 0
    assert metrics["stages"][0]["steps"] == 1 and metrics["fd"] >= 0 and metrics["fd_images"] == 4
    card = (folder / "README.md").read_text()           # the card says what was measured, as metrics.json has it
    assert card.startswith("---\n") and "pipeline_tag: unconditional-image-generation" in card and "# h3" in card
    assert "```\npytest\n```" in card and "without links" in card
    mouth = metrics["links"]["mouth"]
    assert f"| mouth | {mouth['mse_in']:.2f} | {mouth['mse_out']:.2f} |" in card and f"**{metrics['fd']:.3f}**" in card
    G = TriplaneGenerator.from_pretrained(folder)
    assert G.config == cfg.generator and json.loads((folder / "config.json").read_text())["weights_dtype"] == "float16"
    from safetensors import safe_open
    with safe_open(folder / "model.safetensors", "pt") as f:        # parameters halved, buffers (w_avg) exact
        assert f.get_slice("mapping.layers.0.weight").get_dtype() == "F16" and f.get_slice("w_avg").get_dtype() == "F32"
    assert next(G.parameters()).dtype == torch.float32              # and they load back as float32
