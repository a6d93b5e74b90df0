"""GAN training loop: it learns (losses finite, G moves), checkpoints atomically and resumes exactly."""
import pytest
import torch

from linkgan.networks import DiscriminatorConfig, GeneratorConfig
from linkgan.train import TrainConfig, Trainer, replace_config


def tiny_cfg(out, steps):
    cfg = TrainConfig(
        generator=GeneratorConfig(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channel_base=128, channel_max=8),
        discriminator=DiscriminatorConfig(resolution=16, channel_base=128, channel_max=8))
    return replace_config(cfg, {"optim.batch_size": "4", "optim.r1_every": "2", "run.steps": str(steps),
                                "run.ckpt_every": "3", "run.sample_every": "0", "run.workers": "0",
                                "run.out": f'"{out}"'})


EYES = {"name": "eyes", "axes": [0, 4], "box": [0.25, 0.33, 0.75, 0.58]}


def linked_cfg(out, steps, links=(EYES,)):
    cfg = tiny_cfg(out, steps)
    cfg.link.links, cfg.link.every = [dict(l) for l in links], 2
    return cfg


@pytest.mark.parametrize("make_cfg", [tiny_cfg, linked_cfg], ids=["plain", "linked"])
def test_resume_continues_identically(tmp_path, make_cfg):
    full = Trainer(make_cfg(tmp_path / "full", 6), log=lambda s: None)
    full.train()

    part = Trainer(make_cfg(tmp_path / "part", 3), log=lambda s: None)
    part.train()                                        # stops at step 3 with a checkpoint
    resumed = Trainer(make_cfg(tmp_path / "part", 6), log=lambda s: None)
    resumed.load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert resumed.step == 3
    resumed.train()

    for name in ("G", "D", "G_ema"):
        a, b = getattr(full, name).state_dict(), getattr(resumed, name).state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    moved = [k for k, v in full.G.state_dict().items()
             if not torch.equal(v, Trainer(tiny_cfg(tmp_path / "x", 1), log=lambda s: None).G.state_dict()[k])]
    assert moved, "training did not change the generator"


def test_checkpoint_write_is_atomic(tmp_path):
    t = Trainer(tiny_cfg(tmp_path / "r", 1), log=lambda s: None)
    path = t.save_checkpoint()
    assert path.is_file() and not (tmp_path / "r" / "checkpoint.pt.tmp").exists()


def test_linked_run_logs_both_terms(tmp_path):
    t = Trainer(linked_cfg(tmp_path / "r", 2), log=lambda s: None)
    stats = t.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert stats["eyes.L_in"] > 0 and stats["eyes.L_out"] > 0
    assert t.extra_fakes is not None and t.extra_fakes.shape == (4, 3, 16, 16)


@pytest.mark.parametrize("links, msg", [
    ([{"name": "a", "axes": [0, 40], "box": [0, 0, 0.5, 0.5]}], "out of range"),
    ([{"name": "a", "box": [0, 0, 0.5, 0.5]}], "needs name, axes"),
    ([{"name": "a", "axes": [0, 4], "box": [0, 0, 0.5, 0.5], "colour": 1}], "unknown link spec keys"),
    ([{"name": "hair", "axes": [0, 4], "label": 2}], "need a segmenter"),
])
def test_bad_link_configs_are_rejected(tmp_path, links, msg):
    with pytest.raises(ValueError, match=msg):
        Trainer(linked_cfg(tmp_path / "r", 1, links), log=lambda s: None)


def test_bad_override_is_rejected():
    with pytest.raises(ValueError, match="unknown config key"):
        replace_config(TrainConfig(), {"optim.nope": "1"})
    with pytest.raises(ValueError, match="generator.resolution"):
        replace_config(TrainConfig(), {"generator.resolution": "48"})
