"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric") through the
`lpips` package, with its ImageNet backbone resolved without torchvision's downloader (docs/methods.md, "Inversion").

The `lpips` wheel ships only the small linear heads; the VGG16 / AlexNet backbone comes from, in order:
(a) torchvision's own weight file already in the local torch hub cache, (b) a safetensors copy on the Hugging Face
Hub (`BACKBONE_HUB`, through huggingface_hub, so a local Hub cache works offline), (c) a random backbone
(`pnet_rand=True`) with a loud warning. `LPIPS.backbone_name` says which one a number was measured with.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# torchvision's file name for each backbone, as its downloader stores it under torch.hub.get_dir()/checkpoints/
TORCH_HUB_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
ARCH_NAMES = {"vgg": "vgg16", "alex": "alexnet"}
# Hub (repo id, file) holding torchvision's ImageNet weights as safetensors, keys `features.N.*` like torchvision's.
# timm/vgg16.tv_in1k is "original torchvision weights" re-saved by timm; AlexNet has no such copy: pass one.
BACKBONE_HUB: dict[str, tuple[str, str] | None] = {"vgg": ("timm/vgg16.tv_in1k", "model.safetensors"), "alex": None}
RANDOM_BACKBONE_SEED = 0     # the fallback backbone is drawn with this torch seed: the same one in every process


class BackboneWarning(UserWarning):
    """LPIPS runs on a random backbone: distances are not comparable to published LPIPS numbers."""


class LPIPS(nn.Module):
    """d(x, y) -> (B,) LPIPS distances of images (B, 3, H, W) in [-1, 1]. Frozen, eval mode; gradients flow to inputs.

    Build it with `load_lpips()`; `backbone_name` ("vgg16-imagenet", "vgg16-random (pnet_rand)") and
    `backbone_source` (a file path or Hub repo) name the backbone for metrics and model cards.
    """

    def __init__(self, net: nn.Module, backbone_name: str, backbone_source: str, min_size: int = 64):
        super().__init__()
        self.net = net                          # an lpips.LPIPS
        self.min_size = min_size                # smaller images are upsampled first: AlexNet needs >= ~32 px
        self.backbone_name = backbone_name
        self.backbone_source = backbone_source
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "LPIPS":
        return super().train(False)             # dropout in the linear heads must stay off

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS wants two (B, 3, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            scale = self.min_size / min(x.shape[-2:])
            x, y = (F.interpolate(t, scale_factor=scale, mode="bilinear", align_corners=False) for t in (x, y))
        return self.net(x, y, normalize=False).flatten()         # (B,)


def _features_state(state: dict[str, torch.Tensor], net: nn.Module, source: str) -> dict[str, torch.Tensor]:
    """torchvision `features.I.*` tensors -> lpips' `sliceK.I.*` names (lpips keeps torchvision's layer indices)."""
    own = net.state_dict()
    out, missing = {}, []
    for key, value in own.items():                                # e.g. "slice2.5.weight"
        _, index, param = key.split(".")
        src = f"features.{index}.{param}"
        if src not in state:
            missing.append(src)
        elif tuple(state[src].shape) != tuple(value.shape):
            raise ValueError(f"{source}: {src} has shape {tuple(state[src].shape)}, the backbone wants {tuple(value.shape)}")
        else:
            out[key] = state[src].float()
    if missing:
        raise ValueError(f"{source}: not a torchvision backbone of this kind, missing {missing[:4]}")
    return out


def _from_torch_hub_cache(net_kind: str) -> tuple[dict, str] | None:
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCH_HUB_FILES[net_kind]
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True), str(path)


def _from_hub(repo: tuple[str, str] | None, cache_dir: str | os.PathLike | None) -> tuple[dict, str] | None:
    if repo is None:
        return None
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    repo_id, filename = repo
    path = hf_hub_download(repo_id, filename, cache_dir=cache_dir)
    return load_file(path), f"hf://{repo_id}/{filename}"


def load_lpips(net: str = "vgg", *, hub: tuple[str, str] | None | str = "default",
               cache_dir: str | os.PathLike | None = None, device: str | torch.device | None = None) -> LPIPS:
    """LPIPS v0.1 with `net` in {"vgg", "alex"}; the backbone resolved as the module doc says.

    hub: (repo id, filename) of a safetensors copy of torchvision's weights; "default" = BACKBONE_HUB[net];
    None skips the Hub. cache_dir: the Hub cache (None: huggingface_hub's default, HF_HUB_CACHE).
    """
    import lpips as lpips_pkg

    if net not in TORCH_HUB_FILES:
        raise ValueError(f"net must be one of {sorted(TORCH_HUB_FILES)}, got {net!r}")
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        # pnet_rand=True: torchvision builds the backbone untrained, so nothing downloads; the linear heads
        # come from the wheel. Silence torchvision's "pretrained is deprecated" notes raised inside lpips.
        # A fixed seed (the caller's RNG untouched) makes the random fallback the same backbone in every process,
        # so its distances, and inversions that optimise them, are reproducible.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.")
        torch.manual_seed(RANDOM_BACKBONE_SEED)
        model = lpips_pkg.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
    arch = ARCH_NAMES[net]
    tried = []
    for where, fetch in (("torch hub cache", lambda: _from_torch_hub_cache(net)),
                         ("Hugging Face Hub", lambda: _from_hub(BACKBONE_HUB[net] if hub == "default" else hub,
                                                                cache_dir))):
        try:
            found = fetch()
            if found is None:
                tried.append(f"{where}: nothing there")
                continue
            state, source = found
            model.net.load_state_dict(_features_state(state, model.net, source), strict=True)
            return LPIPS(model, f"{arch}-imagenet", source).to(device or "cpu")
        except Exception as e:  # a missing/offline Hub file or a damaged file: say so, try the next source
            tried.append(f"{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    warnings.warn(f"LPIPS: no ImageNet {arch} backbone found ({'; '.join(tried)}); using a RANDOM backbone "
                  f"(pnet_rand). Distances are NOT comparable to published LPIPS. Put torchvision's "
                  f"{TORCH_HUB_FILES[net]} in {Path(torch.hub.get_dir()) / 'checkpoints'} to fix this.",
                  BackboneWarning, stacklevel=2)
    return LPIPS(model, f"{arch}-random (pnet_rand)",
                 f"random init, torch seed {RANDOM_BACKBONE_SEED}").to(device or "cpu")
