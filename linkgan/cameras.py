"""Cameras of the 3D half (EG3D, Chan et al. 2022, Sec. 4.1; docs/3d.md, "Cameras"): look-at poses by yaw and pitch,
EG3D's 25-value conditioning vector (a flattened 4x4 cam2world and 3x3 normalised intrinsics), each pixel's ray.

Conventions (EG3D's): world y is up and a head faces +z; camera axes are OpenCV's (x right, y down, z forward);
intrinsics are normalised by the image side, so pixel i of n has its centre at (i + 0.5) / n; ray directions
have unit length, so a depth is a distance along the ray.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

CAMERA_DIM = 25                     # 16 (cam2world, row-major) + 9 (intrinsics, row-major)


@dataclass(frozen=True)
class CameraRange:
    """Where the cameras of the toy heads may be: on a sphere around the origin, looking at it."""
    yaw_deg: float = 30.0           # |yaw| <= this; + moves the camera towards +x (it sees the head's left cheek)
    pitch_deg: float = 15.0         # |pitch| <= this; + moves the camera up (it looks down on the head)
    radius: float = 2.7             # distance to the origin (EG3D's FFHQ cameras)
    focal: float = 3.2              # focal length / image side; the frame spans +-radius / (2 focal) = +-0.42 at the
                                    #   origin, so a head of half-height 0.23 fills it as the 2D faces fill theirs

    def __post_init__(self):
        if not (0 <= self.yaw_deg < 90 and 0 <= self.pitch_deg < 90):
            raise ValueError(f"yaw and pitch limits must be in [0, 90) degrees, got {self.yaw_deg}, {self.pitch_deg}")
        if self.radius <= 0 or self.focal <= 0:
            raise ValueError(f"radius and focal must be positive, got {self.radius}, {self.focal}")


DEFAULT_RANGE = CameraRange()


def look_at(yaw: torch.Tensor, pitch: torch.Tensor, *, radius: float = DEFAULT_RANGE.radius) -> torch.Tensor:
    """cam2world (B, 4, 4) of cameras at `radius` from the origin looking at it; yaw, pitch (B,) in radians.
    yaw = pitch = 0 is the frontal camera at (0, 0, radius)."""
    yaw, pitch = torch.as_tensor(yaw, dtype=torch.float32), torch.as_tensor(pitch, dtype=torch.float32)
    yaw, pitch = torch.broadcast_tensors(yaw.reshape(-1), pitch.reshape(-1))
    origin = radius * torch.stack([pitch.cos() * yaw.sin(), pitch.sin(), pitch.cos() * yaw.cos()], dim=-1)  # (B, 3)
    forward = -origin / radius                                                   # camera z: towards the origin
    world_up = forward.new_tensor([0.0, 1.0, 0.0]).expand_as(forward)
    right = torch.nn.functional.normalize(torch.cross(forward, world_up, dim=-1), dim=-1)   # camera x
    down = torch.cross(forward, right, dim=-1)                                   # camera y (OpenCV: y down)
    cam2world = torch.eye(4).repeat(len(yaw), 1, 1)
    cam2world[:, :3, :3] = torch.stack([right, down, forward], dim=-1)           # columns are the camera axes
    cam2world[:, :3, 3] = origin
    return cam2world


def intrinsics(focal: float, batch: int) -> torch.Tensor:
    """Normalised pinhole intrinsics (B, 3, 3): focal `focal` (a fraction of the image side), principal point 0.5."""
    K = torch.tensor([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]])
    return K.repeat(batch, 1, 1)


def pack(cam2world: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) and (B, 3, 3) -> the conditioning vector c (B, 25), EG3D's layout."""
    return torch.cat([cam2world.reshape(-1, 16), K.reshape(-1, 9)], dim=1)


