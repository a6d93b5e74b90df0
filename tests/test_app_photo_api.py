"""The Photo tab's API (/invert_photo) on the running app: a PNG upload becomes the session's current image that
/region then edits; bad uploads and the tiny generator's missing encoder give clear errors while the server
keeps serving."""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402

from app_server import client, slider_images  # noqa: E402
from hostile_images import chunk, png, tiff  # noqa: E402


@pytest.fixture(scope="module")
def photo_png(tmp_path_factory) -> str:
    """A non-square RGBA PNG (the app crops the centre square and composites the transparency)."""
    rng = np.random.default_rng(0)
    rgba = np.concatenate([rng.integers(0, 256, (48, 40, 3)), np.full((48, 40, 1), 255)], axis=2).astype(np.uint8)
    path = tmp_path_factory.mktemp("photo") / "face.png"
    Image.fromarray(rgba, "RGBA").save(path)
    return str(path)


def test_invert_photo_is_a_named_api(app_server):
    names = client(app_server).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/invert_photo" in names


def test_uploaded_photo_becomes_the_image_the_edit_tabs_edit(app_server, photo_png, expected):
    c = client(app_server)
    img, hist = c.predict(handle_file(photo_png), "optimize", 10, api_name="/invert_photo")
    assert hist.startswith('0. start: {"kind": "photo", "method": "optimize", "space": "w", "steps": 10')
    assert '"perceptual": "vgg16-' in hist                          # which LPIPS backbone the fit used
    assert Image.open(img).size == (expected.resolution,) * 2       # sent small, enlarged by the page
    target, after = slider_images(c.predict(handle_file(photo_png), api_name="/photo_compare"))
    assert np.array_equal(np.asarray(Image.open(after)), np.asarray(Image.open(img)))
    assert Image.open(target).size == (expected.resolution,) * 2    # the photo as the generator sees it
    img2, hist2 = c.predict(["eyes"], 9, 1.0, api_name="/region")
    assert "1. region" in hist2 and hist2.startswith('0. start: {"kind": "photo"')
    assert not np.array_equal(np.asarray(Image.open(img2)), np.asarray(Image.open(img)))


@pytest.mark.parametrize("content, method, message", [
    (b"%PDF-1.4 this is not a picture", "optimize", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "optimize", "cannot use this upload"),      # truncated PNG
    (b"", "optimize", "empty"),
    (png(7999, 7999, bit_depth=16, rows=False), "optimize", "too large to decode here"),     # 1.7 GB before
    (tiff(7999, 7999, bits=32, sample_format=3), "optimize", "too large to decode here"),    # a float TIFF
    (png(64, 64, extra=chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 3_000_000))), "optimize", "its metadata"),
    (None, "encoder", "no encoder for this generator.*use the optimize method"),   # the tiny server has none
])
def test_bad_uploads_give_a_clear_error_and_the_server_keeps_serving(app_server, photo_png, expected, tmp_path, content,
                                                                     method, message):
    if method == "encoder" and os.environ.get("APP_TEST_MODEL"):
        pytest.skip("the served model is not the tiny one: it may have an encoder")
    c = client(app_server)
    path = photo_png
    if content is not None:
        path = str(tmp_path / "upload.png")
        with open(path, "wb") as f:
            f.write(content)
    with pytest.raises(Exception, match=message) as e:
        c.predict(handle_file(path), method, 10, api_name="/invert_photo")
    assert "Traceback" not in str(e.value) and str(app_server.cache) not in str(e.value)     # no server paths
    assert app_server.alive()
    img, hist = c.predict(handle_file(photo_png), "optimize", 10, api_name="/invert_photo")
    assert Image.open(img).size == (expected.resolution,) * 2 and '"kind": "photo"' in hist
