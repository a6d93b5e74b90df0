"""GAN training loop: it learns (losses finite, G moves), checkpoints atomically and resumes exactly."""
import copy
import dataclasses
import json

import pytest
import torch

from linkgan.networks import DiscriminatorConfig, Generator, GeneratorConfig
from linkgan.train import PartDiscriminators, PartsConfig, TrainConfig, Trainer, replace_config


def tiny_cfg(out, steps):
    cfg = TrainConfig(
        generator=GeneratorConfig(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channel_base=128, channel_max=8),
        discriminator=DiscriminatorConfig(resolution=16, channel_base=128, channel_max=8))
    return replace_config(cfg, {"optim.batch_size": "4", "optim.r1_every": "2", "run.steps": str(steps),
                                "run.ckpt_every": "3", "run.sample_every": "0", "run.workers": "0",
                                "run.segmenter": '""', "run.out": f'"{out}"'})


EYES = {"name": "eyes", "axes": [0, 4], "box": [0.25, 0.33, 0.75, 0.58]}


def linked_cfg(out, steps, links=(EYES,)):
    cfg = tiny_cfg(out, steps)
    cfg.link.links, cfg.link.every = [dict(l) for l in links], 2
    return cfg


def fast_linked_cfg(out, steps):
    """The shipped recipe's link settings: resample perturbation, half batch, G's adversarial term on D's subset."""
    cfg = linked_cfg(out, steps)
    cfg.link.perturb, cfg.link.batch_shrink, cfg.link.adversarial_subset = "resample", 2, True
    cfg.optim.batch_size = 8                    # 4 perturbed images for D: one minibatch-stddev group
    return cfg


def variety_cfg(out, steps):
    """The recipe's settings with the variety term (its targets measured on 8 pairs of the run's data)."""
    cfg = fast_linked_cfg(out, steps)
    cfg.link.lambda_var, cfg.link.variety_pairs = 1.0, 8
    return cfg


EYE_CROP = {"name": "eyes", "box": [0.25, 0.25, 0.75, 0.5], "size": 16}


def parts_cfg(out, steps):
    """The recipe's link settings with a discriminator of the eye crop."""
    cfg = fast_linked_cfg(out, steps)
    cfg.parts = PartsConfig(crops=[EYE_CROP], channel_base=128, channel_max=8)
    return cfg


@pytest.mark.parametrize("make_cfg", [tiny_cfg, linked_cfg, fast_linked_cfg, variety_cfg, parts_cfg],
                         ids=["plain", "linked", "fast-linked", "variety", "parts"])
def test_resume_continues_identically(resumes_exactly, make_cfg):
    resumes_exactly(lambda out, steps: Trainer(make_cfg(out, steps), log=lambda s: None), steps=6, stop=3)


class _SignalAt(torch.utils.data.Dataset):
    """A dataset that sends this process SIGTERM while the batch of step `at` is drawn (as `timeout` would)."""

    def __init__(self, inner, at, batch):
        self.inner, self.at, self.batch, self.n = inner, at, batch, 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        self.n += 1
        if self.n == self.at * self.batch:
            import os
            import signal
            os.kill(os.getpid(), signal.SIGTERM)
        return self.inner[i]


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path):
    full = Trainer(tiny_cfg(tmp_path / "full", 6), log=lambda s: None)
    full.train()
    cfg = tiny_cfg(tmp_path / "part", 6)
    cfg.run.ckpt_every = 100                           # no periodic checkpoint: only the stop writes one
    part = Trainer(cfg, log=lambda s: None)
    part.dataset = _SignalAt(part.dataset, at=4, batch=4)
    part.train()              # the signal came while batch 4 was drawn: 3 steps done, then a clean return
    assert part.step == 3
    log = (tmp_path / "part" / "log.jsonl").read_text()
    assert '"stopped": true' in log and '"hardware"' in log
    resumed = Trainer(cfg, log=lambda s: None)
    resumed.load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert resumed.step == 3
    resumed.train()
    for k, v in full.G_ema.state_dict().items():
        assert torch.equal(v, resumed.G_ema.state_dict()[k]), f"G_ema.{k} differs after a SIGTERM stop and resume"