def unpack(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """c (B, 25) -> cam2world (B, 4, 4), intrinsics (B, 3, 3)."""
    if c.ndim != 2 or c.shape[1] != CAMERA_DIM:
        raise ValueError(f"camera parameters must have shape (B, {CAMERA_DIM}), got {tuple(c.shape)}")
    return c[:, :16].reshape(-1, 4, 4), c[:, 16:].reshape(-1, 3, 3)


def cameras(yaw_deg, pitch_deg, *, camera_range: CameraRange = DEFAULT_RANGE) -> torch.Tensor:
    """c (B, 25) for yaws and pitches in degrees (scalars or sequences, broadcast), at the range's radius and focal."""
    yaw = torch.deg2rad(torch.as_tensor(yaw_deg, dtype=torch.float32).reshape(-1))
    pitch = torch.deg2rad(torch.as_tensor(pitch_deg, dtype=torch.float32).reshape(-1))
    cam2world = look_at(yaw, pitch, radius=camera_range.radius)
    return pack(cam2world, intrinsics(camera_range.focal, len(cam2world)))


def frontal(batch: int = 1, *, camera_range: CameraRange = DEFAULT_RANGE, device=None) -> torch.Tensor:
    """c (B, 25) of the frontal camera (yaw = pitch = 0)."""
    return cameras([0.0] * batch, [0.0] * batch, camera_range=camera_range).to(device)


def sample_pose(seed: int, *, camera_range: CameraRange = DEFAULT_RANGE) -> tuple[float, float]:
    """(yaw, pitch) in degrees, uniform over the range, from a seed (its own stream: independent of the seed's
    attributes, which `sample_attributes` draws from `default_rng(seed)`)."""
    rng = np.random.default_rng([int(seed), 3])
    return (float(rng.uniform(-camera_range.yaw_deg, camera_range.yaw_deg)),
            float(rng.uniform(-camera_range.pitch_deg, camera_range.pitch_deg)))


def random_cameras(batch: int, *, camera_range: CameraRange = DEFAULT_RANGE, generator: torch.Generator | None = None,
                   device=None) -> torch.Tensor:
    """c (B, 25) with yaw and pitch uniform over the range (for rendering a generator from random views)."""
    u = torch.rand(2, batch, generator=generator) * 2 - 1
    return cameras(u[0] * camera_range.yaw_deg, u[1] * camera_range.pitch_deg, camera_range=camera_range).to(device)


def rays(c: torch.Tensor, resolution: int, *, supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions, each (B, P, 3) in world space, P = (resolution * supersample)^2 in row-major
    pixel order (row = image y). With supersample s, each pixel holds an s x s grid of rays at the centres of its
    sub-pixels, and pixel (i, j) owns rays [i*s:(i+1)*s, j*s:(j+1)*s] of the (n*s, n*s) grid."""
    cam2world, K = unpack(c)
    n = resolution * supersample
    centres = (torch.arange(n, dtype=c.dtype, device=c.device) + 0.5) / n           # pixel centres in [0, 1]
    v, u = torch.meshgrid(centres, centres, indexing="ij")                            # (n, n): rows are y
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]                  # (B,)
    x = (u.reshape(1, -1) - cx[:, None]) / fx[:, None]                                # (B, P), on the camera's z = 1
    y = (v.reshape(1, -1) - cy[:, None]) / fy[:, None]
    R = cam2world[:, None, :3, :3]                                                     # (B, 1, 3, 3)
    # R @ (x, y, 1) as a sum of the camera's axes (a bmm with 3-long rows is several times slower on CPU)
    d = x[..., None] * R[..., 0] + y[..., None] * R[..., 1] + R[..., 2]                 # (B, P, 3), world frame
    dirs = d * torch.rsqrt(d.square().sum(-1, keepdim=True))
    origins = cam2world[:, None, :3, 3].expand_as(dirs)
    return origins, dirs


def yaw_pitch(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(yaw, pitch) in degrees of look-at cameras, read back from their positions; each (B,)."""
    origin = unpack(c)[0][:, :3, 3]
    radius = origin.norm(dim=-1)
    pitch = torch.asin((origin[:, 1] / radius).clamp(-1, 1))
    yaw = torch.atan2(origin[:, 0], origin[:, 2])
    return torch.rad2deg(yaw), torch.rad2deg(pitch)


def fov_deg(focal: float) -> float:
    """Full field of view (degrees) of a normalised focal length."""
    return math.degrees(2 * math.atan(0.5 / focal))
