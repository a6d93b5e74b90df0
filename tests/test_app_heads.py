"""The app's 3D tab (linkgan.studio.heads, app._heads_tab) through its named APIs on a tiny tri-plane generator:
a head from any camera of the range, region resampling that changes only the linked axes of the code and shows
in every view, the turntable (start | now), undo, latent files, and clear messages for views outside the range or
a latent file of another generator. Without a 3D generator the tab says how to get one."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402

import app  # noqa: E402
from app_server import LINKS3D, client, pixels, tiny_generator3d  # noqa: E402
from linkgan.links import links_from_specs  # noqa: E402
from linkgan.render3d import TURNTABLE_FRAMES  # noqa: E402
from linkgan.studio import StudioError  # noqa: E402
from linkgan.studio.heads import Studio3D  # noqa: E402


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


@pytest.fixture(scope="module")
def studio3d(tmp_path_factory) -> Studio3D:
    return Studio3D.load(str(tiny_generator3d(tmp_path_factory.mktemp("g3d") / "tiny-3d")))


def test_a_region_edit_moves_only_the_links_axes_and_shows_in_every_view(studio3d):
    s = studio3d.generate(3, 0.7)
    edited = studio3d.region(s, ["mouth"], 7, 1.0)
    before, after = studio3d.current_ws(s), studio3d.current_ws(edited)
    axes = links_from_specs(LINKS3D)[0].axis_mask(before.shape[1]).numpy()
    assert np.array_equal(before[:, ~axes], after[:, ~axes]) and not np.allclose(before[:, axes], after[:, axes])
    r = studio3d.camera_range
    for yaw, pitch in [(-r.yaw_deg, -r.pitch_deg), (0, 0), (r.yaw_deg, r.pitch_deg)]:
        assert not np.array_equal(np.asarray(studio3d.view(s, yaw, pitch)),
                                  np.asarray(studio3d.view(edited, yaw, pitch)))
    unchanged = studio3d.region(s, ["mouth"], 7, 0.0)
    assert np.array_equal(np.asarray(studio3d.view(unchanged)), np.asarray(studio3d.view(s)))
    with pytest.raises(StudioError, match="yaw must be between"):
        studio3d.view(s, r.yaw_deg + 1, 0)
    with pytest.raises(StudioError, match="unknown region"):
        studio3d.region(s, ["hair"], 7, 1.0)


def test_the_turntable_shows_start_and_now_side_by_side(studio3d):
    s = studio3d.generate(3, 0.7)
    alone = gif_frames(io.BytesIO(studio3d.turntable_gif(s, frames=4)))
    assert len(alone) == 4 and alone[0].shape == (16, 16, 3)
    edited = studio3d.region(s, ["eyes"], 9, 1.0)
    pair = gif_frames(io.BytesIO(studio3d.turntable_gif(edited, frames=4)))
    assert len(pair) == 4 and pair[0].shape == (16, 32, 3)
    left = pair[0][:, :16].astype(int)
    assert np.abs(left - alone[0].astype(int)).max() <= 8                        # the start (GIF palette rounding)
    with pytest.raises(StudioError, match="pitch must be between"):
        studio3d.turntable_gif(s, pitch=90)


def test_latent_files_round_trip_and_refuse_another_generator(studio3d, expected):
    edited = studio3d.region(studio3d.generate(3, 0.7), ["mouth"], 7, 1.0)
    back = studio3d.load_latent(studio3d.save_latent(edited))
    assert np.array_equal(np.asarray(studio3d.view(back, 10, 5)), np.asarray(studio3d.view(edited, 10, 5)))
    with pytest.raises(StudioError, match="not a latent file saved by LinkGAN Studio for this generator"):
        studio3d.load_latent(expected.save_latent(expected.generate(3, 0.7)))       # a 2D face's file


def test_every_3d_api_end_to_end(app_server, expected3d):
    c = client(app_server)
    names = set(c.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/generate3d", "/view3d", "/region3d", "/undo3d", "/turntable3d", "/download3d", "/load_latent3d"} <= names
    img, hist = c.predict(5, 0.7, 10.0, -5.0, api_name="/generate3d")
    s = expected3d.generate(5, 0.7)
    assert img.endswith(".png") and hist.startswith("0. start")
    assert np.array_equal(pixels(img), np.asarray(expected3d.view(s, 10.0, -5.0)))
    side = c.predict(-30.0, 15.0, api_name="/view3d")
    assert np.array_equal(pixels(side), np.asarray(expected3d.view(s, -30.0, 15.0)))
    assert len(gif_frames(c.predict(0.0, api_name="/turntable3d"))) == TURNTABLE_FRAMES
    img2, hist = c.predict(["mouth"], 9, 1.0, 10.0, -5.0, api_name="/region3d")
    assert "1. region" in hist and not np.array_equal(pixels(img2), pixels(img))
    frames = gif_frames(c.predict(0.0, api_name="/turntable3d"))
    assert frames[0].shape[1] == 2 * frames[0].shape[0]                           # start | now
    png, npz = c.predict(10.0, -5.0, api_name="/download3d")
    assert np.array_equal(pixels(png), pixels(img2))
    img3, hist = c.predict(10.0, -5.0, api_name="/undo3d")
    assert np.array_equal(pixels(img3), pixels(img)) and "region" not in hist
    img4, hist = c.predict(handle_file(npz), 10.0, -5.0, api_name="/load_latent3d")
    assert np.array_equal(pixels(img4), pixels(img2)) and '"kind": "file"' in hist
    with pytest.raises(Exception, match="yaw must be between -30 and 30"):
        c.predict(45.0, 0.0, api_name="/view3d")
    c.predict(3, 0.7, api_name="/generate")
    _, npz2d = c.predict(api_name="/download")                                    # a 2D face's latent file
    with pytest.raises(Exception, match="not a latent file saved by LinkGAN Studio for this generator"):
        c.predict(handle_file(npz2d), 0.0, 0.0, api_name="/load_latent3d")
    assert np.array_equal(pixels(c.predict(10.0, -5.0, api_name="/view3d")), pixels(img4))     # the head is kept

def test_without_a_3d_generator_the_tab_says_how_to_get_one(expected):
    demo = app.build_app(expected)
    texts = [b.get("props", {}).get("value") for b in demo.config["components"] if b.get("props", {}).get("elem_id")
             == "heads-missing"]
    assert texts and "heads3d.sh" in texts[0]
    studio3d, why = app.load_studio3d("no-such-3d-model", "cpu")
    assert studio3d is None and "was not found" in why
    assert app.load_studio3d("none", "cpu") == (None, "The 3D tab is off (--model3d none).")
