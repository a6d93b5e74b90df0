"""LPIPS backbone resolution (linkgan/perceptual.py): torch hub cache, Hugging Face Hub cache, loud random fallback.

Backbone files are random torchvision-layout tensors written into temporary caches: nothing downloads."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import vgg

from linkgan.perceptual import LPIPS, BackboneWarning, load_lpips


def _alexnet_features() -> dict[str, torch.Tensor]:
    from torchvision.models import alexnet
    return {k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_torch_hub_cache_vgg16_is_loaded(empty_torch_home):
    torch.manual_seed(0)
    features = vgg.make_layers(vgg.cfgs["D"])                      # torchvision's VGG16 `features`, random init
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    empty_torch_home.mkdir(parents=True)
    torch.save(state, empty_torch_home / "vgg16-397923af.pth")
    d = load_lpips("vgg", hub=None)
    assert isinstance(d, LPIPS) and d.backbone_name == "vgg16-imagenet"
    assert d.backbone_source.endswith("vgg16-397923af.pth")
    assert torch.equal(getattr(d.net.net.slice1, "0").weight, state["features.0.weight"])
    assert torch.equal(getattr(d.net.net.slice5, "28").bias, state["features.28.bias"])
    assert not d.training and not any(p.requires_grad for p in d.parameters())
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = x.flip(0).requires_grad_(True)
    dist = d(x, y)
    assert dist.shape == (2,) and (dist > 0).all()
    assert float(d(x, x).abs().max()) < 1e-6
    dist.sum().backward()                                          # gradients reach the input, not the net
    assert y.grad is not None and y.grad.abs().sum() > 0
    d.train()
    assert not d.training


def test_hub_cache_backbone_is_loaded(empty_torch_home, tmp_path):
    torch.manual_seed(1)
    state = _alexnet_features()
    commit = "a" * 40
    repo = tmp_path / "hf" / "models--someone--alexnet-tv"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    save_file(state, str(repo / "snapshots" / commit / "model.safetensors"))
    d = load_lpips("alex", hub=("someone/alexnet-tv", "model.safetensors"), cache_dir=tmp_path / "hf")
    assert d.backbone_name == "alexnet-imagenet" and d.backbone_source == "hf://someone/alexnet-tv/model.safetensors"
    assert torch.equal(getattr(d.net.net.slice2, "3").weight, state["features.3.weight"])


def test_missing_backbone_warns_loudly_and_falls_back(empty_torch_home, tmp_path):
    with pytest.warns(BackboneWarning, match="RANDOM backbone"):
        d = load_lpips("alex", hub=("nobody/not-cached", "model.safetensors"), cache_dir=tmp_path / "hf")
    assert d.backbone_name == "alexnet-random (pnet_rand)"
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert d(x, -x).shape == (1,)


def test_random_fallback_is_the_same_backbone_every_time(empty_torch_home):
    """Numbers measured on the fallback are reproducible across processes, and the caller's RNG stream is kept."""
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    dists = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with pytest.warns(BackboneWarning):
            d = load_lpips("alex", hub=None)
        dists.append(d(x, y))
    assert torch.equal(dists[0], dists[1]) and "seed" in d.backbone_source
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    with pytest.warns(BackboneWarning):
        load_lpips("alex", hub=None)
    assert torch.equal(torch.rand(4), expected)


def test_damaged_file_is_reported_then_falls_back(empty_torch_home):
    empty_torch_home.mkdir(parents=True)
    (empty_torch_home / "alexnet-owt-7be5be79.pth").write_bytes(b"not a checkpoint")
    with pytest.warns(BackboneWarning, match="torch hub cache: .*Error"):
        assert load_lpips("alex", hub=None).backbone_name.endswith("(pnet_rand)")
    with pytest.raises(ValueError, match="net must be"):
        load_lpips("squeeze")
