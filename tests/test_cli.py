"""Tests of the command line (linkgan/cli.py) and its helpers (linkgan/utils.py), on a tiny generator."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from linkgan import cli
from linkgan.data import toy_face
from linkgan.networks import Generator, GeneratorConfig
from linkgan.utils import make_grid, parse_seeds, to_uint8

TINY = GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)


@pytest.mark.parametrize("text, expected", [
    ("0-3", [0, 1, 2, 3]),
    ("5", [5]),
    ("0-2,7,10-11", [0, 1, 2, 7, 10, 11]),
    (" 1 , 3-4 ", [1, 3, 4]),
    ("4-4", [4]),
])
def test_parse_seeds_good(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "a", "1-", "-3", "3-1", "1,,2", "1.5", "0-x", "1-2-3"])
def test_parse_seeds_bad(text):
    with pytest.raises(ValueError, match="seed"):
        parse_seeds(text)


def test_to_uint8_and_grid():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 4).expand(5, 3, 2, 4)   # (N, 3, H, W)
    u = to_uint8(x)
    assert u.shape == (5, 2, 4, 3) and u.dtype == np.uint8
    assert u[0, 0, :, 0].tolist() == [0, 128, 255, 255]
    grid = make_grid(x, cols=2)                         # 5 images, 2 per row -> 3 rows
    assert grid.size == (2 * 4, 3 * 2)
    arr = np.asarray(grid)
    assert (arr[4:6, 4:8] == 0).all()                   # the empty sixth cell is black
    assert (arr[0:2, 4:8] == u[1]).all()
    assert make_grid(u).size == (3 * 4, 2 * 2)          # default: ceil(sqrt(5)) = 3 columns
    with pytest.raises(ValueError):
        make_grid(np.zeros((2, 4, 4), np.uint8))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Generator]:
    torch.manual_seed(0)
    G = Generator(TINY)
    with torch.no_grad():                               # a non-zero w_avg so that psi matters
        G.w_avg.normal_()
    folder = tmp_path_factory.mktemp("tiny_g")
    G.save_pretrained(folder)
    return folder, G.eval()


def test_sample_writes_generator_images(tiny_model, tmp_path):
    folder, G = tiny_model
    out = tmp_path / "new" / "dir" / "g.png"            # folders are created
    rc = cli.main(["sample", "--model", str(folder), "--seeds", "0-3", "--psi", "0.5", "--cols", "2",
                   "--batch-size", "3", "--out", str(out)])
    assert rc == 0 and out.is_file()
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (2 * 16, 2 * 16, 3)
    with torch.no_grad():
        z = G.z_from_seeds([0, 1, 2, 3])
        images = to_uint8(G.synthesize(G.map(z, psi=0.5), noise_mode="const"))
    for i in range(4):
        r, c = divmod(i, 2)
        assert np.array_equal(grid[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16], images[i]), f"seed {i}"
    assert len({images[i].tobytes() for i in range(4)}) == 4   # the seeds give different images


def test_sample_missing_model(tmp_path, capsys):
    missing = tmp_path / "no_such_model"
    rc = cli.main(["sample", "--model", str(missing), "--seeds", "0-3", "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error:") and "no_such_model" in err and "Traceback" not in err
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("argv", [
    ["sample", "--seeds", "3-1", "--out", "x.png"],
    ["dataset", "--seeds", "abc", "--out", "x.png"],
    ["nope"],
    [],
])
def test_bad_arguments_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = cli.main(["dataset", "--seeds", "0", "--size", "32", "--out", str(blocker / "faces.png")])
    assert rc == 2 and capsys.readouterr().err.startswith("error: cannot write")


@pytest.mark.parametrize("masks", [False, True])
def test_dataset_sheet(tmp_path, masks):
    out = tmp_path / "faces.png"
    argv = ["dataset", "--seeds", "0-2", "--size", "32", "--cols", "3", "--out", str(out)]
    assert cli.main(argv + (["--masks"] if masks else [])) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    cells = 6 if masks else 3
    assert grid.shape == (32, cells * 32, 3)
    step = 2 if masks else 1
    for k, seed in enumerate(range(3)):
        x0 = k * step * 32
        assert np.array_equal(grid[:, x0:x0 + 32], toy_face(seed, size=32).image)


def test_package_never_imports_the_faces():
    """STYLE habit 4: only cli.py / __main__.py may import argparse; no module imports gradio or training/."""
    root = Path(cli.__file__).resolve().parent
    bad = re.compile(r"^\s*(import\s+(argparse|gradio|training)\b|from\s+(argparse|gradio|training)\b"
                     r"|from\s+\.\.+\s*training\b|import\s+\w+\s*,\s*(argparse|gradio))", re.M)
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        hits = [m.group(0).strip() for m in bad.finditer(text)]
        if rel in ("cli.py", "__main__.py"):
            hits = [h for h in hits if "argparse" not in h]
        if hits:
            offenders.append(f"{rel}: {hits}")
    assert not offenders, offenders
    assert bad.search("import argparse\n") and bad.search("from training.train import x\n")


def _linked_tiny(tmp_path):
    from linkgan.train import TrainConfig, Trainer, replace_config
    from linkgan.networks import DiscriminatorConfig, GeneratorConfig
    cfg = TrainConfig(generator=GeneratorConfig(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channel_base=128,
                                                channel_max=8),
                      discriminator=DiscriminatorConfig(resolution=16, channel_base=128, channel_max=8))
    cfg = replace_config(cfg, {"run.out": f'"{tmp_path / "run"}"'})
    cfg.link.links = [{"name": "eyes", "axes": [0, 4], "box": [0.25, 0.33, 0.75, 0.58]},
                      {"name": "mouth", "axes": [4, 8], "box": [0.35, 0.6, 0.65, 0.77]}]
    return Trainer(cfg, log=lambda s: None).export(tmp_path / "linked")


def test_resample_writes_a_strip_that_starts_at_the_original(tmp_path):
    import numpy as np
    from PIL import Image
    from linkgan.cli import main
    from linkgan.links import generator_links, resample_strip
    from linkgan.networks import Generator
    folder = _linked_tiny(tmp_path)
    out = tmp_path / "strip.png"
    assert main(["resample", "--model", str(folder), "--link", "eyes", "--link", "mouth", "--seed", "3",
                 "--new-seed", "7", "--t", "0", "0.5", "1", "--out", str(out)]) == 0
    strip = np.asarray(Image.open(out))
    assert strip.shape == (16, 48, 3)
    G = Generator.from_pretrained(folder)
    links = generator_links(G)
    imgs = resample_strip(G, [links["eyes"]], seed=3, new_seed=7, ts=[0.0, 1.0])
    orig = G.synthesize(G.map(G.z_from_seeds([3]), psi=0.7), noise_mode="const")
    assert torch.allclose(imgs[:1], orig, atol=1e-5)          # batch size changes only the last bits
    assert (imgs[1:] - orig).abs().max() > 1e-3


def test_resample_rejects_unknown_link_and_bad_t(tmp_path, capsys):
    from linkgan.cli import main
    folder = _linked_tiny(tmp_path)
    assert main(["resample", "--model", str(folder), "--link", "nose", "--new-seed", "1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "no link(s) ['nose']" in capsys.readouterr().err
    assert main(["resample", "--model", str(folder), "--link", "eyes", "--new-seed", "1", "--t", "2",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_usage_names_the_command_as_it_was_invoked():
    import shutil
    import subprocess
    import sys

    script = shutil.which("linkgan") or str(Path(sys.executable).parent / "linkgan")
    for cmd, prog in (([sys.executable, "-m", "linkgan"], "python -m linkgan"), ([script], "linkgan")):
        out = subprocess.run([*cmd, "edit", "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith(f"usage: {prog} edit "), out.stdout[:80]
