"""Tests of the 3D toy heads (linkgan/data/heads3d.py), their ray caster (linkgan/data/raycast.py) and the camera
math (linkgan/cameras.py): known scenes with analytic depths, the yaw direction, labels that agree with the image,
every part seen from every view of the range, determinism by seed, the dataset."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from linkgan import cameras as cams
from linkgan.data import PART_LABELS, sample_attributes
from linkgan.data.heads3d import (Appearance, ToyHeadsDataset, head_cameras, render_heads, render_scenes,
                                  toy_heads)
from linkgan.data.raycast import Primitives, cast

LABEL = {name: i for i, name in enumerate(PART_LABELS)}


def spheres(centres, radii, labels, batch: int = 1) -> tuple[Primitives, Appearance]:
    """A scene of plain spheres, the same in every batch element."""
    K = len(centres)

    def rep(x, dtype=torch.float32):
        return torch.as_tensor(np.array(x), dtype=dtype).expand(batch, *np.array(x).shape).clone()

    prims = Primitives(centre=rep(centres), radii=rep([[r] * 3 for r in radii]), rotation=rep([np.eye(3)] * K),
                       clip_normal=rep(np.zeros((K, 3))), clip_offset=rep([-1.0] * K), ring_lo=rep([0.0] * K),
                       ring_hi=rep([2.0] * K), ring_q=rep([2.0] * K), valid=rep([True] * K, torch.bool))
    look = Appearance(colour=rep([[0.5, 0.5, 0.5]] * K), colour2=rep(np.zeros((K, 3))),
                      label=rep(labels, torch.long), kind=rep([0] * K, torch.long), param=rep([0.0] * K),
                      background=rep([0.1, 0.2, 0.3]))
    return prims, look


# --- cameras -------------------------------------------------------------------------------------------

def test_frontal_camera_is_opencv_looking_down_minus_z():
    c = cams.frontal(1)
    cam2world, K = cams.unpack(c)
    assert c.shape == (1, 25)
    assert torch.allclose(cam2world[0, :3, 3], torch.tensor([0.0, 0.0, cams.DEFAULT_RANGE.radius]))
    # columns: camera x = world x, camera y = world down, camera z (forward) = world -z
    assert torch.allclose(cam2world[0, :3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-6)
    assert torch.allclose(K[0], torch.tensor([[3.2, 0, 0.5], [0, 3.2, 0.5], [0, 0, 1.0]]))
    assert torch.equal(cams.pack(cam2world, K), c)


@pytest.mark.parametrize("yaw, pitch", [(30.0, 0.0), (-30.0, 0.0), (0.0, 15.0), (-22.5, -11.0)])
def test_look_at_positions_and_axes(yaw, pitch):
    c = cams.cameras([yaw], [pitch])
    cam2world = cams.unpack(c)[0][0]
    R, origin = cam2world[:3, :3], cam2world[:3, 3]
    y, p = math.radians(yaw), math.radians(pitch)
    r = cams.DEFAULT_RANGE.radius
    # yaw moves the camera towards +x, pitch moves it up
    expected = r * torch.tensor([math.cos(p) * math.sin(y), math.sin(p), math.cos(p) * math.cos(y)])
    assert torch.allclose(origin, expected, atol=1e-5)
    assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5) and torch.det(R) > 0.99
    assert torch.allclose(R[:, 2], -origin / r, atol=1e-5)                 # looks at the origin
    assert R[1, 0].abs() < 1e-6 and R[1, 1] < 0                             # no roll; image y points down
    got_yaw, got_pitch = cams.yaw_pitch(c)
    assert abs(got_yaw.item() - yaw) < 1e-3 and abs(got_pitch.item() - pitch) < 1e-3


def test_rays_pixel_centres_and_field_of_view():
    n = 33
    origins, dirs = cams.rays(cams.frontal(1), n)
    assert origins.shape == dirs.shape == (1, n * n, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(1, n * n))
    centre = dirs[0, (n // 2) * n + n // 2]
    assert torch.allclose(centre, torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    # the first pixel's centre is at (0.5 / n) of the image: angle atan((0.5 - 0.5 / n) / f) off the axis, up-left
    corner = dirs[0, 0]
    tan = (0.5 - 0.5 / n) / cams.DEFAULT_RANGE.focal
    assert torch.allclose(corner, torch.nn.functional.normalize(torch.tensor([-tan, tan, -1.0]), dim=0), atol=1e-6)
    # supersampling is the same grid at n * s
    assert torch.equal(cams.rays(cams.frontal(1), 8, supersample=2)[1], cams.rays(cams.frontal(1), 16)[1])


def test_pose_sampling_is_seeded_and_in_range():
    poses = np.array([cams.sample_pose(s) for s in range(200)])
    assert np.abs(poses[:, 0]).max() <= 30 and np.abs(poses[:, 1]).max() <= 15
    assert np.abs(poses[:, 0]).max() > 25 and np.abs(poses[:, 1]).max() > 12      # the range is covered
    assert cams.sample_pose(7) == cams.sample_pose(7)
    yaw, pitch = cams.yaw_pitch(head_cameras([7]))
    assert abs(yaw.item() - cams.sample_pose(7)[0]) < 1e-3 and abs(pitch.item() - cams.sample_pose(7)[1]) < 1e-3


# --- the ray caster on known scenes --------------------------------------------------------------------

def test_unit_sphere_depth_is_distance_minus_one_at_the_centre_and_analytic_everywhere():
    n, d = 33, cams.DEFAULT_RANGE.radius
    prims, look = spheres([[0.0, 0.0, 0.0]], [1.0], [LABEL["skin"]])
    out = render_scenes(prims, look, cams.frontal(1), size=n, supersample=1)
    assert out.depth[0, n // 2, n // 2].item() == pytest.approx(d - 1.0, abs=1e-5)
    assert out.labels[0, n // 2, n // 2].item() == LABEL["skin"]
    # every pixel: t = d cos(theta) - sqrt(r^2 - d^2 sin^2(theta)) for the angle theta of its ray to the axis
    cos = -cams.rays(cams.frontal(1), n)[1][0, :, 2]
    expected = d * cos - torch.sqrt(1.0 - d ** 2 * (1 - cos ** 2))
    assert torch.allclose(out.depth.reshape(-1), expected, atol=1e-5)


def test_small_sphere_leaves_the_corners_to_the_background():
    n = 32
    prims, look = spheres([[0.0, 0.0, 0.0]], [0.2], [LABEL["hair"]])
    out = render_scenes(prims, look, cams.frontal(1), size=n, supersample=1)
    assert out.labels[0, 0, 0] == LABEL["background"] and torch.isinf(out.depth[0, 0, 0])
    bg = (out.labels[0] == LABEL["background"])
    assert torch.allclose(out.image[0][:, bg], (torch.tensor([0.1, 0.2, 0.3]) * 2 - 1)[:, None])
    assert torch.isfinite(out.depth[0][~bg]).all()
    # the disc's area: the sphere subtends asin(0.2 / 2.7) against a half field of view of atan(0.5 / 3.2)
    ratio = math.tan(math.asin(0.2 / 2.7)) * cams.DEFAULT_RANGE.focal * n
    assert (~bg).sum().item() == pytest.approx(math.pi * ratio ** 2, rel=0.06)


def project(point, c: torch.Tensor, n: int) -> tuple[int, int]:
    """Pixel (row, col) of a world point in camera c (1, 25)."""
    cam2world, K = cams.unpack(c)
    p_cam = cam2world[0, :3, :3].T @ (torch.tensor(point) - cam2world[0, :3, 3])
    uv = K[0] @ (p_cam / p_cam[2])
    return int(uv[1] * n), int(uv[0] * n)


def test_yaw_brings_the_plus_x_side_closer_and_points_land_where_projected():
    n = 48
    # a ball at the origin with a marker on each side: +x is labelled "eyes", -x "mouth"
    prims, look = spheres([[0, 0, 0], [0.25, 0, 0], [-0.25, 0, 0]], [0.15, 0.05, 0.05],
                          [LABEL["skin"], LABEL["eyes"], LABEL["mouth"]])
    for yaw in (-30.0, 30.0):
        c = cams.cameras([yaw], [0.0])
        out = render_scenes(prims, look, c, size=n, supersample=1)
        near_label = "eyes" if yaw > 0 else "mouth"
        far_label = "mouth" if yaw > 0 else "eyes"
        depth_of = {k: out.depth[0][out.labels[0] == LABEL[k]].min().item() for k in ("eyes", "mouth")}
        assert depth_of[near_label] < depth_of[far_label] - 0.2
        for x, label in ((0.25, "eyes"), (-0.25, "mouth")):
            row, col = project([x, 0.0, 0.0], c, n)
            assert out.labels[0, row, col].item() == LABEL[label]
    # a scene symmetric in x looks mirrored from mirrored yaws
    prims, look = spheres([[0, 0, 0], [0.25, 0, 0], [-0.25, 0, 0]], [0.15, 0.05, 0.05], [1, 3, 3])
    left = render_scenes(prims, look, cams.cameras([-20.0], [5.0]), size=n, supersample=1)
    right = render_scenes(prims, look, cams.cameras([20.0], [5.0]), size=n, supersample=1)
    assert torch.equal(left.labels, right.labels.flip(-1))
    assert torch.allclose(left.depth, right.depth.flip(-1), atol=1e-5)


def test_pitch_up_looks_down_on_the_top():
    prims, look = spheres([[0, 0, 0], [0, 0.2, 0]], [0.15, 0.05], [LABEL["skin"], LABEL["hair"]])
    above = render_scenes(prims, look, cams.cameras([0.0], [15.0]), size=48, supersample=1)
    below = render_scenes(prims, look, cams.cameras([0.0], [-15.0]), size=48, supersample=1)
    assert (above.labels == LABEL["hair"]).sum() > (below.labels == LABEL["hair"]).sum()


def test_clip_plane_and_ring_cut_the_surface():
    prims, look = spheres([[0, 0, 0]], [0.3], [LABEL["hair"]])
    full = cast(prims, cams.frontal(1), 32)
    prims.clip_normal[:] = torch.tensor([0.0, 1.0, 0.0])      # keep y >= 0: the upper half
    prims.clip_offset[:] = 0.0
    cap = cast(prims, cams.frontal(1), 32)
    hit = cap.hit.reshape(32, 32)
    assert hit[:12].sum() > 0 and hit[20:].sum() == 0 and full.hit.sum() > cap.hit.sum()
    prims, look = spheres([[0, 0, 0]], [0.3], [LABEL["glasses"]])
    prims.ring_lo[:] = 0.8                                     # a rim: the middle of the disc is cut away
    rim = cast(prims, cams.frontal(1), 33).hit.reshape(33, 33)
    assert not rim[16, 16] and rim[16, 16 - 10]


# --- the heads -----------------------------------------------------------------------------------------

def test_render_shapes_ranges_and_determinism():
    out = toy_heads([0, 1, 2], size=32)
    assert out.image.shape == (3, 3, 32, 32) and out.image.dtype == torch.float32
    assert out.labels.shape == (3, 32, 32) and out.labels.dtype == torch.int64
    assert out.depth.shape == (3, 32, 32) and out.camera.shape == (3, 25)
    assert out.image.min() >= -1 and out.image.max() <= 1
    assert out.labels.max() < len(PART_LABELS)
    again = toy_heads([0, 1, 2], size=32)
    assert torch.equal(out.image, again.image) and torch.equal(out.labels, again.labels)
    alone = toy_heads([1], size=32)                            # a head does not depend on its batch
    assert torch.equal(alone.image[0], out.image[1]) and torch.equal(alone.depth[0], out.depth[1])
    assert not torch.equal(out.image[0], out.image[1])
    # depth: finite exactly where something is seen, and inside the generator's ray range
    seen = out.labels != LABEL["background"]
    assert torch.isfinite(out.depth[seen]).all() and torch.isinf(out.depth[~seen]).all()
    assert out.depth[seen].min() > 2.25 and out.depth[seen].max() < 3.3


def _direction(rgb: np.ndarray) -> np.ndarray:
    return rgb / np.linalg.norm(rgb, axis=-1, keepdims=True)


def test_labels_agree_with_the_colours():
    """With one ray per pixel, a plain part's pixels are shades of its colour and the background is its colour."""
    seeds = [s for s in range(40) if sample_attributes(s).beard == "none"][:6]
    out = toy_heads(seeds, size=64, supersample=1)
    mouths = 0
    for i, s in enumerate(seeds):
        a = sample_attributes(s)
        img = ((out.image[i] + 1) / 2).permute(1, 2, 0).numpy()
        labels = out.labels[i].numpy()
        assert np.allclose(img[labels == LABEL["background"]], np.array(a.background_rgb) / 255, atol=1e-6)
        for part, rgb in (("hair", a.hair_rgb), ("skin", a.skin_rgb), ("clothes", a.clothes_rgb)):
            px = img[labels == LABEL[part]]
            if part == "hair" and a.hair_style == "bald":
                assert len(px) == 0
                continue
            assert len(px) > 0, (s, part)
            cos = (_direction(px) * _direction(np.array(rgb, dtype=np.float64))).sum(-1)
            assert cos.min() > 0.999, (s, part, cos.min())
        # ... and the mouth is not: the skin around the lips on the mouth's primitive is labelled skin
        mouth = img[labels == LABEL["mouth"]]
        mouths += len(mouth) > 0                               # a thin mouth may fall between the rays
        cos = (_direction(mouth) * _direction(np.array(a.skin_rgb, dtype=np.float64))).sum(-1)
        assert len(mouth) == 0 or cos.max() < 1 - 1e-5, (s, cos.max())
    assert mouths >= 5