def test_checkpoint_write_is_atomic(tmp_path):
    t = Trainer(tiny_cfg(tmp_path / "r", 1), log=lambda s: None)
    path = t.save_checkpoint()
    assert path.is_file() and not (tmp_path / "r" / "checkpoint.pt.tmp").exists()


def test_linked_run_logs_both_terms(tmp_path):
    t = Trainer(linked_cfg(tmp_path / "r", 2), log=lambda s: None)
    stats = t.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert stats["eyes.L_in"] > 0 and stats["eyes.L_out"] > 0
    assert t.extra_fakes is not None and t.extra_fakes.shape == (4, 3, 16, 16)
    fast = Trainer(fast_linked_cfg(tmp_path / "f", 2), log=lambda s: None)
    stats = fast.train_step(torch.rand(8, 3, 16, 16) * 2 - 1)
    assert stats["eyes.L_in"] > 0 and stats["eyes.L_out"] > 0
    assert fast.extra_fakes.shape == (4, 3, 16, 16)                 # batch_shrink 2: four faces, one image each
    varied = Trainer(variety_cfg(tmp_path / "v", 2), log=lambda s: None)
    stats = varied.train_step(torch.rand(8, 3, 16, 16) * 2 - 1)
    assert 0 <= stats["eyes.L_var"] <= 1 and stats["eyes.edit_in"] > 0
    assert varied.variety_targets()["eyes"] > 0.01                  # two toy faces differ in the eye box
    with pytest.raises(ValueError, match="minibatch-stddev group"):
        Trainer(replace_config(fast_linked_cfg(tmp_path / "g", 2), {"link.batch_shrink": "4"}), log=lambda s: None)


@pytest.mark.parametrize("links, msg", [
    ([{"name": "a", "axes": [0, 40], "box": [0, 0, 0.5, 0.5]}], "out of range"),
    ([{"name": "a", "box": [0, 0, 0.5, 0.5]}], "needs name, axes"),
    ([{"name": "a", "axes": [0, 4], "box": [0, 0, 0.5, 0.5], "colour": 1}], "unknown link spec keys"),
    ([{"name": "hair", "axes": [0, 4], "label": 2}], "need a segmenter"),
    ([{"name": "hair", "axes": [0, 4], "parts": ["hair", "ears"]}], "unknown parts"),
])
def test_bad_link_configs_are_rejected(tmp_path, links, msg):
    with pytest.raises(ValueError, match=msg):
        Trainer(linked_cfg(tmp_path / "r", 1, links), log=lambda s: None)


def test_bad_override_is_rejected():
    with pytest.raises(ValueError, match="unknown config key"):
        replace_config(TrainConfig(), {"optim.nope": "1"})
    with pytest.raises(ValueError, match="link.perturb"):
        replace_config(TrainConfig(), {"link.perturb": "swap"})
    with pytest.raises(ValueError, match="generator.resolution"):
        replace_config(TrainConfig(), {"generator.resolution": "48"})


def test_semantic_link_loads_the_named_segmenter(tmp_path):
    cfg = linked_cfg(tmp_path / "r", 1, [{"name": "hair", "axes": [0, 4], "label": 2}])
    cfg.run.segmenter = "toyfaces64-segmenter"          # the shipped one, resolved from checkpoints/
    t = Trainer(cfg, log=lambda s: None)
    stats = t.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert "hair.L_in" in stats and "hair.L_out" in stats


