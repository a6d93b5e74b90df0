"""The latent file (`.npz`) of LinkGAN Studio: the exact W+ code of an image, its style offset and the edit history.
The app, the command line (`invert --out`, `--latent`) and the Python API write and read this one format; the
reader also takes the older files of `linkgan invert` (ws (B, num_ws, w_dim), noise maps, method, model), whose
first code it returns with their method as the source.

Written by `write_latent`, read by `read_latent`, which trusts nothing in the file: each member's declared size, dtype
and shape are checked from the zip and .npy headers before a byte of its data is inflated (a 1 MB zip can declare
gigabytes), and the values must be finite and of a plausible magnitude. Every problem raises `LatentFileError`.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np

LATENT_FORMAT = "linkgan-latent/1"
MAX_FILE_BYTES = 4_000_000     # a 18 x 512 StyleGAN2 code, its style offset and a long history take ~200 KB
MAX_META_CHARS = 200_000       # the JSON history: ~100 chars per edit
# Mapped codes of the default generator stay within |w| < 12 (psi 1, 200 seeds) and edits move them by a few units;
# values far beyond render a blank image (1e30 gave a white one), so they are refused as a damaged file.
MAX_ABS_VALUE = 1000.0
_HEADER_BYTES = 4096           # an .npy header is 64-byte aligned text; numpy itself caps it at 10,000


class LatentFileError(ValueError):
    """A latent file that cannot be used; the message says why, for the user."""


def write_latent(ws: np.ndarray, base: np.ndarray, meta: dict, s_offset: np.ndarray | None = None) -> bytes:
    """npz bytes: ws and base (num_ws, w_dim) float32, s_offset (n,) float32 or None, meta (a JSON object)."""
    arrays = {"ws": np.asarray(ws, np.float32), "base": np.asarray(base, np.float32),
              "meta": np.array(json.dumps({"format": LATENT_FORMAT, **meta}))}
    if s_offset is not None:
        arrays["s_offset"] = np.asarray(s_offset, np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _header(f, name: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran order) of an .npy stream, having read only its header."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_HEADER_BYTES)
        else:
            raise ValueError(f"npy version {version}")
    except ValueError as e:
        raise LatentFileError(f"its {name} is not a numpy array ({e})") from None
    return dtype, shape, fortran


def _member(zf: zipfile.ZipFile, name: str, check) -> np.ndarray:
    """The array `name`.npy of the archive: check(dtype, shape) -> the most bytes its data may take, or raises;
    the declared size is checked first, then the header, and only then is the data read (at most that many bytes)."""
    info = zf.getinfo(f"{name}.npy")
    if info.file_size > MAX_FILE_BYTES:
        raise LatentFileError(f"its {name} declares {info.file_size:,} bytes unpacked (a latent file's parts take "
                              f"kilobytes): refused before unpacking")
    with zf.open(info) as f:
        dtype, shape, fortran = _header(f, name)
        limit = check(dtype, shape)
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize > limit:
            raise LatentFileError(f"its {name} ({shape}, {dtype}) is larger than any latent")
        data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise LatentFileError(f"its {name} is truncated")
    # numpy writes Fortran order for arrays that are only F-contiguous (a broadcast code, stride 0 over the rows)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _floats(name: str, shape: tuple[int, ...]):
    """A check for _member: a real floating-point array of exactly `shape`."""
    def check(dtype: np.dtype, got: tuple[int, ...]) -> int:
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise LatentFileError(f"its {name} holds {dtype} values; a latent is floating point (float32)")
        if tuple(got) != tuple(shape):
            raise LatentFileError(f"its {name} has shape {tuple(got)}, this generator's is {tuple(shape)}: the file "
                                  f"was saved for another generator")
        return int(np.prod(shape)) * 8
    return check


def _text(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    """A check for _member: one unicode string of at most MAX_META_CHARS."""
    if dtype.kind != "U" or tuple(shape) != ():
        raise LatentFileError(f"its meta is {dtype} of shape {tuple(shape)}, not a text")
    if dtype.itemsize > 4 * MAX_META_CHARS:
        raise LatentFileError(f"its meta is longer than {MAX_META_CHARS:,} characters")
    return 4 * MAX_META_CHARS


def _values(a: np.ndarray, name: str) -> np.ndarray:
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise LatentFileError(f"its {name} holds non-finite values (inf or nan)")
    if a.size and float(np.abs(a).max()) > MAX_ABS_VALUE:
        raise LatentFileError(f"its {name} holds values up to {float(np.abs(a).max()):.3g}, far outside any latent "
                              f"(|value| <= {MAX_ABS_VALUE:g})")
    return a


def _legacy_invert_code(zf: zipfile.ZipFile, names: set[str], ws_shape: tuple[int, int]) -> dict:
    """A file of the older `linkgan invert` layout: its first code, and its method, space and model as the source."""
    def codes(dtype: np.dtype, got: tuple[int, ...]) -> int:
        if len(got) != 3 or not 1 <= got[0] <= 64:
            raise LatentFileError(f"its ws has shape {tuple(got)}, not (codes, num_ws, w_dim)")
        return _floats("ws", (got[0], *ws_shape))(dtype, got)
    ws = _values(_member(zf, "ws", codes)[0], "ws")
    text = {k: str(_member(zf, k, _text)[()])[:200] for k in ("method", "space", "model") if f"{k}.npy" in names}
    source = {"kind": "photo", **{k: v for k, v in text.items() if k != "model"}}
    return {"ws": ws, "s_offset": None, "meta": {"format": LATENT_FORMAT, "generator": text.get("model"),
                                                 "noise_mode": "const", "source": source, "edits": []}}


def read_latent(data: bytes, *, ws_shape: tuple[int, int], offset_size: int, generator: str | None = None) -> dict:
    """write_latent's bytes -> {"ws": (num_ws, w_dim) float32, "s_offset": (offset_size,) float32 or None, "meta":
    dict}. ws_shape / offset_size: the generator's; generator: its name, which the file's must equal (None: any)."""
    if not data:
        raise LatentFileError("the file is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise LatentFileError(f"the file is over {MAX_FILE_BYTES:,} bytes; latent files are small (kilobytes)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "ws.npy" in names and "meta.npy" not in names:              # the older invert layout
                return _legacy_invert_code(zf, names, ws_shape)
            if not {"ws.npy", "meta.npy"} <= names:
                raise LatentFileError("it has no ws (latent code) or meta (format and history)")
            text = str(_member(zf, "meta", _text)[()])
            ws = _values(_member(zf, "ws", _floats("ws", ws_shape)), "ws")
            s_offset = None
            if "s_offset.npy" in names:
                s_offset = _values(_member(zf, "s_offset", _floats("style offset", (offset_size,))), "style offset")
    except LatentFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, ValueError, KeyError) as e:
        # a damaged or encrypted archive, a bad CRC, a member that ends early: the reason without paths
        raise LatentFileError(f"the archive is damaged ({type(e).__name__}: {str(e)[:200]})") from None
    try:
        meta = json.loads(text)
    except ValueError:
        raise LatentFileError("its meta is not JSON") from None
    if not isinstance(meta, dict):
        raise LatentFileError(f"its meta is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != LATENT_FORMAT:
        raise LatentFileError(f"format {str(meta.get('format'))[:80]!r}, not {LATENT_FORMAT!r}")
    if not isinstance(meta.get("edits", []), list):
        raise LatentFileError("its edit history is not a list")
    saved_for = meta.get("generator")
    if generator is not None and saved_for != generator:
        raise LatentFileError(f"it was saved for the generator {str(saved_for)[:200]!r}, this app runs "
                              f"{generator!r}: the same code would give another image")
    return {"ws": ws, "s_offset": s_offset, "meta": meta}