def test_every_part_is_seen_from_every_view_of_the_range():
    a = next(sample_attributes(s) for s in range(100) if sample_attributes(s).eyes == "open"
             and sample_attributes(s).glasses == "none" and sample_attributes(s).hair_style == "short")
    yaws, pitches = [-30, -30, 0, 30, 30, 0], [-15, 15, 0, -15, 15, 15]
    out = render_heads([a] * 6, cams.cameras(yaws, pitches), size=64)
    for v in range(6):
        present = set(out.labels[v].unique().tolist())
        for part in ("skin", "hair", "eyes", "mouth", "nose", "brows", "clothes", "background"):
            assert LABEL[part] in present, (yaws[v], pitches[v], part)
    # the eyes (two of them) keep a similar area across views
    areas = (out.labels == LABEL["eyes"]).flatten(1).sum(1).float()
    assert areas.min() > 0.4 * areas.max()


def test_attributes_show_in_the_labels():
    seeds = range(60)
    out = toy_heads(seeds, size=32)
    for i, s in enumerate(seeds):
        a = sample_attributes(s)
        present = set(out.labels[i].unique().tolist())
        assert (LABEL["glasses"] in present) == (a.glasses != "none"), s
        assert (LABEL["beard"] in present) == (a.beard != "none"), s
        assert (LABEL["hair"] in present) == (a.hair_style != "bald"), s
        if a.glasses != "sunglasses":
            assert LABEL["eyes"] in present, s


def test_dataset_items_and_batches():
    ds = ToyHeadsDataset(size=32, seeds=range(100, 110))
    assert len(ds) == 10
    item = ds[3]
    assert item["seed"] == 103 and item["image"].shape == (3, 32, 32) and item["mask"].shape == (32, 32)
    assert item["camera"].shape == (25,) and item["depth"].shape == (32, 32)
    assert item["attributes"].tolist() == list(sample_attributes(103).as_indices().values())
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))       # fetched with one render
    assert batch["image"].shape == (4, 3, 32, 32) and batch["camera"].shape == (4, 25)
    assert torch.equal(batch["image"][3], item["image"]) and torch.equal(batch["camera"][3], item["camera"])