def _weights_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_checkpoint_and_weight_set(tmp_path):
    base = Trainer(tiny_cfg(tmp_path / "base", 2), log=lambda s: None)
    base.train()
    # a run checkpoint: G, D and G_ema carry over, the optimiser and step start fresh, links may be added
    cfg = linked_cfg(tmp_path / "ft", 1)
    cfg.run.init = str(tmp_path / "base" / "checkpoint.pt")
    cfg.run.seed = 5
    ft = Trainer(cfg, log=lambda s: None)
    assert ft.step == 0
    for name in ("G", "D", "G_ema"):
        assert _weights_equal(getattr(ft, name).state_dict(), getattr(base, name).state_dict()), name
    # a weight set: the architecture comes from its config.json, whatever the run config says
    base.export(tmp_path / "weights")
    cfg = tiny_cfg(tmp_path / "ft2", 1)
    cfg.generator.channel_max = 16                     # overridden by the init weights' own config
    cfg.run.init = str(tmp_path / "weights")
    ft2 = Trainer(cfg, log=lambda s: None)
    assert ft2.cfg.generator == base.cfg.generator
    assert _weights_equal(ft2.G.state_dict(), base.G_ema.state_dict())
    half = {k: v.half().float() if v.is_floating_point() and k in dict(base.D.named_parameters()) else v
            for k, v in base.D.state_dict().items()}
    assert _weights_equal(ft2.D.state_dict(), half)                      # exported beside G (float16): discriminator/


def test_trains_on_a_folder_of_images(tmp_path):
    from PIL import Image
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 25), (200, 10, 10)).save(folder / "wide.jpg")
    Image.new("L", (17, 30), 128).save(folder / "sub" / "gray.png")
    Image.new("RGBA", (20, 20), (0, 0, 255, 100)).save(folder / "alpha.png")
    (folder / "notes.txt").write_text("not an image")
    cfg = tiny_cfg(tmp_path / "r", 2)
    cfg.run.data = str(folder)
    t = Trainer(cfg, log=lambda s: None)
    assert len(t.dataset) == 3 and t.dataset[0]["image"].shape == (3, 16, 16)
    t.train()
    assert t.step == 2
    cfg.run.data = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Trainer(cfg, log=lambda s: None)


def test_path_length_regulariser_reaches_g(tmp_path):
    cfg = replace_config(tiny_cfg(tmp_path / "r", 1), {"optim.pl_weight": "2", "optim.pl_every": "1"})
    t = Trainer(cfg, log=lambda s: None)
    stats = t.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert stats["pl"] > 0 and float(t.pl_mean) > 0


def _overrides(cfg: TrainConfig) -> list[str]:
    """cfg as train_gan.py command-line overrides (section.field=json)."""
    return [f"{section}.{k}={json.dumps(v)}" for section, fields in cfg.to_dict().items() for k, v in fields.items()]


def _torchrun(tmp_path, *args, steps: int | None = None):
    """train_gan.py in two processes on <tmp_path>/ddp; with `steps`, the tiny linked config, else the run's own."""
    import os, subprocess, sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "ddp"
    tiny = _overrides(replace_config(linked_cfg(out, steps), {"run.ckpt_every": "2"})) if steps else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", str(root / "training" / "train_gan.py"),
                           "--out", str(out), "--threads", "1", *args, *tiny],
                          capture_output=True, text=True, env=env, timeout=300)


def test_a_fine_tuning_run_resumes_after_its_init_weights_are_gone(tmp_path, training_script):
    import shutil
    base_cfg = tiny_cfg(tmp_path / "base", 1)
    base_cfg.generator.channel_max = 16
    base = Trainer(base_cfg, log=lambda s: None)
    base.export(tmp_path / "weights")
    main = training_script("train_gan").main
    out = tmp_path / "ft"
    cfg = tiny_cfg(out, 2)
    assert main(["--out", str(out), "--init", str(tmp_path / "weights"), *_overrides(cfg)]) == 0
    shutil.rmtree(tmp_path / "weights")                # the checkpoint holds every weight; the saved config the shape
    assert main(["--out", str(out), "--resume", "run.steps=3"]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and state["config"]["generator"]["channel_max"] == 16


def test_train_gan_leaves_the_process_group_when_done(tmp_path, monkeypatch, training_script):
    # a rank exiting with its gloo group alive can abort in teardown ("terminate called without an active
    # exception"); main joins the group through init_distributed, so here that makes a one-process group
    import torch.distributed as dist
    script = training_script("train_gan")

    def one_process_group():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        return "cpu"
    monkeypatch.setattr(script, "init_distributed", one_process_group)
    try:
        assert script.main(["--out", str(tmp_path / "run"), *_overrides(tiny_cfg(tmp_path, 1))]) == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_process_gloo_ddp_run_trains_and_resumes(tmp_path):
    r = _torchrun(tmp_path, steps=3)
    assert r.returncode == 0, r.stderr[-3000:]
    state = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and len(state["rng"]) == 2          # both processes' RNG, for exact resume
    assert not torch.equal(state["rng"][0], state["rng"][1])       # each process draws its own z
    # the resume command names only the run: its saved config (the tiny one) is the base, run.steps goes on top
    r = _torchrun(tmp_path, "--resume", "run.steps=4")   # weights checked in sync at each save
    assert r.returncode == 0, r.stderr[-3000:]
    assert torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)["step"] == 4


