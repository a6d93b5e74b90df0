"""The latent file (linkgan.latentfile) under hostile uploads: sizes, dtypes and shapes are checked from the zip and
.npy headers before anything is unpacked; damaged, absurd or foreign latents get a clear message."""
from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from app_server import tiny_studio
from linkgan.latentfile import LATENT_FORMAT, LatentFileError, read_latent, write_latent
from linkgan.studio import StudioError


@pytest.fixture(scope="module")
def studio():
    return tiny_studio()


def npz(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    """An npz of {name: array, or raw bytes of the .npy member}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, value in members.items():
            if isinstance(value, bytes):
                zf.writestr(f"{name}.npy", value)
            else:
                with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return buf.getvalue()


def meta(**kw) -> np.ndarray:
    return np.array(json.dumps({"format": LATENT_FORMAT, "generator": "tiny", "source": None, "edits": [], **kw}))


def good(studio, **kw) -> dict:
    s = studio.generate(4, 0.7)
    return {"ws": studio.current_ws(s), "meta": meta(), **kw}


def test_write_read_round_trip(studio):
    s = studio.region(studio.generate(4, 0.7), ["eyes"], 2, 1.0)
    f = read_latent(studio.save_latent(s), ws_shape=(studio.G.num_ws, 32), offset_size=5, generator="tiny")
    assert np.array_equal(f["ws"], studio.current_ws(s)) and f["s_offset"] is None
    assert f["meta"]["edits"][0]["kind"] == "region" and f["meta"]["format"] == LATENT_FORMAT
    assert write_latent(f["ws"], f["ws"], {"generator": "tiny"})[:2] == b"PK"


def zip_bomb(studio) -> bytes:
    """400 MB of zeros in ws.npy (a valid header declaring a huge float32 array), deflated to 400 KB (the old reader
    unpacked every member before looking at it: 1.3 GB for a 1 MB file)."""
    n = 400_000_000 // 4
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.npy", npz_member(meta()))
        with zf.open("ws.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            block = bytes(16 << 20)
            for _ in range(n * 4 // len(block)):
                f.write(block)
    return buf.getvalue()


def npz_member(a) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, np.asanyarray(a), allow_pickle=False)
    return b.getvalue()


def small_header_bomb() -> bytes:
    """ws.npy whose header says (10, 32) float32 but whose zip entry inflates to 64 MB: the declared size is refused."""
    data = npz_member(np.zeros((10, 32), np.float32)) + bytes(64 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.npy", npz_member(meta()))
        zf.writestr("ws.npy", data)
    return buf.getvalue()


@pytest.mark.parametrize("make", [zip_bomb, lambda studio: small_header_bomb()], ids=["header", "declared-size"])
def test_zip_bombs_are_refused_before_unpacking(studio, make):
    data = make(studio)
    assert len(data) < 3_000_000
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(StudioError, match="refused before unpacking|larger than any latent|shape"):
        studio.load_latent(data)
    seconds, peak = time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6 and seconds < 2.0, (peak, seconds)


@pytest.mark.parametrize("change, message", [
    (lambda m, st: {**m, "ws": m["ws"].astype(np.int8)}, "int8 values; a latent is floating point"),
    (lambda m, st: {**m, "ws": m["ws"].astype(np.complex64)}, "complex64 values"),
    (lambda m, st: {**m, "ws": np.full_like(m["ws"], 1e30)}, "values up to 1e\\+30, far outside any latent"),
    (lambda m, st: {**m, "ws": np.where(np.arange(32) == 3, np.inf, m["ws"])}, "non-finite"),
    (lambda m, st: {**m, "ws": m["ws"][:, :16]}, r"shape \(\d+, 16\), this generator's is .*another generator"),
    (lambda m, st: {**m, "ws": m["ws"][:1]}, "another generator"),
    (lambda m, st: {**m, "meta": meta(generator="toyfaces64-linked")},
     "saved for the generator 'toyfaces64-linked', this app runs 'tiny'"),
    (lambda m, st: {**m, "meta": np.array(json.dumps([1, 2]))}, "meta is a JSON list, not an object"),
    (lambda m, st: {**m, "meta": np.array("{not json")}, "meta is not JSON"),
    (lambda m, st: {**m, "meta": np.arange(3)}, "not a text"),
    (lambda m, st: {**m, "meta": meta(format="other/2")}, "format 'other/2'"),
    (lambda m, st: {**m, "meta": meta(edits={"a": 1})}, "history is not a list"),
    (lambda m, st: {"meta": m["meta"]}, "no ws"),
    (lambda m, st: {**m, "s_offset": np.zeros(7, np.float32)}, r"style offset has shape \(7,\)"),
    (lambda m, st: {**m, "ws": np.zeros(m["ws"].shape, [("a", "<f4")])}, "values; a latent is floating point"),
])
def test_bad_latents_get_a_clear_message(studio, change, message):
    with pytest.raises(StudioError, match=message):
        studio.load_latent(npz(change(good(studio), studio)))


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"PK\x03\x04" + b"\xff" * 64, "the archive is damaged"),
    (b"\0" * 5_000_000, "latent files are small"),
])
def test_damaged_files(studio, data, message):
    with pytest.raises(StudioError, match=message) as e:
        studio.load_latent(data)
    assert "/tmp" not in str(e.value)


def test_a_float64_latent_of_the_right_shape_loads(studio):
    m = good(studio)
    back = studio.load_latent(npz({**m, "ws": m["ws"].astype(np.float64)}, zipfile.ZIP_DEFLATED))
    assert np.array_equal(studio.current_ws(back), m["ws"])
    with pytest.raises(LatentFileError, match="saved for the generator"):
        read_latent(npz(m), ws_shape=m["ws"].shape, offset_size=1, generator="other")
