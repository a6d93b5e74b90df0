"""Tests of the 3D turntable (linkgan/render3d.py) and the commands sample3d / resample3d (linkgan/cli.py) on a
tiny tri-plane generator saved with a link: frame counts and sizes, the sweep's ends, t = 0 leaving the head as it
is, and clear errors for a missing, unknown or 2D model and an unknown link."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from linkgan import cameras as cams
from linkgan import cli
from linkgan.links import generator_links, resample
from linkgan.networks import Generator
from linkgan.networks3d import TriplaneGenerator
from linkgan.render3d import save_gif, turntable, turntable_cameras
from test_networks3d import tiny_config

LINKS = [{"name": "mouth", "axes": [0, 8], "parts": ["mouth"], "follow": True}]


@pytest.fixture(scope="module")
def g3d(tmp_path_factory) -> tuple[Path, TriplaneGenerator]:
    torch.manual_seed(0)
    G = TriplaneGenerator(tiny_config())
    with torch.no_grad():                               # a non-zero w_avg so that psi matters
        G.w_avg.normal_()
    folder = tmp_path_factory.mktemp("g3d")
    G.save_pretrained(folder, extra={"links": LINKS})
    return folder, TriplaneGenerator.from_pretrained(folder)


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        assert im.info.get("loop") == 0                  # loops forever
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


def test_turntable_sweeps_the_yaw_range_end_to_end():
    r = cams.CameraRange(yaw_deg=25.0, pitch_deg=10.0)
    yaw, pitch = cams.yaw_pitch(turntable_cameras(r, 7, pitch_deg=5.0))
    assert torch.allclose(yaw[[0, -1]], torch.tensor([-25.0, 25.0]), atol=1e-4)
    assert torch.all(yaw.diff() > 0) and torch.allclose(pitch, torch.full((7,), 5.0), atol=1e-4)
    with pytest.raises(ValueError, match="outside the model's camera range"):
        turntable_cameras(r, 7, pitch_deg=11.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        turntable_cameras(r, 1)


def test_turntable_frames_are_the_views_side_by_side(g3d):
    _, G = g3d
    ws = G.map(G.z_from_seeds([1, 2]), psi=0.7)                   # (2, w_dim)
    frames = turntable(G, ws, frames=5, batch_size=2)              # 3 render calls, the last one short
    assert frames.shape == (5, 3, 16, 32)
    c = turntable_cameras(G.config.camera_range, 5)
    for f in (0, 4):
        alone = G.synthesize(ws, c[[f, f]], noise_mode="const")    # (2, 3, 16, 16)
        assert torch.allclose(frames[f], torch.cat(list(alone), dim=-1), atol=1e-5)
    assert (frames[0] - frames[-1]).abs().max() > 1e-3             # the view turns


def test_save_gif_writes_every_frame(tmp_path):
    frames = torch.linspace(-1, 1, 4)[:, None, None, None].expand(4, 3, 6, 10)
    path = save_gif(frames, tmp_path / "a" / "x.gif", frame_ms=50)
    got = gif_frames(path)
    assert len(got) == 4 and got[0].shape == (6, 10, 3)
    with Image.open(path) as im:
        assert im.info["duration"] == 50


def test_sample3d_writes_a_turntable_gif(g3d, tmp_path, capsys):
    folder, G = g3d
    out = tmp_path / "new" / "head.gif"
    assert cli.main(["sample3d", "--model", str(folder), "--seed", "3", "--frames", "6", "--out", str(out)]) == 0
    frames = gif_frames(out)
    assert len(frames) == 6 and frames[0].shape == (16, 16, 3)
    expected = turntable(G, G.map(G.z_from_seeds([3]), psi=0.7), frames=6)
    expected = ((expected + 1) * 127.5).clamp(0, 255).permute(0, 2, 3, 1).numpy()
    # GIF rounds each frame to a 256-colour palette; a 16 x 16 frame has at most 256 colours, so nearly exact
    assert np.abs(np.stack(frames).astype(float) - expected).mean() < 2.0
    assert "6-frame turntable" in capsys.readouterr().out


def test_resample3d_with_t0_keeps_the_head(g3d, tmp_path):
    folder, G = g3d
    out = tmp_path / "strip.gif"
    assert cli.main(["resample3d", "--model", str(folder), "--link", "mouth", "--seed", "3", "--new-seed", "7",
                     "--t", "0", "1", "--frames", "4", "--out", str(out)]) == 0
    frames = gif_frames(out)
    assert len(frames) == 4 and frames[0].shape == (16, 48, 3)     # original | t=0 | t=1
    for f in frames:
        assert np.array_equal(f[:, :16], f[:, 16:32])              # t = 0 is the original, in every view
    assert any(not np.array_equal(f[:, :16], f[:, 32:]) for f in frames)

    # the library's codes behind it: t = 0 leaves them as they are, t = 1 moves only the link's axes
    w = G.map(G.z_from_seeds([3]), psi=0.7)
    w_new = G.map(G.z_from_seeds([7]))
    link = generator_links(G)["mouth"]
    assert torch.equal(resample(w, w_new, [link], 0.0), w)
    assert torch.equal(resample(w, w_new, [link], 1.0)[:, 8:], w[:, 8:])


@pytest.mark.parametrize("argv, message", [
    (["resample3d", "--link", "nose", "--new-seed", "1"], "no link(s) ['nose']"),
    (["resample3d", "--link", "mouth", "--new-seed", "1", "--t", "2"], "[0, 1]"),
    (["sample3d", "--pitch", "40"], "outside the model's camera range"),
])
def test_3d_commands_reject_bad_input(g3d, tmp_path, capsys, argv, message):
    folder, _ = g3d
    assert cli.main([*argv, "--model", str(folder), "--out", str(tmp_path / "x.gif")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()


def test_3d_commands_need_a_3d_model(g3d, tmp_path, capsys, tiny_g_config):
    out = str(tmp_path / "x.gif")
    assert cli.main(["sample3d", "--out", out]) == 2                            # --model is required
    assert "--model" in capsys.readouterr().err
    assert cli.main(["sample3d", "--model", "heads3d64-linked", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "no 3D model ships yet" in err and "training/recipes/heads3d.sh" in err
    folder2d = Generator(tiny_g_config).save_pretrained(tmp_path / "g2d")
    assert cli.main(["resample3d", "--model", str(folder2d), "--link", "mouth", "--new-seed", "1", "--out", out]) == 2
    assert "is a 2D generator (Generator)" in capsys.readouterr().err
    # and the reverse: a 3D model given to a 2D command names the 3D commands
    folder3d, _ = g3d
    assert cli.main(["sample", "--model", str(folder3d), "--out", str(tmp_path / "x.png")]) == 2
    assert "use sample3d / resample3d" in capsys.readouterr().err