def test_export_counts_the_stages_of_an_earlier_weight_set(tmp_path, training_script):
    """export_gan --earlier takes run folders (one stage each, from the log) and exported weight sets (all their
    stages, from metrics.json), so a model continued from a shipped one keeps its whole lineage on the card."""
    export = training_script("export_gan")
    run = tmp_path / "lX"
    Trainer(linked_cfg(run, 2), log=lambda s: None).train()
    (shipped := tmp_path / "shipped").mkdir()
    old = [{"run": "a", "steps": 5, "wall_min": 1.0, "hardware": ["gpu"], "batch_size": 4, "init": ""},
           {"run": "b", "steps": 7, "wall_min": 2.0, "hardware": ["gpu"], "batch_size": 4, "init": "a"}]
    (shipped / "metrics.json").write_text(json.dumps({"stages": old}))
    stages = [st for folder in (shipped, run) for st in export.stage_records(folder)]
    assert [st["run"] for st in stages] == ["a", "b", "lX"] and stages[2]["steps"] == 2
    assert stages[2]["lambda_out"] == 100.0 and stages[2]["batch_size"] == 4
    (shipped / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="lists no training stages"):
        export.stage_records(shipped)
    with pytest.raises(FileNotFoundError, match="every stage needs its run log"):
        export.stage_records(tmp_path / "nothing")


