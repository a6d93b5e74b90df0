"""Full-reference image metrics for reconstructions: PSNR and SSIM (Wang et al. 2004, "Image Quality Assessment:
From Error Visibility to Structural Similarity", gaussian window 11 x 11, sigma 1.5, K1 0.01, K2 0.03).
Images (B, 3, H, W) in [-1, 1]; both metrics are computed on [0, 1] (data range 1), per image."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) peak signal-to-noise ratio in dB (inf for identical images)."""
    mse = ((x - y) / 2).float().square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float, channels: int, device) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-t.square() / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, *, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """(B,) mean SSIM over channels and valid window positions (no padding, as the reference implementation)."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim wants two (B, C, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    window = min(window, x.shape[-1], x.shape[-2])
    a, b = (x.float() + 1) / 2, (y.float() + 1) / 2
    c = a.shape[1]
    k = _gaussian_window(window, sigma, c, a.device)
    blur = lambda t: F.conv2d(t, k, groups=c)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))
