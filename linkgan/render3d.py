"""Turntables of the tri-plane generator (EG3D, Chan et al. 2022: the videos that show a code from a sweep of
cameras; docs/3d.md, "Command line"): the frames of one or more codes as the camera sweeps yaw across the model's
range, and a looping GIF of them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image

from . import cameras as cams
from .utils import to_uint8

TURNTABLE_FRAMES = 24           # one sweep of the +-30 degree range in 2.5 degree steps
GIF_FRAME_MS = 80               # 24 frames in about 2 s: slow enough to follow a part round the head


def turntable_cameras(camera_range: cams.CameraRange, frames: int = TURNTABLE_FRAMES, *,
                      pitch_deg: float = 0.0) -> torch.Tensor:
    """c (frames, 25): yaw from -yaw_deg to +yaw_deg of the range (both ends included) at a fixed pitch.
    The sweep stays inside the range because views outside it were never trained on."""
    if frames < 2:
        raise ValueError(f"a turntable needs at least 2 frames (its two ends), got {frames}")
    if abs(pitch_deg) > camera_range.pitch_deg:
        raise ValueError(f"pitch {pitch_deg:g} degrees is outside the model's camera range "
                         f"(+-{camera_range.pitch_deg:g} degrees)")
    yaw = torch.linspace(-camera_range.yaw_deg, camera_range.yaw_deg, frames)
    return cams.cameras(yaw, torch.full_like(yaw, float(pitch_deg)), camera_range=camera_range)


@torch.no_grad()
def turntable(G, ws: torch.Tensor, *, frames: int = TURNTABLE_FRAMES, pitch_deg: float = 0.0,
              batch_size: int = 8, noise_mode: str = "const") -> torch.Tensor:
    """Frames (F, 3, H, B * W) in [-1, 1] of B codes side by side, every code seen from the same camera in a frame,
    the cameras those of `turntable_cameras` over G's range. ws: W (B, w_dim) or W+ (B, num_ws, w_dim); B = 1 gives
    (F, 3, H, W). batch_size: frames rendered per call (bounds memory). noise_mode "const" places the ray samples
    deterministically, so codes that are equal give equal frames."""
    if ws.ndim not in (2, 3):
        raise ValueError(f"ws must be (B, w_dim) or (B, num_ws, w_dim), got {tuple(ws.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    B = ws.shape[0]
    c = turntable_cameras(G.config.camera_range, frames, pitch_deg=pitch_deg).to(ws.device)   # (F, 25)
    out = []
    for start in range(0, frames, batch_size):
        views = c[start:start + batch_size]                                   # (k, 25)
        k = len(views)
        # frame-major: element f * B + b is code b seen from camera f
        codes = ws.repeat(k, *([1] * (ws.ndim - 1)))                            # (k B, ...)
        images = G.synthesize(codes, views.repeat_interleave(B, dim=0), noise_mode=noise_mode)  # (k B, 3, H, W)
        _, C, H, W = images.shape
        out.append(images.reshape(k, B, C, H, W).permute(0, 2, 3, 1, 4).reshape(k, C, H, B * W))
    return torch.cat(out)


def save_gif(frames: torch.Tensor, path: str | os.PathLike | BinaryIO, *,
             frame_ms: int = GIF_FRAME_MS) -> Path | BinaryIO:
    """Write frames (F, 3, H, W) in [-1, 1] as a GIF that loops forever, each frame shown frame_ms milliseconds, to a
    path (folders are created) or a binary file object. GIF holds 256 colours a frame, so colours are rounded to each
    frame's palette."""
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"frames must be (F, 3, H, W) with F >= 1, got {tuple(frames.shape)}")
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    images = [Image.fromarray(x) for x in to_uint8(frames)]
    if not hasattr(path, "write"):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    # loop=0: forever. disposal=1 keeps each full frame; Pillow merges a frame equal to the one before into it
    # (longer duration), which a turntable, whose every frame is a new view, does not meet in practice.
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0, duration=frame_ms,
                   disposal=1)
    return path
