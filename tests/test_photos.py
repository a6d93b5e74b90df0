"""Photo loading (linkgan/photos.py): every PIL mode, EXIF orientation, aspect ratios, and a clear PhotoError for
every bad upload (empty, non-image, truncated, too small, decompression bomb), after which a good one still works."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from hostile_images import chunk, png, tiff
from linkgan.photos import PhotoError, load_photo


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _check(x: torch.Tensor, size: int = 16) -> None:
    assert x.shape == (1, 3, size, size) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def _rgb_at(x: torch.Tensor, i: int, j: int) -> list[int]:
    return [round(float(v)) for v in (x[0, :, i, j] + 1) * 127.5]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA", "1", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_every_mode_loads(mode, tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8), "RGB")
    if mode == "I;16":
        img = Image.fromarray(np.full((20, 24), 65535, np.uint16))     # numpy uint16 -> "I;16"
        assert img.mode == "I;16"
    elif mode == "I":
        img = Image.fromarray(np.full((20, 24), 65535, np.int32))
    elif mode == "F":
        img = Image.fromarray(np.full((20, 24), 1.0, np.float32))
    else:
        img = rgb.convert(mode)
    x = load_photo(img, 16)
    _check(x)
    if mode in ("I;16", "I", "F"):
        assert _rgb_at(x, 8, 8) == [255, 255, 255]                   # full-scale values map to white


def test_transparency_is_composited_on_white():
    a = np.zeros((16, 16, 4), np.uint8)
    a[:, :8] = (255, 0, 0, 255)                                      # left half opaque red, right half clear
    x = load_photo(Image.fromarray(a, "RGBA"), 16)
    assert _rgb_at(x, 8, 2) == [255, 0, 0] and _rgb_at(x, 8, 13) == [255, 255, 255]
    la = Image.fromarray(np.dstack([np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)]), "LA")
    assert _rgb_at(load_photo(la, 16), 5, 5) == [255, 255, 255]      # fully transparent black -> white
    p = Image.fromarray(a, "RGBA").convert("P")
    p.info["transparency"] = p.getpixel((13, 8))
    assert _rgb_at(load_photo(p, 16), 8, 13) == [255, 255, 255]


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((16, 32, 3), np.uint8)
    a[:, :16] = (0, 0, 255)                                          # left blue, right black; wide
    img = Image.fromarray(a, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    x = load_photo(path, 16, mode="pad")
    # displayed: tall (16 wide, 32 high) with blue on top; padded into 32 x 32 with white at the sides
    assert _rgb_at(x, 3, 8)[2] > 200 and _rgb_at(x, 3, 8)[0] < 60
    assert _rgb_at(x, 12, 8)[2] < 60
    assert _rgb_at(x, 8, 0) == [255, 255, 255]


def test_aspect_ratio_crop_and_pad():
    a = np.zeros((10, 40, 3), np.uint8)
    a[:, 15:25] = 255                                                # a white band in the middle of a wide photo
    img = Image.fromarray(a, "RGB")
    crop = load_photo(img, 16, mode="crop")                          # centre 10 x 10: columns 15..24 all white
    assert float(crop.min()) > 0.9
    pad = load_photo(img, 16, mode="pad", background=(0, 0, 0))
    assert _rgb_at(pad, 1, 8) == [0, 0, 0] and _rgb_at(pad, 8, 8) == [255, 255, 255]
    with pytest.raises(ValueError, match="crop"):
        load_photo(img, 16, mode="stretch")


def test_every_bad_upload_is_a_clear_error_then_a_good_one_works(tmp_path):
    good = _png_bytes(Image.new("RGB", (32, 24), (10, 200, 30)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    cases = [
        (b"", "empty"),
        (empty, "empty"),
        (tmp_path / "missing.png", "cannot read"),
        (text, "not an image"),
        (good[: len(good) // 2], "damaged or truncated"),
        (_png_bytes(Image.new("RGB", (1, 1))), "too small"),
        (_png_bytes(Image.new("RGB", (40, 7))), "too small"),
        (png(30000, 30000, colour=2, rows=False), "too large"),     # 900 M pixels: above Pillow's own limit
        (png(9000, 8000, colour=2, rows=False), "too large"),       # 72 M pixels: above ours
    ]
    for src, words in cases:
        with pytest.raises(PhotoError, match=words):
            load_photo(src, 16)
    with pytest.raises(PhotoError, match="too large"):
        load_photo(good, 16, max_pixels=100)                         # a low limit set by the caller
    assert issubclass(PhotoError, ValueError)
    x = load_photo(good, 16)
    _check(x)
    assert _rgb_at(x, 8, 8) == [10, 200, 30]
    with open(tmp_path / "good.png", "wb") as f:
        f.write(good)
    with open(tmp_path / "good.png", "rb") as f:                     # a binary file object works too
        assert torch.equal(load_photo(f, 16), x)


def _peak_rss_during(fn):
    """(result or exception, extra resident memory at the peak in bytes, seconds) of fn(), sampling every 2 ms."""
    import threading
    import time

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    base, peak, done = rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)
    t = threading.Thread(target=sample)
    t.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - returned for the caller to check
        out = e
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    return out, max(peak[0], rss()) - base, seconds


@pytest.mark.parametrize("make, outcome", [
    (lambda: png(7999, 7999, bit_depth=16, rows=False), "too large to decode here.*I;16"),   # 124 KB took 1.7 GB
    (lambda: tiff(7999, 7999, bits=32, sample_format=3), "too large to decode here.*mode F"),  # float TIFF: 1.9 GB
    (lambda: tiff(7999, 7999, bits=16, sample_format=1), "too large to decode here"),
    (lambda: png(6000, 6000, colour=2), "too large to decode here.*RGB"),         # 36 Mpx RGB: 144 MB decoded
    (lambda: png(7000, 7000), None),                                                 # 49 Mpx grey: decoded, reduced
    (lambda: png(2000, 2000, bit_depth=16), None),                                 # 16-bit grey within the limit
    (lambda: png(64, 64, extra=chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 3_000_000))), "its metadata"),
    (lambda: png(64, 64, extra=chunk(b"iCCP", b"p\0\0" + zlib.compress(b"a" * 3_000_000))), "colour-profile"),
    (lambda: png(64, 64, extra=chunk(b"tEXt", b"k\0" + b"a" * 3_000_000)), None),     # plain text: not unpacked
])
def test_hostile_images_cost_little_memory_and_time(make, outcome):
    data = make()
    out, extra, seconds = _peak_rss_during(lambda: load_photo(data, 64))
    if outcome is None:
        assert isinstance(out, torch.Tensor) and out.shape == (1, 3, 64, 64), out
    else:
        assert isinstance(out, PhotoError) and __import__("re").search(outcome, str(out)), out
    assert extra < 200e6 and seconds < 2.0, (extra / 1e6, seconds)


def test_a_float_tiff_and_a_big_jpeg_load(tmp_path):
    ramp = np.linspace(0, 1, 600 * 500, dtype=np.float32).reshape(600, 500)
    Image.fromarray(ramp, "F").save(tmp_path / "float.tif")
    x = load_photo(tmp_path / "float.tif", 16)
    assert _rgb_at(x, 15, 8)[0] > _rgb_at(x, 0, 8)[0] + 100          # dark at the top, light at the bottom
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(tmp_path / "big.jpg", quality=90)
    out, extra, seconds = _peak_rss_during(lambda: load_photo(tmp_path / "big.jpg", 64))
    assert out.shape == (1, 3, 64, 64) and abs(_rgb_at(out, 30, 30)[0] - 200) < 8
    assert extra < 50e6 and seconds < 1.0, (extra / 1e6, seconds)    # decoded at 1/8 scale: 0.4 Mpx