def test_an_export_in_float16_halves_the_weights_and_draws_the_same_faces(tmp_path):
    t = Trainer(linked_cfg(tmp_path / "r", 1), log=lambda s: None)
    t.train()
    t.export(tmp_path / "f32")
    t.export(tmp_path / "f16", dtype=torch.float16)
    from safetensors import safe_open
    with safe_open(tmp_path / "f16" / "model.safetensors", "pt") as f:
        params = {k for k, _ in t.G_ema.named_parameters()}     # buffers (w_avg, const noise) stay exact
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16", "F32"}
        assert all((f.get_slice(k).get_dtype() == "F16") == (k in params) for k in f.keys())
    G = Generator.from_pretrained(tmp_path / "f16")
    assert next(G.parameters()).dtype == torch.float32 and torch.equal(G.w_avg, t.G_ema.w_avg)
    z = torch.randn(4, G.config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = (g.synthesize(g.map(z), noise_mode="const") for g in (t.G_ema, G))
    assert 0 < (a - b).abs().max() < 0.02                          # rounded, not retrained


def test_fine_tuning_from_a_run_keeps_its_part_discriminators_when_the_crops_match(tmp_path):
    first = Trainer(parts_cfg(tmp_path / "a", 1), log=lambda s: None)
    first.train()
    ckpt = str(tmp_path / "a" / "checkpoint.pt")

    def fine_tune(name, **parts):
        cfg = parts_cfg(tmp_path / name, 1)
        cfg.run.init, cfg.parts = ckpt, dataclasses.replace(cfg.parts, **parts)
        return Trainer(cfg, log=lambda s: None).P.state_dict()
    kept = fine_tune("b", weight=3.0)                       # a new weight in G's loss: the same discriminators
    assert all(torch.equal(v, first.P.state_dict()[k]) for k, v in kept.items())
    fresh = fine_tune("c", crops=[{**EYE_CROP, "box": [0.2, 0.25, 0.8, 0.5]}])   # another crop: started afresh
    assert not all(torch.equal(v, first.P.state_dict()[k]) for k, v in fresh.items())


def test_the_link_weight_ramps_up_from_zero(tmp_path):
    """link.ramp_kimg: at the run's first step the regularizer adds nothing to G's loss; once ramped, all of it."""
    cfg = linked_cfg(tmp_path / "r", 2)
    cfg.link.adversarial, cfg.link.ramp_kimg = False, 0.004          # 4 images: full weight from step 1 (batch 4)
    t = Trainer(cfg, log=lambda s: None)
    assert t._link_loss({}) == 0
    t.step = 1
    assert t._link_loss({}) > 0


def test_without_ramp_variety_only_the_papers_terms_ramp(tmp_path):
    """link.ramp_variety=False: at the run's first step the variety term pulls at full weight while lambda_in and
    lambda_out are still 0 (the default ramps all three: nothing at all)."""
    cfg = variety_cfg(tmp_path / "r", 2)
    cfg.link.adversarial, cfg.link.ramp_kimg, cfg.link.ramp_variety = False, 0.004, False
    t = Trainer(cfg, log=lambda s: None)
    stats = {}
    loss = t._link_loss(stats)
    assert stats["eyes.L_in"] > 0 and stats["eyes.L_var"] > 0           # the terms are there, unweighted
    want = cfg.link.every * cfg.link.lambda_var * stats["eyes.L_var"]
    assert float(loss) == pytest.approx(want, rel=1e-5)               # only the variety term counts
    cfg.link.ramp_variety = True
    assert float(Trainer(cfg, log=lambda s: None)._link_loss({})) == 0


def test_eval_run_measures_a_run_where_it_stands(tmp_path, training_script):
    """training/eval_run.py: the card's measures (link metrics, region control, FD, coverage) and sheets of a run's
    EMA or raw generator, on validation faces, written beside the checkpoint; the two generators differ."""
    run = tmp_path / "lX"
    Trainer(linked_cfg(run, 2, links=({**EYES, "attributes": ["eyes"]},)), log=lambda s: None).train()
    script = training_script("eval_run")
    outs = {}
    for raw in (False, True):
        assert script.main(["--run", str(run), "--eval-seeds", "4", "--fd-images", "8"] + ["--raw"] * raw) == 0
        outs[raw] = json.loads((run / f"eval_0000002_{'raw' if raw else 'ema'}.json").read_text())
        assert (run / f"eval_0000002_{'raw' if raw else 'ema'}_resample.png").is_file()
    for out in outs.values():
        assert out["step"] == 2 and set(out["links"]) == {"eyes"} and out["fd"] > 0
        assert set(out["control"]["eyes"]["linked"]) == {"eyes"} and out["coverage"]["mean_tv"] is not None
    assert outs[True]["links"]["eyes"]["mse_in"] != outs[False]["links"]["eyes"]["mse_in"]


def test_a_part_discriminator_reads_its_crop_and_trains_with_g(tmp_path):
    P = PartDiscriminators(PartsConfig(crops=[EYE_CROP], channel_base=128, channel_max=8))
    img = torch.zeros(2, 3, 16, 16)
    img[:, :, 4:8, 4:12] = 1.0                   # exactly the box's pixels at 16 px
    assert P.crop(img, "eyes").shape == (2, 3, 16, 16) and bool((P.crop(img, "eyes") == 1).all())
    t = Trainer(parts_cfg(tmp_path / "p", 1), log=lambda s: None)
    before = {k: v.clone() for k, v in t.P.state_dict().items()}
    G0 = {k: v.clone() for k, v in t.G.state_dict().items()}
    stats = t.train_step(torch.rand(8, 3, 16, 16) * 2 - 1)
    assert stats["loss_P"] > 0 and any(not torch.equal(v, before[k]) for k, v in t.P.state_dict().items())
    # G's adversarial loss carries the part term: its gradient through the crop reaches G
    t.G.zero_grad()
    t.cfg.parts.weight = 1.0
    ws = t.G.broadcast(t.G.map(torch.randn(4, 16)))
    t.P.g_loss(t.G.synthesize(ws)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in t.G.synthesis.parameters())
    assert any(not torch.equal(v, G0[k]) for k, v in t.G.state_dict().items())


@pytest.mark.parametrize("crops, msg", [
    ([{"name": "eyes", "box": [0.5, 0.2, 0.4, 0.6]}], "0 <= x0 < x1"),
    ([{"name": "eyes", "box": [0.1, 0.2, 0.4, 0.6], "size": 24}], "power of two"),
    ([{"name": "eyes", "box": [0.1, 0.2, 0.4, 0.6]}, {"name": "eyes", "box": [0, 0, 1, 1]}], "unique"),
    ([{"box": [0.1, 0.2, 0.4, 0.6]}], "needs name"),
    ([{"name": "eyes", "box": [0.1, 0.2, 0.4, 0.6], "colour": 1}], "unknown keys")])
def test_bad_part_crops_are_rejected(crops, msg):
    with pytest.raises(ValueError, match=msg):
        replace_config(TrainConfig(), {"parts.crops": json.dumps(crops)})


@pytest.mark.parametrize("reuse", [True, False])
def test_g_step_reads_the_fakes_d_was_shown_when_reusing(tmp_path, reuse):
    """optim.reuse_fakes: one synthesis per step, and G's adversarial loss reads exactly the images D's step read
    (G has not changed in between); off, each step renders fresh fakes for G."""
    cfg = tiny_cfg(tmp_path / "r", 1)
    cfg.optim.reuse_fakes, cfg.optim.r1_every = reuse, 0      # D reads fakes, reals, then G's fakes: nothing else
    t = Trainer(cfg, log=lambda s: None)
    renders, seen = [], []
    synthesize = t.G.synthesize
    t.G.synthesize = lambda *a, **k: renders.append(1) or synthesize(*a, **k)
    t.D.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach().clone()))
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    t.train_step(real)
    d_fake, d_real, g_fake = seen                      # D's step: fakes, reals; then G's step
    assert torch.equal(d_real, real)
    assert len(renders) == (1 if reuse else 2)
    assert torch.equal(g_fake, d_fake) == reuse


