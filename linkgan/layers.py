"""StyleGAN2 building blocks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

Pure PyTorch, no custom CUDA. Modulated convolutions use the paper's *non-fused* form: the input is
scaled by the style, one shared convolution runs for the whole batch, and demodulation is applied to
the outputs. It is mathematically the same as the grouped (fused) form, and several times faster on CPU.
Parameter layout follows rosinality/stylegan2-pytorch so that published checkpoints map onto it 1:1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def fir_kernel(taps: tuple[int, ...], gain: float = 1.0) -> torch.Tensor:
    """Separable 2-D FIR kernel from 1-D taps, normalised to sum `gain`. Shape (k, k)."""
    k1 = torch.tensor(taps, dtype=torch.float32)
    k = k1[None, :] * k1[:, None]
    return k / k.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter depthwise with `kernel`, downsample by striding.

    Same definition as StyleGAN2's upfirdn2d (pad = (before, after), applied on both axes). The FIR runs as a
    grouped (depthwise) convolution over all channels at once: no per-channel or per-sample loops.
    """
    b, c, h, w = x.shape                                            # (B, C, H, W)
    if up > 1:
        # zero insertion: each sample followed by up-1 zeros, as in the reference definition
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    kh, kw = kernel.shape
    # the reference convolves (flipped kernel); conv2d correlates, so flip to stay exact for asymmetric taps
    weight = kernel.flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored N(0, 1/lr_mul), scaled at run time."""

    def __init__(self, in_dim: int, out_dim: int, *,
                 bias_init: float = 0.0,   # initial bias value (1.0 for style affines, so styles start near 1)
                 lr_mul: float = 1.0,      # learning-rate multiplier (0.01 in the mapping network)
                 activate: bool = False):  # leaky ReLU(0.2) * sqrt(2) after the bias
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activate else out


class BiasLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU(0.2), gain sqrt(2) (StyleGAN2's fused_lrelu)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class Blur(nn.Module):
    """Depthwise FIR filter with fixed padding; `gain` = up**2 when it follows an upsampling."""

    def __init__(self, taps: tuple[int, ...], pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(taps, gain), persistent=False)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (StyleGAN2 Sec. 2.2), non-fused.

    y = demod * conv(x * s, W): s is the per-sample style (space S), demod[b, o] = rsqrt(sum_i s[b,i]^2 *
    sum_k W[o,i,k]^2 + eps). With `up=True` the convolution is transposed with stride 2 and followed by
    a [1,3,3,1] blur, as in the reference implementation.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, w_dim: int, *,
                 demodulate: bool = True,            # False for ToRGB layers
                 up: bool = False,                   # 2x upsampling (transposed conv + FIR)
                 blur_taps: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)   # w -> style s (space S)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.demodulate, self.up = demodulate, up
        if up:
            p = (len(blur_taps) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        assert styles.shape == (b, self.in_ch), (styles.shape, (b, self.in_ch))
        weight = self.weight * self.scale                                  # (O, I, k, k)
        x = x * styles.to(x.dtype).view(b, -1, 1, 1)                       # (B, I, H, W)
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=self.kernel_size // 2)
        if self.demodulate:
            # (B, I) @ (I, O): the squared norm of each per-sample modulated filter, without building it
            wsq = weight.square().sum(dim=(2, 3)).t()
            demod = torch.rsqrt(styles.float().square() @ wsq.float() + 1e-8)   # (B, O)
            x = x * demod.to(x.dtype).view(b, -1, 1, 1)
        if self.up:
            x = self.blur(x)
        return x


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned scalar (zero at init)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.weight.to(x.dtype) * noise.to(x.dtype)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + leaky ReLU: one synthesis layer."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, *, up: bool = False,
                 blur_taps: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, up=up, blur_taps=blur_taps)
        self.noise = NoiseInjection()
        self.act = BiasLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return self.act(self.noise(self.conv(x, styles), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation), added to the upsampled skip image."""

    def __init__(self, in_ch: int, w_dim: int, *, blur_taps: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))
        self.register_buffer("up_kernel", fir_kernel(blur_taps, gain=4.0), persistent=False)
        p = len(blur_taps) - 2
        self.up_pad = ((p + 1) // 2 + 1, p // 2)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, styles) + self.bias.to(x.dtype).view(1, 3, 1, 1)
        if skip is not None:
            out = out + upfirdn2d(skip.to(out.dtype), self.up_kernel, up=2, pad=self.up_pad)
        return out


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (discriminator)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, (self.weight * self.scale).to(x.dtype), bias, stride=self.stride,
                        padding=self.padding)


class ConvLayer(nn.Sequential):
    """[blur] -> equalised conv (stride 2 when downsampling) -> [bias + leaky ReLU]."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, down: bool = False,
                 activate: bool = True, bias: bool = True, blur_taps: tuple[int, ...] = (1, 3, 3, 1)):
        layers: list[nn.Module] = []
        if down:
            p = (len(blur_taps) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_taps, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(BiasLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Discriminator residual block: two convs (the second downsamples) plus a 1x1 downsampling skip."""

    def __init__(self, in_ch: int, out_ch: int, *, blur_taps: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_taps=blur_taps)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, down=True, blur_taps=blur_taps)
        self.skip = ConvLayer(in_ch, out_ch, 1, down=True, activate=False, bias=False, blur_taps=blur_taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2
