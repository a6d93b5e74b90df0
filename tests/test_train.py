"""GAN training loop: it learns (losses finite, G moves), checkpoints atomically and resumes exactly."""
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


def test_resume_continues_identically(tmp_path):
    full = Trainer(tiny_cfg(tmp_path / "full", 6), log=lambda s: None)
    full.train()

    part = Trainer(tiny_cfg(tmp_path / "part", 3), log=lambda s: None)
    part.train()                                        # stops at step 3 with a checkpoint
    resumed = Trainer(tiny_cfg(tmp_path / "part", 6), log=lambda s: None)
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


def test_bad_override_is_rejected():
    import pytest
    with pytest.raises(ValueError, match="unknown config key"):
        replace_config(TrainConfig(), {"optim.nope": "1"})
    with pytest.raises(ValueError, match="generator.resolution"):
        replace_config(TrainConfig(), {"generator.resolution": "48"})