def test_holding_freed_memory_stops_the_page_faults_of_fresh_activations():
    """Without it, glibc hands the memory of freed multi-MB tensors back to the system and every new one faults
    its pages in again; with it, repeated activations reuse the same memory."""
    import os
    import subprocess
    import sys
    code = """
import ctypes, resource, sys, torch
from linkgan.train import hold_freed_memory
if sys.argv[1] == "hold":
    held = hold_freed_memory()
else:                            # glibc's documented defaults, fixed: its dynamic threshold makes runs differ
    libc = ctypes.CDLL("libc.so.6")
    held = libc.mallopt(-3, 128 * 1024) == 1 and libc.mallopt(-1, 128 * 1024) == 1
x = torch.randn(16, 32, 64, 64)
def step():                      # a layer's worth of activations alive at once, then freed
    ys = [torch.nn.functional.leaky_relu(x * k, 0.2) for k in range(6)]
    del ys
for _ in range(20):              # the heap reaches its peak
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(held, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""
    out = {mode: subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.split()
           for mode in ("default", "hold")}
    one_tensor = 16 * 32 * 64 * 64 * 4 // 4096          # pages of one activation
    assert out["hold"][0] == "True" and out["default"][0] == "True"
    assert int(out["hold"][1]) < 5 * one_tensor                       # at most a late growth of the heap
    assert int(out["default"][1]) > 50 * one_tensor                   # most of the 120 activations fault in


def test_a_run_fine_tunes_from_an_aligned_copy_and_resumes_it(tmp_path, training_script):
    """training/align_links.py writes a copy of a weight set whose W is aligned with the links (the same images, the
    discriminator beside it); a run started from it keeps the basis through its checkpoint and its export."""
    t = Trainer(linked_cfg(tmp_path / "r", 1), log=lambda s: None)
    t.train()
    t.export(tmp_path / "src", discriminator=True)
    src = Generator.from_pretrained(tmp_path / "src")
    assert not src.config.w_basis
    script = training_script("align_links")
    assert script.main(["--generator", str(tmp_path / "src"), "--links", json.dumps([EYES]), "--out",
                        str(tmp_path / "al"), "--faces", "8", "--threads", "1"]) == 0
    al = Generator.from_pretrained(tmp_path / "al")
    z = torch.randn(2, src.config.z_dim)
    assert al.config.w_basis and al.metadata["links"] == [EYES]
    assert not torch.allclose(al.map(z), src.map(z), atol=1e-3)
    assert torch.allclose(al(z, noise_mode="const"), src(z, noise_mode="const"), atol=1e-4)
    assert (tmp_path / "al" / "discriminator" / "config.json").is_file()
    assert script.main(["--generator", str(tmp_path / "src"), "--links", json.dumps([EYES]), "--out",
                        str(tmp_path / "al2"), "--faces", "8", "--threads", "1"]) == 0
    assert torch.equal(Generator.from_pretrained(tmp_path / "al2").mapping.basis, al.mapping.basis)  # reproducible
    cfg = linked_cfg(tmp_path / "ft", 2)
    cfg.run.init = str(tmp_path / "al")
    ft = Trainer(cfg, log=lambda s: None)
    assert torch.equal(ft.G.mapping.basis, al.mapping.basis)
    ft.train()
    again = Trainer(ft.cfg, log=lambda s: None, load_init=False)       # as --resume builds it: the run's config
    again.load_checkpoint(tmp_path / "ft" / "checkpoint.pt")
    assert again.G.config.w_basis and torch.equal(again.G.mapping.basis, al.mapping.basis)
    for bad in ("[{", str(tmp_path / "none.json")):              # broken JSON, a file that is not there
        with pytest.raises(SystemExit):
            script.main(["--generator", str(tmp_path / "src"), "--links", bad, "--out", str(tmp_path / "x")])


def test_the_mapping_network_has_a_learning_rate_of_its_own(tmp_path):
    """optim.mapping_lr_mul scales the mapping network's steps only: at 0 the mapping keeps its weights while the
    synthesis network trains; a negative value is refused."""
    moved = {}
    for mul in (0.0, 1.0):
        cfg = tiny_cfg(tmp_path / f"m{mul}", 2)
        cfg.optim.mapping_lr_mul = mul
        t = Trainer(cfg, log=lambda s: None)
        before = copy.deepcopy(t.G.state_dict())
        t.train()
        after = t.G.state_dict()
        moved[mul] = {part: any(not torch.equal(before[k], after[k]) for k in before if k.startswith(part))
                      for part in ("mapping.", "synthesis.")}
    assert moved[0.0] == {"mapping.": False, "synthesis.": True}
    assert moved[1.0] == {"mapping.": True, "synthesis.": True}
    with pytest.raises(ValueError, match="mapping_lr_mul"):
        replace_config(tiny_cfg(tmp_path / "x", 1), {"optim.mapping_lr_mul": "-1"})


def test_a_checkpoint_of_the_trainer_before_mapping_lr_mul_still_resumes(tmp_path):
    """A run's checkpoint holds G's optimiser as one parameter group; with the default mapping_lr_mul (1) the trainer
    keeps it that way, so runs started before the setting existed resume."""
    t = Trainer(tiny_cfg(tmp_path / "r", 1), log=lambda s: None)
    t.train()
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert len(state["opt_G"]["param_groups"]) == 1
    del state["config"]["optim"]["mapping_lr_mul"]            # as an older trainer wrote it
    torch.save(state, tmp_path / "r" / "checkpoint.pt")
    again = Trainer(tiny_cfg(tmp_path / "r", 2), log=lambda s: None)
    again.load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert again.step == 1
