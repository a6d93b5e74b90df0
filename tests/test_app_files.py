"""The files the app hands to Gradio (app.OutputFiles): a new file per output, never rewritten, removed after
max_age_s; and the limits the app launches with (Gradio cache sweeping)."""
from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

import app


def test_each_output_is_a_new_file_and_old_ones_are_removed(tmp_path):
    files = app.OutputFiles(tmp_path / "out", max_age_s=60)
    img = Image.fromarray(np.full((8, 8, 3), 7, np.uint8))
    a, b = files.png(img), files.png(img)                       # the same picture twice: two files
    assert a != b and open(a, "rb").read() == open(b, "rb").read()
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(img))
    folder = files.folder()
    (folder / "linkgan.png").write_bytes(b"x")
    assert files.prune(now=time.time() + 30) == 0               # young: kept (and at most one sweep a second)
    old = time.time() - 120
    for path in (a, folder):
        os.utime(path, (old, old))
    assert files.prune(now=time.time() + 40) == 2                # a and the folder are 160 s old by then
    assert sorted(os.listdir(tmp_path / "out")) == [os.path.basename(b)]


def test_the_app_sweeps_gradios_cache(tmp_path):
    from app_server import tiny_studio

    every, age = app.build_app(tiny_studio()).delete_cache
    assert every <= 3600 and age >= app.OutputFiles(tmp_path).max_age_s      # never before clients fetched them


def test_a_keyed_picture_is_made_once_and_handed_out_again(tmp_path):
    files = app.OutputFiles(tmp_path / "out", max_age_s=60, memo_size=2)
    made = []

    def make(v):
        return lambda: made.append(v) or Image.fromarray(np.full((4, 4, 3), v, np.uint8))
    a = files.png(make(1), key=b"a")
    old = time.time() - 50
    os.utime(a, (old, old))
    assert files.png(make(1), key=b"a") == a and made == [1]        # no second render, and its age restarts
    assert time.time() - os.stat(a).st_mtime < 5
    os.unlink(a)                                                     # removed (e.g. by Gradio's cache sweep)
    a2 = files.png(make(1), key=b"a")
    assert a2 != a and os.path.exists(a2) and made == [1, 1]
    files.png(make(2), key=b"b"), files.png(make(3), key=b"c")     # memo_size 2: "a" is forgotten
    files.png(make(1), key=b"a")
    assert made == [1, 1, 2, 3, 1]
