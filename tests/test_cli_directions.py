"""Tests of `python -m linkgan directions` and `edit --method sefa|...` on a tiny generator folder."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from app_server import tiny_generator
from linkgan import cli
from linkgan.directions import Directions
from linkgan.networks import Generator


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return tiny_generator(tmp_path_factory.mktemp("dirs") / "gen")


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("method, extra", [("sefa", []), ("ganspace", ["--samples", "300", "--count", "5"]),
                                           ("ganspace", ["--samples", "300", "--rows", "0-2"])])
def test_directions_then_edit(gen, tmp_path, capsys, method, extra):
    out = tmp_path / f"{method}.safetensors"
    code, text, err = run(["directions", "--method", method, "--model", gen, "--out", out, *extra], capsys)
    assert code == 0, err
    assert f"{method} directions" in text
    dirs = Directions.load(out)
    assert dirs.method == method and dirs.meta["model"] == str(gen)
    if "--rows" in extra:
        assert dirs.rows[0] == (0, 1, 2)
    png = tmp_path / "edit.png"
    code, text, err = run(["edit", "--method", method, "--directions", out, "--direction", "1", "--strength", "3",
                           "--model", gen, "--seed", "4", "--out", png], capsys)
    assert code == 0, err
    img = np.asarray(Image.open(png))
    assert img.shape == (16, 32, 3)
    with torch.no_grad():                                         # the right half is the library's edit
        G = Generator.from_pretrained(gen)
        ws = G.broadcast(G.map(G.z_from_seeds([4]), psi=0.7))
        want = dirs.render(G, ws, 1, 3.0)
    got = torch.from_numpy(img[:, 16:].copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert (got - want[0].clamp(-1, 1)).abs().max() < 2 / 127.5 + 1e-6
    assert not np.array_equal(img[:, :16], img[:, 16:])


@pytest.mark.parametrize("args, message", [
    (["edit", "--method", "sefa", "--direction", "99"], "direction index"),
    (["edit", "--method", "ganspace"], "not computed yet"),
    (["edit", "--method", "ganspace", "--directions", "WRONG"], "holds sefa directions"),
    (["directions", "--method", "interfacegan", "--target", "hair_color"], "attribute=value"),
    (["directions", "--method", "sefa", "--rows", "0-40"], "rows must be in"),
])
def test_errors_are_one_line(gen, tmp_path, capsys, args, message):
    sefa = tmp_path / "sefa.safetensors"
    assert run(["directions", "--method", "sefa", "--model", gen, "--out", sefa], capsys)[0] == 0
    args = [sefa if a == "WRONG" else a for a in args]
    if args[0] == "edit" and "--directions" not in args and "--direction" in args:
        args += ["--directions", sefa]
    code, _, err = run([*args, "--model", gen, "--out", tmp_path / "x.out"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_parsing_imports_no_method_code():
    code = ("import sys; from linkgan.cli import _build_parser; "
            "_build_parser().parse_args(['directions', '--method', 'sefa', '--out', 'x']); "
            "print('linkgan.directions' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
